"""Judging recordings offline, each frame analysed once: processor observations cached per recording.

The processor's output does not depend on the challenge, so one recording can be
judged against many challenges (the blind replays) for the cost of one analysis of
its frames. ``judge`` follows ``liveness.replay.replay_offline`` event for event: the
session starts with a signed token, every frame becomes an observation received at
its capture offset, and the client's end (or the silence after it) settles a session
the frames did not decide.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

from liveness.replay import ephemeral_keys
from processors.identity import IdentityStage
from processors.pipeline import process_frame
from producers.challenge_service import ChallengeService
from producers.recording import RecordedSession
from schemas.clock import now_ms
from schemas.codec import frame_headers
from schemas.events import (
    Challenge,
    Decision,
    FrameMeta,
    IdentityRequest,
    IdentitySample,
    Observation,
    SourceRef,
)
from schemas.tokens import TokenKeys
from verifier.in_process import InProcessVerifier
from verifier.session import Verifier
from verifier.settings import VerifierSettings


class Analyzer(Protocol):
    """What ``process_frame`` needs of the FaceMesh analyzer."""

    def analyse_jpeg(self, data: bytes) -> object: ...


@dataclass
class ObservedRecording:
    """A recording whose frames are analysed on first use and kept: every judgement shares them."""

    recording: RecordedSession
    analyzer: Analyzer
    identity: IdentityStage | None = None  # answers the verifier's identity requests, as deployed
    origin_ms: int = field(default_factory=now_ms)
    _observations: list[Observation | None] = field(default_factory=list)
    _samples: dict[int, IdentitySample] = field(default_factory=dict)

    @property
    def session_id(self) -> str:
        return self.recording.session_id

    def received_ms(self, index: int) -> int:
        frames = self.recording.frames
        return self.origin_ms + frames[index].captured_at_ms - frames[0].captured_at_ms

    def observation(self, index: int) -> Observation | None:
        """The observation of frame ``index`` (None when the processor made none)."""
        while len(self._observations) <= index:
            self._observations.append(self._observe(len(self._observations)))
        return self._observations[index]

    def sample(self, request: IdentityRequest) -> IdentitySample:
        """The identity stage's answer for one requested frame (embedded once, whatever the challenge)."""
        if request.seq not in self._samples:
            frame = next((f for f in self.recording.frames if f.seq == request.seq), None)
            if self.identity is None or frame is None:
                answer = IdentitySample(self.session_id, request.seq, (), "no identity stage")
            else:
                answer = self.identity.sample(request, frame.jpeg())
            self._samples[request.seq] = answer
        return replace(self._samples[request.seq], session_id=request.session_id)

    def _observe(self, index: int) -> Observation | None:
        frame = self.recording.frames[index]
        received_ms = self.received_ms(index)
        meta = FrameMeta(self.session_id, frame.seq, received_ms)
        source = SourceRef("offline", 0, frame.seq)
        result = process_frame(
            self.analyzer,  # type: ignore[arg-type]  # the Protocol is what process_frame uses
            frame.jpeg(),
            frame_headers(meta),
            received_ms,
            source,
            received_ms,
        )
        return result.observation


@dataclass(frozen=True)
class Judgement:
    """A decision and when, on the server's clock, the first framed frame arrived (None: never framed)."""

    decision: Decision
    challenge: Challenge
    framed_at_ms: int | None

    @property
    def seconds_from_framing(self) -> float | None:
        """From the first framed frame to the decision: what the person spent on the challenge."""
        if self.framed_at_ms is None:
            return None
        return (self.decision.decided_at_ms - self.framed_at_ms) / 1000


def judge(
    observed: ObservedRecording,
    settings: VerifierSettings,
    challenge: Challenge | None = None,
    keys: TokenKeys | None = None,
) -> Judgement:
    """The decision on ``observed`` against ``challenge``, or one the product's challenge service draws.

    Without ``challenge``, ``producers.challenge_service.ChallengeService`` draws it from
    its cryptographic source, as it does for every session a client opens.
    """
    keys = keys or ephemeral_keys()
    core = InProcessVerifier(Verifier(settings, keys), observed.sample)
    origin_ms = observed.origin_ms
    started = ChallengeService(keys).start(origin_ms, challenge=challenge, session_id=observed.session_id)
    outcome = core.apply(None, started, origin_ms)
    frames = observed.recording.frames
    received_ms = origin_ms
    framed_at_ms: int | None = None
    for index in range(len(frames)):
        if outcome.decision:
            break
        received_ms = observed.received_ms(index)
        obs = observed.observation(index)
        if obs is not None:
            outcome = core.apply(outcome.session, obs, received_ms)
            framed_at_ms = framed_at_ms or outcome.session.reference_ms or None
    last_seq = frames[-1].seq if frames else 0
    return Judgement(core.finish(outcome, last_seq, received_ms), started.challenge, framed_at_ms)


def judge_own(observed: ObservedRecording, settings: VerifierSettings) -> Judgement:
    """The decision on the recording against the challenge it was recorded for."""
    return judge(observed, settings, challenge=observed.recording.challenge)
