"""Thresholds and limits of the verifier, in one frozen record passed inward from the CLI."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class VerifierSettings:
    """Every number a decision depends on. Defaults are documented in the README with their origin."""

    # Framing (the AWS sample's geometry; fill is the successor framework's 20%).
    min_face_fill: float = 0.20
    area_tolerance: float = 0.05  # the face may leave the area box by 5% per side once framed
    nose_tolerance: float = 0.35  # the sample widened the nose box by 55% per side
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
    # Final checks of the nose and turn challenges, set on the measured corpus (README,
    # "Thresholds"): with the 45-90 px targets and the 3-frame rest, genuine heads turned
    # 5.8-29 deg (FaceMesh degrees) and printed photos tilted in perspective at most 5.5
    # (6.6 in an earlier corpus); flat pictures leave a homography residual up to 0.0131,
    # genuine turns from 0.0115.
    max_trajectory_rms: float = 0.05  # normalised coordinates; real head paths reach 0.034
    min_rotation_deg: float = 7.0
    wrong_direction_deg: float = 8.0
    min_turn_deg: float = 15.0
    min_nonplanarity: float = 0.011  # homography residual over face size
    # Continuity: how far the nose and the face may move between consecutive frames.
    max_nose_jump: float = 0.30  # in face widths per frame step
    # A change of proportions between frames that does not undo itself (a splice of two faces).
    # Measured: photo-warp genuine <= 0.018, real video genuine <= 0.031 (FaceMesh noise on
    # 400x300 video), splices of two people 0.022-0.066: the overlap is stated in the README.
    max_shape_jump: float = 0.045
    max_scale_jump: float = 0.12  # relative change of face width per frame step; genuine <= 0.051
    # Identity continuity (verifier/identity.py): the embeddings of the first framed frame and of
    # each milestone, held against the earliest. Measured (dlib ResNet, L2-normalised): one person
    # across head turns 0.13-0.32 within a session, two different people from 0.38 (look-alike
    # pairs of the pinned media); README "The challenge and its checks" has the margins.
    max_identity_distance: float = 0.36
    # Embed the rest of every target (True), or only the first framed frame and the final rest.
    # Each embedding costs ~80-110 ms of CPU, about 12 FaceMesh frames (README, "Benchmarks").
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
