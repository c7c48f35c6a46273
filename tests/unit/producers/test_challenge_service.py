"""The challenge service: the server alone draws the type and the target, signs them and sets the expiry."""

from __future__ import annotations

import inspect
import math
import random

import pytest

from producers.challenge_service import ChallengePolicy, ChallengeService, parse_weights
from schemas.events import Box, Challenge
from schemas.tokens import TokenError, TokenKeys, verify_token
from verifier.challenges import area_box
from verifier.challenges.nose import OFFSET_X_PX, OFFSET_Y_PX

KEYS = TokenKeys(b"challenge-service-secret-32bytes")
NOW_MS = 1_700_000_000_000
DRAWS = 1500


def _service(**weights: float) -> ChallengeService:
    return ChallengeService(KEYS, ChallengePolicy(weights=weights or {"nose": 1.0}))


def _offsets(challenge: Challenge) -> tuple[float, float]:
    """The nose target's centre relative to the image centre, in pixels of a 640x480 frame."""
    assert challenge.nose is not None
    x, y = challenge.nose.centre
    sx, sy = challenge.image_width / 640, challenge.image_height / 480
    return (x - challenge.image_width / 2) / sx, (y - challenge.image_height / 2) / sy


# ---- the nose target: continuous, inside the sample's geometry, scaled ------------------------


@pytest.mark.parametrize("size", [(640, 480), (1280, 720), (320, 240), (480, 640)], ids=str)
def test_draw_nose_targets_within_offsets_scaled_to_frame(size: tuple[int, int]) -> None:
    width, height = size
    service = _service(nose=1)

    challenges = [service.draw(width, height) for _ in range(DRAWS)]

    offsets = [_offsets(challenge) for challenge in challenges]
    assert all(OFFSET_X_PX[0] - 1e-9 <= abs(dx) <= OFFSET_X_PX[1] + 1e-9 for dx, _ in offsets)
    assert all(abs(dy) <= OFFSET_Y_PX[1] + 1e-9 for _, dy in offsets)
    for challenge in challenges:
        assert challenge.nose is not None
        assert (challenge.nose.width, challenge.nose.height) == pytest.approx(
            (20 * width / 640, 20 * height / 480)
        )
        assert (challenge.image_width, challenge.image_height) == size
        assert challenge.area == area_box(width, height)
        assert challenge.area.contains_box(challenge.nose)


def test_draw_nose_targets_spread_over_a_continuous_range() -> None:
    service = _service(nose=1)

    offsets = [_offsets(service.draw()) for _ in range(DRAWS)]

    xs, ys = [dx for dx, _ in offsets], [dy for _, dy in offsets]
    assert len({round(dx, 6) for dx in xs}) > 0.99 * DRAWS  # not a handful of fixed targets
    assert len({round(dy, 6) for dy in ys}) > 0.99 * DRAWS
    assert sum(not float(dx).is_integer() for dx in xs) > 0.99 * DRAWS
    low, high = OFFSET_X_PX
    assert min(map(abs, xs)) < low + 2 and max(map(abs, xs)) > high - 2  # the whole range is used
    assert min(map(abs, ys)) < 2 and max(map(abs, ys)) > OFFSET_Y_PX[1] - 2
    assert 0.4 < sum(dx > 0 for dx in xs) / DRAWS < 0.6  # both sides, about equally
    assert 0.4 < sum(dy > 0 for dy in ys) / DRAWS < 0.6


def test_draw_nose_target_of_sample_frame_inside_sample_area_box() -> None:
    challenge = _service(nose=1).draw()

    assert challenge.area == Box(185, 60, 270, 360)
    assert challenge.type == "nose"


# ---- the type: by the server's weights --------------------------------------------------------


@pytest.mark.parametrize(
    ("weights", "types"),
    [
        ({"turn": 1.0}, {"turn"}),
        ({"blink": 5.0}, {"blink"}),
        ({"nose": 1.0, "turn": 0.0}, {"nose"}),
        ({"nose": 1.0, "turn": 1.0, "blink": 1.0}, {"nose", "turn", "blink"}),
    ],
    ids=["turn-only", "blink-only", "zero-weight-never", "all-three"],
)
def test_draw_types_follow_weights(weights: dict[str, float], types: set[str]) -> None:
    service = _service(**weights)

    drawn = {service.draw().type for _ in range(300)}

    assert drawn == types


def test_draw_type_frequencies_follow_weight_ratio() -> None:
    service = _service(nose=3.0, turn=1.0)

    drawn = [service.draw().type for _ in range(2000)]

    assert 0.70 < drawn.count("nose") / len(drawn) < 0.80


def test_draw_turn_sequence_visits_both_sides_in_random_order() -> None:
    service = _service(turn=1)

    sequences = {service.draw().sequence for _ in range(200)}

    assert sequences == {("left", "right"), ("right", "left")}


def test_draw_blink_count_is_one_or_two() -> None:
    service = _service(blink=1)

    counts = {service.draw().blinks for _ in range(200)}

    assert counts == {1, 2}


@pytest.mark.parametrize(
    "weights",
    [{"smile": 1.0}, {"nose": 1.0, "NOSE": 1.0}, {"": 1.0}],
    ids=["unknown", "wrong-case", "empty-name"],
)
def test_challenge_policy_unknown_type_rejected(weights: dict[str, float]) -> None:
    with pytest.raises(KeyError, match="unknown challenge type"):
        ChallengePolicy(weights=weights)


@pytest.mark.parametrize(
    "weights",
    [{}, {"nose": 0.0}, {"nose": -1.0, "turn": 2.0}, {"nose": math.nan}, {"nose": math.inf}],
    ids=["none", "all-zero", "negative", "nan", "infinite"],
)
def test_challenge_policy_bad_weights_raise_value_error(weights: dict[str, float]) -> None:
    with pytest.raises(ValueError, match="weights"):
        ChallengePolicy(weights=weights)


@pytest.mark.parametrize(
    ("text", "weights"),
    [
        ("nose=3,turn=1", {"nose": 3.0, "turn": 1.0}),
        (" nose = 2 , blink ", {"nose": 2.0, "blink": 1.0}),
        ("turn", {"turn": 1.0}),
        ("", {}),
    ],
)
def test_parse_weights_reads_environment_format(text: str, weights: dict[str, float]) -> None:
    assert parse_weights(text) == weights


def test_parse_weights_unknown_type_rejected_by_policy() -> None:
    with pytest.raises(KeyError):
        ChallengePolicy(weights=parse_weights("nose=3,smile=1"))


# ---- the session start: expiry and token -------------------------------------------------------


@pytest.mark.parametrize("start_within_s", [180.0, 30.0, 0.5])
def test_start_expiry_is_now_plus_start_within(start_within_s: float) -> None:
    policy = ChallengePolicy(start_within_s=start_within_s)

    started = ChallengeService(KEYS, policy).start(NOW_MS)

    assert started.issued_at_ms == NOW_MS
    assert started.expires_at_ms == NOW_MS + round(start_within_s * 1000)


def test_start_token_binds_session_challenge_and_expiry() -> None:
    started = _service(nose=1).start(NOW_MS)

    expiry = verify_token(KEYS, started.token, started.session_id, started.challenge, NOW_MS)

    assert expiry == started.expires_at_ms
    with pytest.raises(TokenError):
        verify_token(KEYS, started.token, started.session_id, started.challenge, started.expires_at_ms + 1)


def test_start_session_ids_are_fresh() -> None:
    service = _service(nose=1)

    ids = {service.start(NOW_MS).session_id for _ in range(200)}

    assert len(ids) == 200
    assert all(len(session_id) == 32 for session_id in ids)


def test_start_draws_with_policy_frame_size() -> None:
    policy = ChallengePolicy(weights={"nose": 1.0}, image_width=1280, image_height=720)

    challenge = ChallengeService(KEYS, policy).start(NOW_MS).challenge

    assert (challenge.image_width, challenge.image_height) == (1280, 720)


# ---- the client has no say ------------------------------------------------------------------------


def test_start_client_seeded_random_does_not_repeat_targets() -> None:
    service = _service(nose=1)

    random.seed(1234)
    first = service.start(NOW_MS).challenge
    random.seed(1234)
    second = service.start(NOW_MS).challenge

    assert first.nose != second.nose  # drawn from the system's random source, not a seedable one


def test_start_client_swapping_in_an_easier_challenge_fails_its_token() -> None:
    started = _service(turn=1, nose=1, blink=1).start(NOW_MS)
    easier = Challenge("blink", 640, 480, started.challenge.area, blinks=1)
    if started.challenge == easier:
        easier = Challenge("blink", 640, 480, started.challenge.area, blinks=2)

    with pytest.raises(TokenError, match="challenge"):
        verify_token(KEYS, started.token, started.session_id, easier, NOW_MS)


def test_start_signature_takes_no_client_choice() -> None:
    # Only the clock, a trusted pre-drawn challenge (replay) and a session id reach start():
    # nothing selects a type, a side or a target.
    parameters = set(inspect.signature(ChallengeService.start).parameters) - {"self"}
    draw_parameters = set(inspect.signature(ChallengeService.draw).parameters) - {"self"}

    assert parameters == {"now_ms", "challenge", "session_id"}
    assert draw_parameters == {"image_width", "image_height"}


# ---- the default: a nose sequence ---------------------------------------------------------------


def test_default_policy_draws_a_signed_nose_sequence_of_three_targets() -> None:
    service = ChallengeService(KEYS)
    started = service.start(NOW_MS)

    assert started.challenge.type == "nose_sequence"
    assert len(started.challenge.targets) == 3
    assert (
        verify_token(KEYS, started.token, started.session_id, started.challenge, NOW_MS)
        == started.expires_at_ms
    )


def test_default_policy_targets_never_repeat_across_sessions() -> None:
    service = ChallengeService(KEYS)
    drawn = {service.draw().targets for _ in range(200)}

    assert len(drawn) == 200
