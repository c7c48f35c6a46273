"""ISO/IEC 30107-3 arithmetic on session results: APCER per attack species, BPCER, distributions.

APCER of a presentation attack instrument species is the share of its attack
sessions that were accepted; BPCER the share of bona fide (genuine) sessions that
were rejected. Both come with their counts, since a rate of 0 of 20 is not 0 of 2000.
"""

from __future__ import annotations

import math
import statistics
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

KEY_CHECKS = (
    "rotation_toward_target_deg",
    "rotation_away_deg",
    "nonplanarity",
    "max_nose_jump",
    "trajectory_rms",
    "max_scale_jump",
    "max_shape_jump",
    "identity_distance",
)
# Measured by the evaluation on the frames the verifier used, not by the verifier: the
# shape jump of the skull's landmarks only (2D, and 3D with FaceMesh's depth), and the 3D
# shape change from the first face to the last.
DIAGNOSTICS = ("rigid_shape_jump_2d", "rigid_shape_jump_3d", "shape_drift_3d")


@dataclass(frozen=True)
class SessionResult:
    """One session's label and the decision the verifier made on it."""

    session_id: str
    species: str
    genuine: bool
    person: str
    outcome: str
    reason: str
    checks: Mapping[str, float | None]
    source: str = ""
    seconds: float = 0.0
    diagnostics: Mapping[str, float | None] = field(default_factory=dict)
    failed: tuple[str, ...] = ()  # the decision's checks that did not pass
    seconds_from_framing: float | None = None  # first framed frame to the decision, server clock
    frames_used: int | None = None  # frames the verifier had used when it decided

    def value(self, name: str) -> float | None:
        """A decision check's measured value, else a diagnostic's."""
        value = self.checks.get(name)
        return value if value is not None else self.diagnostics.get(name)

    @property
    def accepted(self) -> bool:
        return self.outcome == "pass"

    @property
    def error(self) -> bool:
        """A wrong decision: an attack accepted, or a genuine session rejected."""
        return self.accepted != self.genuine

    def to_dict(self) -> dict[str, Any]:
        return {
            "session_id": self.session_id,
            "species": self.species,
            "genuine": self.genuine,
            "person": self.person,
            "source": self.source,
            "outcome": self.outcome,
            "reason": self.reason,
            "checks": dict(self.checks),
            "diagnostics": dict(self.diagnostics),
            "seconds": round(self.seconds, 3),
            "failed": list(self.failed),
            "seconds_from_framing": self.seconds_from_framing,
            "frames_used": self.frames_used,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionResult:
        return cls(
            session_id=data["session_id"],
            species=data["species"],
            genuine=bool(data["genuine"]),
            person=data.get("person", ""),
            outcome=data["outcome"],
            reason=data["reason"],
            checks=dict(data.get("checks", {})),
            source=data.get("source", ""),
            seconds=float(data.get("seconds", 0.0)),
            diagnostics=dict(data.get("diagnostics", {})),
            failed=tuple(data.get("failed", ())),
            seconds_from_framing=data.get("seconds_from_framing"),
            frames_used=data.get("frames_used"),
        )


@dataclass(frozen=True)
class SpeciesRate:
    """Errors over sessions for one species: APCER for an attack species, BPCER for a genuine one."""

    species: str
    genuine: bool
    sessions: int
    errors: int

    @property
    def rate(self) -> float:
        return self.errors / self.sessions if self.sessions else 0.0

    @property
    def metric(self) -> str:
        return "BPCER" if self.genuine else "APCER"

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.errors, self.sessions)


def wilson_interval(errors: int, sessions: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of ``errors / sessions`` (95% for z = 1.96).

    Unlike the normal approximation it stays inside [0, 1] and is not empty at 0 errors:
    0 of 20 still allows up to 16%, 0 of 600 up to 0.64%.
    """
    if sessions == 0:
        return 0.0, 1.0
    p = errors / sessions
    centre = (p + z * z / (2 * sessions)) / (1 + z * z / sessions)
    half = z / (1 + z * z / sessions) * math.sqrt(p * (1 - p) / sessions + z * z / (4 * sessions * sessions))
    return max(0.0, centre - half), min(1.0, centre + half)


# Checks that record progress or bookkeeping rather than a threshold an attack can be near.
NOT_DECISIVE = ("targets_reached", "identity_samples", "identity_gap_frames")


def decisive_failures(result: SessionResult) -> set[str]:
    """The threshold checks a session failed; non-planarity only once some target was reached.

    Non-planarity is measured between the first framed frame and the rests: with no
    rest it reads 0 and decides nothing.
    """
    return {name for name in result.failed if name not in NOT_DECISIVE and measured(result, name)}


def alone_rejected(results: Iterable[SessionResult]) -> dict[str, Counter[str]]:
    """``{check: {species: n}}``: attack sessions whose only failed threshold check is ``check``."""
    alone: dict[str, Counter[str]] = {}
    for result in results:
        failed = decisive_failures(result)
        if not result.genuine and not result.accepted and len(failed) == 1:
            alone.setdefault(failed.pop(), Counter())[result.species] += 1
    return alone


def median_seconds_from_framing(results: Iterable[SessionResult]) -> float | None:
    """Median time genuine people spent from the first framed frame to the decision."""
    times = [r.seconds_from_framing for r in results if r.genuine and r.seconds_from_framing is not None]
    return statistics.median(times) if times else None


@dataclass(frozen=True)
class Distribution:
    """min / median / max of one measured check over the sessions that measured it."""

    count: int
    minimum: float
    median: float
    maximum: float


def species_rates(results: Iterable[SessionResult]) -> list[SpeciesRate]:
    """One rate per species, genuine species first, in the order species first appear."""
    sessions: Counter[str] = Counter()
    errors: Counter[str] = Counter()
    genuine: dict[str, bool] = {}
    for result in results:
        sessions[result.species] += 1
        errors[result.species] += result.error
        genuine.setdefault(result.species, result.genuine)
    rates = [SpeciesRate(name, genuine[name], sessions[name], errors[name]) for name in sessions]
    return sorted(rates, key=lambda rate: not rate.genuine)


def bpcer(results: Iterable[SessionResult]) -> SpeciesRate:
    """All genuine sessions together."""
    genuine = [r for r in results if r.genuine]
    return SpeciesRate("all genuine", True, len(genuine), sum(r.error for r in genuine))


def worst_apcer(rates: Sequence[SpeciesRate]) -> SpeciesRate | None:
    """The attack species with the highest APCER (ISO/IEC 30107-3 reports the maximum over species)."""
    attacks = [rate for rate in rates if not rate.genuine]
    return max(attacks, key=lambda rate: (rate.rate, rate.errors), default=None)


def reasons_by_species(results: Iterable[SessionResult]) -> dict[str, Counter[str]]:
    reasons: dict[str, Counter[str]] = {}
    for result in results:
        reasons.setdefault(result.species, Counter())[result.reason] += 1
    return reasons


def measured(result: SessionResult, check: str) -> bool:
    """Whether the decision really measured ``check``, not only reported its starting value.

    An identity distance needs two embeddings (it reads 0 before the second); non-planarity
    a target reached (the sequence measures it between the first framed frame and the rests).
    """
    if check == "identity_distance":  # a distance between two embeddings is never exactly 0
        samples = result.checks.get("identity_samples") or 0
        return bool(result.checks.get("identity_distance")) or samples >= 2
    if check == "nonplanarity":
        return result.checks.get("targets_reached", 1) != 0
    return True


def check_values(results: Iterable[SessionResult], check: str) -> dict[str, list[float]]:
    """The measured values of ``check`` per species, for the sessions whose decision measured it."""
    values: dict[str, list[float]] = {}
    for result in results:
        value = result.value(check)
        if value is not None and measured(result, check):
            values.setdefault(result.species, []).append(float(value))
    return values


def distribution(values: Sequence[float]) -> Distribution:
    return Distribution(len(values), min(values), statistics.median(values), max(values))


def distributions(
    results: Sequence[SessionResult], checks: Sequence[str] = (*KEY_CHECKS, *DIAGNOSTICS)
) -> dict[str, dict[str, Distribution]]:
    """``{check: {species: Distribution}}`` for every check and species with at least one value."""
    return {
        check: {species: distribution(values) for species, values in check_values(results, check).items()}
        for check in checks
    }
