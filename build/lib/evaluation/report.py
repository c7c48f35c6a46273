"""The evaluation as people read it: markdown tables, a JSON summary and distribution plots."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from evaluation.metrics import (
    DIAGNOSTICS,
    KEY_CHECKS,
    SessionResult,
    SpeciesRate,
    alone_rejected,
    bpcer,
    check_values,
    distributions,
    median_seconds_from_framing,
    reasons_by_species,
    species_rates,
    worst_apcer,
)
from verifier.settings import VerifierSettings


def thresholds(settings: VerifierSettings) -> dict[str, tuple[float, str]]:
    """Each key check's threshold and the side a pass lies on ('>=' or '<=')."""
    return {
        "rotation_toward_target_deg": (settings.min_rotation_deg, ">="),
        "rotation_away_deg": (settings.wrong_direction_deg, "<="),
        "nonplanarity": (settings.min_nonplanarity, ">="),
        "max_nose_jump": (settings.max_nose_jump, "<="),
        "trajectory_rms": (settings.max_trajectory_rms, "<="),
        "max_scale_jump": (settings.max_scale_jump, "<="),
        "max_shape_jump": (settings.max_shape_jump, "<="),
        "identity_distance": (settings.max_identity_distance, "<="),
    }


def _percent(rate: SpeciesRate) -> str:
    low, high = rate.interval
    return f"{100 * rate.rate:.1f}% ({rate.errors}/{rate.sessions}; 95% CI {100 * low:.1f}–{100 * high:.1f}%)"


def format_rates(results: Sequence[SessionResult]) -> str:
    """The APCER/BPCER table: one row per species, then all genuine together and the worst attack."""
    rates = species_rates(results)
    reasons = reasons_by_species(results)
    lines = [
        "| species | kind | sessions | metric | rate (errors/sessions; Wilson 95% interval) | reasons |",
        "|---|---|---|---|---|---|",
    ]
    for rate in rates:
        codes = ", ".join(f"{code} {count}" for code, count in reasons[rate.species].most_common())
        kind = "bona fide" if rate.genuine else "attack"
        lines.append(
            f"| {rate.species} | {kind} | {rate.sessions} | {rate.metric} | {_percent(rate)} | {codes} |"
        )
    overall = bpcer(results)
    lines.append(f"| **all genuine** | bona fide | {overall.sessions} | BPCER | **{_percent(overall)}** | |")
    worst = worst_apcer(rates)
    if worst is not None:
        lines.append(
            f"| **worst attack: {worst.species}** | attack | {worst.sessions} "
            f"| APCER | **{_percent(worst)}** | |"
        )
    return "\n".join(lines)


def format_distributions(results: Sequence[SessionResult]) -> str:
    """min / median / max of each key check per species (n = sessions that measured it)."""
    lines = ["| check | species | n | min | median | max |", "|---|---|---|---|---|---|"]
    for check, per_species in distributions(results).items():
        for species, d in per_species.items():
            lines.append(
                f"| {check} | {species} | {d.count} | {d.minimum:.4g} | {d.median:.4g} | {d.maximum:.4g} |"
            )
    return "\n".join(lines)


def format_errors(results: Sequence[SessionResult]) -> str:
    """The sessions decided wrongly, to look at one by one."""
    wrong = [r for r in results if r.error]
    if not wrong:
        return "No session was decided wrongly."
    lines = ["| session | species | outcome | reason | source |", "|---|---|---|---|---|"]
    lines += [f"| {r.session_id} | {r.species} | {r.outcome} | {r.reason} | {r.source} |" for r in wrong]
    return "\n".join(lines)


# The attack species each check is there to stop (the others it measures are stopped elsewhere).
GUARDS: dict[str, tuple[str, ...]] = {
    "rotation_toward_target_deg": ("static_photo", "photo_translated", "photo_tilted", "photo_rolled"),
    # Its values are read when the check stops a session: just past the limit by construction.
    "rotation_away_deg": ("turn_away", "replay"),
    "nonplanarity": ("photo_translated", "photo_tilted", "photo_rolled"),
    "max_nose_jump": ("spliced", "identity_swap"),
    "max_scale_jump": ("spliced", "identity_swap"),
    "max_shape_jump": ("spliced", "identity_swap"),
    "trajectory_rms": (),
    "identity_distance": ("identity_swap", "spliced"),
}


def format_margins(results: Sequence[SessionResult], settings: VerifierSettings) -> str:
    """Each threshold's distance to the worst genuine session and to the best attack it guards against."""
    lines = [
        "| check | threshold | genuine worst (margin) | guarded attacks: nearest passing (margin) "
        "| attacks it alone rejects |",
        "|---|---|---|---|---|",
    ]
    alone = alone_rejected(results)
    for check, m in margins(results, settings).items():
        side = thresholds(settings)[check][1]
        worst = m["genuine_worst"]
        genuine = "-" if worst is None else f"{worst:.4g} ({m['margin_genuine']:+.4g})"
        guarded = sorted(
            ((s, a) for s, a in m["attacks"].items() if s in GUARDS.get(check, ())),
            key=lambda item: item[1]["margin"],
        )
        attacks = "; ".join(f"{species} {a['best']:.4g} ({a['margin']:+.4g})" for species, a in guarded)
        only = ", ".join(f"{species} {n}" for species, n in alone.get(check, Counter()).most_common())
        lines.append(
            f"| {check} | {side} {m['threshold']:g} | {genuine} | {attacks or '-'} | {only or '-'} |"
        )
    others = {check: n for check, n in alone.items() if check not in thresholds(settings)}
    for check, counter in sorted(others.items()):
        only = ", ".join(f"{species} {n}" for species, n in counter.most_common())
        lines.append(f"| {check} | | | | {only} |")
    return "\n".join(lines)


def format_headline(results: Sequence[SessionResult]) -> str:
    """Blind-replay acceptance with its interval, and the genuine time from framing to decision."""
    lines = []
    blind = [rate for rate in species_rates(results) if rate.species == "replay_blind"]
    if blind:
        low, high = blind[0].interval
        lines.append(
            f"- blind replay accepted: {blind[0].errors} of {blind[0].sessions} attempts "
            f"({100 * blind[0].rate:.2f}%, 95% interval {100 * low:.2f}–{100 * high:.2f}%)"
        )
    median = median_seconds_from_framing(results)
    if median is not None:
        lines.append(f"- median genuine time from the first framed frame to the decision: {median:.2f} s")
    return "\n".join(lines)


def format_evaluation(results: Sequence[SessionResult], settings: VerifierSettings) -> str:
    return "\n\n".join(
        [
            f"## Error rates ({len(results)} sessions)",
            format_rates(results),
            format_headline(results),
            "## Threshold margins (positive: on the right side)",
            format_margins(results, settings),
            "## Measured checks",
            format_distributions(results),
            "## Wrong decisions",
            format_errors(results),
        ]
    )


def margins(results: Sequence[SessionResult], settings: VerifierSettings) -> dict[str, dict[str, Any]]:
    """For each key check: how far the threshold sits from the worst genuine and from each attack species.

    A margin is positive when the value is on its right side of the threshold (genuine
    passing, attack failing) and negative when a session is on the wrong side.
    ``genuine_worst`` is the genuine value nearest failing; ``attacks[species]`` the
    attack value nearest passing, per species, since a check guards some species only.
    """
    out: dict[str, dict[str, Any]] = {}
    for check, (threshold, side) in thresholds(settings).items():
        sign = 1 if side == ">=" else -1
        values = check_values(results, check)
        genuine_species = {r.species for r in results if r.genuine}
        genuine = [v for species in genuine_species for v in values.get(species, [])]
        worst = min(genuine, key=lambda v: sign * v) if genuine else None
        attacks = {}
        for species, measured in values.items():
            if species not in genuine_species:
                best = max(measured, key=lambda v: sign * v)
                attacks[species] = {"best": best, "margin": round(sign * (threshold - best), 5)}
        out[check] = {
            "threshold": threshold,
            "genuine_worst": worst,
            "margin_genuine": None if worst is None else round(sign * (worst - threshold), 5),
            "attacks": attacks,
        }
    return out


def summary(results: Sequence[SessionResult], settings: VerifierSettings) -> dict[str, Any]:
    rates = species_rates(results)
    worst = worst_apcer(rates)
    return {
        "sessions": len(results),
        "settings": asdict(settings),
        "rates": [{**asdict(rate), "metric": rate.metric, "rate": round(rate.rate, 4)} for rate in rates],
        "bpcer": {**asdict(bpcer(results)), "rate": round(bpcer(results).rate, 4)},
        "worst_apcer": None if worst is None else {**asdict(worst), "rate": round(worst.rate, 4)},
        "reasons": {species: dict(counter) for species, counter in reasons_by_species(results).items()},
        "distributions": {
            check: {species: asdict(d) for species, d in per_species.items()}
            for check, per_species in distributions(results).items()
        },
        "margins": margins(results, settings),
        "errors": [r.session_id for r in results if r.error],
        "alone_rejected": {check: dict(counter) for check, counter in alone_rejected(results).items()},
        "median_genuine_seconds_from_framing": median_seconds_from_framing(results),
    }


def plot_distributions(results: Sequence[SessionResult], settings: VerifierSettings, out: Path) -> list[Path]:
    """One PNG per key check: each species' measured values on its own row, the threshold as a line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    species_order = [rate.species for rate in species_rates(results)]
    genuine = {r.species for r in results if r.genuine}
    written = []
    for check in (*KEY_CHECKS, *DIAGNOSTICS):
        values = check_values(results, check)
        rows = [s for s in species_order if s in values]
        if not rows:
            continue
        figure, axes = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.4))
        rng = np.random.default_rng(0)  # vertical jitter only, so the plot is reproducible
        for y, species in enumerate(rows):
            xs = np.asarray(values[species])
            colour = "tab:green" if species in genuine else "tab:red"
            axes.scatter(xs, y + rng.uniform(-0.18, 0.18, len(xs)), s=12, alpha=0.7, color=colour)
        if check in thresholds(settings):
            threshold, side = thresholds(settings)[check]
            axes.axvline(
                threshold, color="black", linestyle="--", linewidth=1, label=f"threshold {side} {threshold}"
            )
            axes.legend(loc="best", fontsize=8)
        axes.set_yticks(range(len(rows)), [f"{s} ({len(values[s])})" for s in rows])
        axes.invert_yaxis()
        axes.set_xlabel(check)
        axes.set_title(f"{check}: genuine (green) vs attacks (red)")
        figure.tight_layout()
        path = out / f"{check}.png"
        figure.savefig(path, dpi=110)
        plt.close(figure)
        written.append(path)
    return written
