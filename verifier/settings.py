"""Thresholds and limits of the verifier, in one frozen record passed inward from the CLI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VerifierSettings:
    """Every number a decision depends on. Defaults are documented in the README with their origin."""

    # Framing (the AWS sample's geometry; fill is the successor framework's 20%).
    min_face_fill: float = 0.20
    area_tolerance: float = 0.05  # the face may leave the area box by 5% per side once framed
    # The nose box widened by 35% per side; the sample widened it by 55%. A wider box lets a replayed
    # recording meet a fresh challenge more often (python -m evaluation.entropy; README, "Why three targets").
    nose_tolerance: float = 0.35
    target_hold_frames: int = 3  # consecutive frames the nose rests in the widened box (~0.3 s)
    # False: a rest is never complete, so a nose challenge runs to its timeout (verifier/framing.py).
    judge_rests: bool = True
    area_timeout_s: float = 10.0
    challenge_timeout_s: float = 10.0
    # Nose sequence: each target gets this long on average (the whole challenge: steps x this).
    # Genuine people take 1-2 s a step; a generous limit costs nothing, since time does not
    # help a replay meet targets it cannot see.
    sequence_step_timeout_s: float = 6.0
    # Frames without a face are forgiven up to these counts (detection misses on motion blur).
    max_missed_faces: int = 5
    max_consecutive_missed_faces: int = 3
    # Final checks of the nose, nose-sequence and turn challenges, tuned on one generated corpus
    # and held to a fresh one (docs/evaluation.md, "Thresholds", and docs/evaluation/table.md).
    # Rotation is the tight one: the weakest genuine step turned 6.46-6.50 deg (FaceMesh degrees),
    # the best print tilted in perspective 6.41: lowering 7 trades genuine rejections for prints
    # one for one.
    # Genuine heads turn away at most 2.6 deg. Non-planarity: genuine >= 0.020, flat prints
    # <= 0.0066 (tilted prints read as 3D and fail on rotation first).
    max_trajectory_rms: float = 0.05  # normalised coordinates; the single-target challenge only
    min_rotation_deg: float = 7.0
    wrong_direction_deg: float = 8.0
    min_turn_deg: float = 15.0
    min_nonplanarity: float = 0.011  # homography residual over face size
    # Continuity: how far the nose and the face may move between consecutive frames.
    max_nose_jump: float = 0.30  # in face widths per frame step
    # A change of proportions between frames that does not undo itself (a splice of two faces).
    # Genuine sessions reach 0.036 (a 30-60 deg swing from side to side changes FaceMesh's
    # proportions fast); swaps cut before an embedded frame jump 0.046-0.067, and identity
    # continuity catches the rest (docs/evaluation.md).
    max_shape_jump: float = 0.045
    # Relative change of face width per frame step: genuine <= 0.074, splices of the same person
    # re-framed >= 0.19 (docs/evaluation.md).
    max_scale_jump: float = 0.12
    # Identity continuity (verifier/identity.py): the embeddings of the first framed frame and of
    # each milestone, held against the earliest. Measured (dlib ResNet, L2-normalised): genuine
    # sessions <= 0.316, swaps once a frame after the cut is embedded >= 0.418 (look-alike pairs
    # of the pinned media 0.42-0.61); docs/evaluation.md has the margins.
    max_identity_distance: float = 0.36
    # Embed the rest of every target (True), or only the first framed frame and the final rest.
    # Each embedding costs ~17 ms of CPU, about 4 FaceMesh frames (identity row of
    # docs/benchmarks/full-run-8/table.md).
    identity_every_step: bool = True
    identity_wait_s: float = 10.0  # how long a met challenge waits for its samples before failing
    identity_required: bool = True  # a pass needs the samples; off only for landmark-only tests
    # Blink challenge.
    blink_closed_ratio: float = 0.60  # eyes closed below this share of the open eye-aspect-ratio
    blink_open_ratio: float = 0.85
    # Clocks: the client's capture times may not drift from the server's receive times.
    max_clock_offset_ms: int = 120_000
    max_clock_drift_ms: int = 2_000
    # Sequence handling.
    reorder_window: int = 6
    max_missing_frames: int = 8
    # Limits.
    max_frames: int = 300
    max_session_s: float = 30.0
    idle_timeout_s: float = 15.0  # silence after which an unfinished session is settled
    # Once the client has ended, every frame it sent is in the broker: silence then means the
    # processors are behind (a crash is noticed after their session timeout, a flood drains),
    # not that the client stopped, so the verifier waits this long for the missing frames.
    ended_wait_s: float = 120.0
