"""APCER/BPCER arithmetic on a hand-made table of results, and the report built from it."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from evaluation.metrics import (
    SessionResult,
    alone_rejected,
    bpcer,
    check_values,
    distribution,
    reasons_by_species,
    species_rates,
    wilson_interval,
    worst_apcer,
)
from evaluation.report import format_rates, margins
from verifier.settings import VerifierSettings


def result(
    species: str, genuine: bool, outcome: str, reason: str, checks: Mapping[str, float | None] | None = None
) -> SessionResult:
    return SessionResult(
        session_id=f"{species}-{reason}-{outcome}",
        species=species,
        genuine=genuine,
        person="p",
        outcome=outcome,
        reason=reason,
        checks=dict(checks or {}),
    )


# 10 genuine (1 rejected), 4 tilted photos (1 accepted), 5 replays (0 accepted).
TABLE = [
    *[result("genuine", True, "pass", "PASSED", {"rotation_toward_target_deg": 10.0 + i}) for i in range(9)],
    result("genuine", True, "fail", "NO_ROTATION", {"rotation_toward_target_deg": 6.0}),
    *[
        result("photo_tilted", False, "fail", "NO_ROTATION", {"rotation_toward_target_deg": 1.0})
        for _ in range(3)
    ],
    result("photo_tilted", False, "pass", "PASSED", {"rotation_toward_target_deg": 9.0}),
    *[
        result("replay", False, "fail", "WRONG_DIRECTION", {"rotation_toward_target_deg": None})
        for _ in range(5)
    ],
]


def test_species_rates_hand_made_table_counts_errors_per_species() -> None:
    rates = {rate.species: rate for rate in species_rates(TABLE)}

    assert (rates["genuine"].metric, rates["genuine"].errors, rates["genuine"].sessions) == ("BPCER", 1, 10)
    assert rates["genuine"].rate == pytest.approx(0.10)
    assert (rates["photo_tilted"].metric, rates["photo_tilted"].errors, rates["photo_tilted"].sessions) == (
        "APCER",
        1,
        4,
    )
    assert rates["photo_tilted"].rate == pytest.approx(0.25)
    assert rates["replay"].rate == 0.0


def test_species_rates_genuine_species_listed_first() -> None:
    order = [rate.species for rate in species_rates(list(reversed(TABLE)))]

    assert order[0] == "genuine"


def test_bpcer_all_genuine_sessions_together() -> None:
    overall = bpcer(TABLE)

    assert (overall.errors, overall.sessions) == (1, 10)


def test_worst_apcer_is_the_highest_attack_rate() -> None:
    worst = worst_apcer(species_rates(TABLE))

    assert worst is not None
    assert worst.species == "photo_tilted"


def test_worst_apcer_no_attacks_is_none() -> None:
    assert worst_apcer(species_rates(TABLE[:10])) is None


def test_reasons_by_species_counts_codes() -> None:
    reasons = reasons_by_species(TABLE)

    assert reasons["genuine"] == {"PASSED": 9, "NO_ROTATION": 1}
    assert reasons["replay"] == {"WRONG_DIRECTION": 5}


def test_check_values_skips_unmeasured_checks() -> None:
    values = check_values(TABLE, "rotation_toward_target_deg")

    assert "replay" not in values
    assert len(values["genuine"]) == 10


def test_distribution_min_median_max() -> None:
    d = distribution([3.0, 1.0, 2.0, 10.0])

    assert (d.count, d.minimum, d.median, d.maximum) == (4, 1.0, 2.5, 10.0)


def test_margins_hand_made_table_measures_both_sides_of_the_threshold() -> None:
    rotation = margins(TABLE, VerifierSettings(min_rotation_deg=8.0))["rotation_toward_target_deg"]

    assert rotation["genuine_worst"] == 6.0  # the lowest genuine rotation
    assert rotation["margin_genuine"] == pytest.approx(-2.0)  # negative: a genuine session fails
    assert rotation["attacks"]["photo_tilted"]["best"] == 9.0  # the highest rotation of a tilted photo
    assert rotation["attacks"]["photo_tilted"]["margin"] == pytest.approx(-1.0)  # negative: it passes
    assert "replay" not in rotation["attacks"]  # never measured


def test_format_rates_hand_made_table_prints_rates_with_counts() -> None:
    table = format_rates(TABLE)

    assert (
        "| genuine | bona fide | 10 | BPCER | 10.0% (1/10; 95% CI 1.8–40.4%) | PASSED 9, NO_ROTATION 1 |"
        in table
    )
    assert "| photo_tilted | attack | 4 | APCER | 25.0% (1/4; 95% CI 4.6–69.9%) |" in table
    assert "worst attack: photo_tilted" in table


def test_session_result_round_trips_through_dict() -> None:
    original = TABLE[-1]

    assert SessionResult.from_dict(original.to_dict()) == original


@pytest.mark.parametrize(
    ("errors", "sessions", "low", "high"),
    [(0, 20, 0.0, 0.1611), (0, 600, 0.0, 0.0064), (1, 10, 0.0179, 0.4042), (3, 600, 0.0017, 0.0146)],
)
def test_wilson_interval_known_values(errors: int, sessions: int, low: float, high: float) -> None:
    assert wilson_interval(errors, sessions) == pytest.approx((low, high), abs=1e-4)


def test_alone_rejected_counts_attacks_failing_one_threshold_only() -> None:
    def failing(species: str, *failed: str, reached: float = 3.0) -> SessionResult:
        return SessionResult(
            f"{species}-{len(failed)}",
            species,
            False,
            "p",
            "fail",
            "X",
            {"targets_reached": reached},
            failed=failed,
        )

    results = [
        failing(
            "photo_tilted", "rotation_toward_target_deg", "targets_reached"
        ),  # progress is not a threshold
        failing(
            "photo_tilted", "rotation_toward_target_deg", "nonplanarity"
        ),  # two thresholds: neither alone
        failing(
            "turn_away", "rotation_away_deg", "nonplanarity", reached=0.0
        ),  # no rest: planarity unmeasured
    ]

    assert alone_rejected(results) == {
        "rotation_toward_target_deg": {"photo_tilted": 1},
        "rotation_away_deg": {"turn_away": 1},
    }
