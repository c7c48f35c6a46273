"""What-if: the corpus judged at any frame the verifier could judge, not only at the first one.

The verifier runs its final checks on the first frame where the nose has rested in
the widened target for ``target_hold_frames`` frames, and decides there. A person is
often still turning at that moment, so the rotation and non-planarity it measures are
a fraction of what the same person shows a few frames later. This module follows
every frame (the real processor and verifier, told to judge no rest) and measures
the checks on each frame the verifier could judge, to price a verifier that passes
on the first frame where both checks pass, before the timeout.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import cast

from evaluation.diagnostics import TappedAnalyzer
from evaluation.metrics import SessionResult
from liveness.replay import replay_offline
from processors.landmarks import FaceAnalyzer, FrameAnalysis
from producers.recording import RecordedSession
from schemas.events import Challenge, Face
from verifier.checks import nonplanarity, rotation_toward
from verifier.framing import Framing
from verifier.settings import VerifierSettings

# The verifier made its final checks (pass or fail on them): the what-if may change these.
REACHED_TARGET = ("PASSED", "NO_ROTATION", "PLANAR_MOTION")
ROTATION_GRID_DEG = (3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0)
NONPLANARITY_GRID = (0.008, 0.010, 0.012, 0.014, 0.016, 0.018, 0.020)


@dataclass(frozen=True)
class TargetFrame:
    """The final checks as they would read on one frame with the nose in the target."""

    rotation_deg: float
    nonplanarity: float
    elapsed_s: float


@dataclass(frozen=True)
class Policy:
    """Thresholds, and whether the decision waits for the best frame or takes the first."""

    min_rotation_deg: float
    min_nonplanarity: float
    best_frame: bool

    def passes(self, frames: Sequence[TargetFrame]) -> bool:
        considered = frames if self.best_frame else frames[:1]
        return any(
            f.rotation_deg >= self.min_rotation_deg and f.nonplanarity >= self.min_nonplanarity
            for f in considered
        )


def follow_settings(settings: VerifierSettings) -> VerifierSettings:
    """The settings with no rest ever judged, so the verifier follows every frame to the timeout."""
    return replace(settings, judge_rests=False)


def target_frames(
    challenge: Challenge,
    times_ms: Sequence[int],
    analyses: Sequence[FrameAnalysis | None],
    settings: VerifierSettings,
) -> list[TargetFrame]:
    """Every frame after the framed reference, before the timeout, on which the verifier could judge:
    its one nose in the widened target for ``target_hold_frames`` frames in a row, this one included."""
    assert challenge.nose is not None
    framing = Framing.of(challenge, settings)
    faces = [_one_face(a, challenge) for a in analyses]
    start = next(
        (i for i, face in enumerate(faces) if face is not None and framing.problem(face.box) is None), None
    )
    if start is None:
        return []
    reference = faces[start]
    assert reference is not None
    side = 1.0 if challenge.nose.centre[0] >= challenge.image_width / 2 else -1.0
    frames, held = [], 0
    for face, time_ms in zip(faces[start + 1 :], times_ms[start + 1 :], strict=False):
        elapsed_s = (time_ms - times_ms[start]) / 1000
        if face is None or elapsed_s > settings.challenge_timeout_s:
            continue  # the verifier skips a frame without one face; it does not end a rest
        held = held + 1 if framing.in_target(challenge.nose, face.nose) else 0
        if not framing.rested(held):
            continue
        rotation = rotation_toward(reference, face, (side, 0.0))
        frames.append(TargetFrame(rotation, nonplanarity(reference, face), elapsed_s))
    return frames


def _one_face(analysis: FrameAnalysis | None, challenge: Challenge) -> Face | None:
    if analysis is None or len(analysis.faces) != 1:
        return None
    if (analysis.image_width, analysis.image_height) != (challenge.image_width, challenge.image_height):
        raise ValueError("the what-if expects frames at the challenge's declared size")
    return analysis.faces[0]


def follow(
    recording: RecordedSession, analyzer: FaceAnalyzer, settings: VerifierSettings
) -> list[TargetFrame]:
    """The frames in the target of one session, through the real processor and verifier core."""
    tap = TappedAnalyzer(analyzer)
    replay_offline(recording, cast(FaceAnalyzer, tap), follow_settings(settings))
    times = [frame.captured_at_ms for frame in recording.frames[: len(tap.analyses)]]
    return target_frames(recording.challenge, times, tap.analyses, settings)


def follow_corpus(
    sessions: Iterable[RecordedSession], results: Sequence[SessionResult], settings: VerifierSettings
) -> dict[str, list[TargetFrame]]:
    """Target frames of the sessions whose real decision came from the final checks (the others stand).

    Single-target ``nose`` sessions only: the what-if prices judging the best frame of the
    rest, which the verifier now does, and which the nose sequence was built with.
    """
    reached = {r.session_id for r in results if r.reason in REACHED_TARGET}
    chosen = [s for s in sessions if s.session_id in reached and s.challenge.type == "nose"]
    with FaceAnalyzer() as analyzer:
        return {s.session_id: follow(s, analyzer, settings) for s in chosen}


@dataclass(frozen=True)
class PolicyOutcome:
    policy: Policy
    genuine_errors: int
    genuine_sessions: int
    accepted_attacks: dict[str, int]

    @property
    def bpcer(self) -> float:
        return self.genuine_errors / self.genuine_sessions if self.genuine_sessions else 0.0


def judge(
    policy: Policy, results: Sequence[SessionResult], frames: dict[str, list[TargetFrame]]
) -> PolicyOutcome:
    """Decisions under ``policy``: sessions that never reached the final checks keep their real outcome."""
    errors, accepted = 0, dict.fromkeys((r.species for r in results if not r.genuine), 0)
    genuine = 0
    for result in results:
        passed = policy.passes(frames[result.session_id]) if result.session_id in frames else result.accepted
        if result.genuine:
            genuine += 1
            errors += not passed
        elif passed:
            accepted[result.species] += 1
    return PolicyOutcome(policy, errors, genuine, accepted)


def grid(results: Sequence[SessionResult], frames: dict[str, list[TargetFrame]]) -> list[PolicyOutcome]:
    return [
        judge(Policy(rotation, planarity, best), results, frames)
        for best in (False, True)
        for rotation in ROTATION_GRID_DEG
        for planarity in NONPLANARITY_GRID
    ]


def best_values(
    frames: dict[str, list[TargetFrame]], results: Sequence[SessionResult]
) -> dict[str, dict[str, float]]:
    """Per species, the worst case of each session's best in-target rotation and non-planarity.

    The lowest over genuine sessions, the highest over attacks: the two edges of the gap.
    """
    out: dict[str, dict[str, float]] = {}
    for result in results:
        measured = frames.get(result.session_id)
        if not measured:
            continue
        rotation = max(f.rotation_deg for f in measured)
        planarity = max(f.nonplanarity for f in measured)
        pick = min if result.genuine else max
        entry = out.setdefault(result.species, {"rotation_deg": rotation, "nonplanarity": planarity, "n": 0})
        entry["rotation_deg"] = pick(entry["rotation_deg"], rotation)
        entry["nonplanarity"] = pick(entry["nonplanarity"], planarity)
        entry["n"] += 1
    return out


def format_grid(outcomes: Sequence[PolicyOutcome]) -> str:
    """The policies with no attack accepted, best BPCER first, for each way of deciding."""
    lines = [
        "| decide at | min rotation | min nonplanarity | BPCER | attacks accepted |",
        "|---|---|---|---|---|",
    ]
    for best in (False, True):
        rows = sorted((o for o in outcomes if o.policy.best_frame == best), key=_rank)[:6]
        for o in rows:
            accepted = ", ".join(f"{s} {n}" for s, n in o.accepted_attacks.items() if n) or "none"
            bpcer = f"{100 * o.bpcer:.1f}% ({o.genuine_errors}/{o.genuine_sessions})"
            lines.append(
                f"| {'best frame' if best else 'first frame'} | {o.policy.min_rotation_deg:g} "
                f"| {o.policy.min_nonplanarity:g} | {bpcer} | {accepted} |"
            )
    return "\n".join(lines)


# Species whose acceptances no threshold on these two checks can prevent (see docs/evaluation.md).
NOT_ABOUT_THESE_CHECKS = ("replay_blind", "spliced")


def _rank(outcome: PolicyOutcome) -> tuple[int, int, float, float]:
    """Fewest attacks accepted (of the species these checks are meant for), then BPCER, then the strictest."""
    accepted = sum(n for s, n in outcome.accepted_attacks.items() if s not in NOT_ABOUT_THESE_CHECKS)
    policy = outcome.policy
    return (accepted, outcome.genuine_errors, -policy.min_rotation_deg, -policy.min_nonplanarity)


def summary_rows(outcomes: Sequence[PolicyOutcome]) -> list[dict[str, object]]:
    return [
        {
            "best_frame": o.policy.best_frame,
            "min_rotation_deg": o.policy.min_rotation_deg,
            "min_nonplanarity": o.policy.min_nonplanarity,
            "bpcer": round(o.bpcer, 4),
            "genuine_errors": o.genuine_errors,
            "genuine_sessions": o.genuine_sessions,
            "accepted_attacks": o.accepted_attacks,
        }
        for o in outcomes
    ]
