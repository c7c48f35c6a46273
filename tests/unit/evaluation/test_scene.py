"""Scene geometry: the printed card's homography, the frame clock, easing."""

from __future__ import annotations

import numpy as np
import pytest

from evaluation.scene import apply_homography, card_homography, ease, frame_times, smooth_noise

PIVOT = (320.0, 240.0)


def test_card_homography_no_motion_is_identity() -> None:
    assert np.allclose(card_homography(PIVOT), np.eye(3), atol=1e-9)


def test_card_homography_shift_moves_pivot_by_shift() -> None:
    moved = apply_homography(card_homography(PIVOT, shift=(30, -10)), PIVOT)

    assert moved == pytest.approx((350, 230))


def test_card_homography_positive_tilt_foreshortens_plus_x_side() -> None:
    transform = card_homography(PIVOT, tilt_deg=30)

    def height_at(x: float) -> float:
        return apply_homography(transform, (x, 340))[1] - apply_homography(transform, (x, 140))[1]

    assert height_at(420) < 200 < height_at(220)
    assert apply_homography(transform, PIVOT) == pytest.approx(PIVOT)


def test_card_homography_roll_turns_about_pivot() -> None:
    transform = card_homography(PIVOT, roll_deg=90)

    assert apply_homography(transform, (420, 240)) == pytest.approx((320, 340), abs=1e-6)


def test_frame_times_about_ten_fps_increasing() -> None:
    times = frame_times(np.random.default_rng(0), 50, 1000)

    steps = np.diff(times)
    assert times[0] == 1000
    assert steps.min() >= 85
    assert steps.max() <= 115


@pytest.mark.parametrize(("progress", "eased"), [(-1.0, 0.0), (0.0, 0.0), (0.5, 0.5), (1.0, 1.0), (2.0, 1.0)])
def test_ease_clamps_and_is_symmetric(progress: float, eased: float) -> None:
    assert ease(progress) == pytest.approx(eased)


def test_smooth_noise_has_requested_amplitude_and_is_slow() -> None:
    noise = smooth_noise(np.random.default_rng(1), 200, 0.5)

    assert noise.std() == pytest.approx(0.5)
    assert np.abs(np.diff(noise)).mean() < 0.5 * np.abs(noise).mean()
