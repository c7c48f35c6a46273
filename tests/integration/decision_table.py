"""The stored table of the standing corpus's decisions: what a refactoring of the core must not change.

Each session's decision is reduced to what decides it (outcome, reason, the failed checks,
every check's measured value, frames used), keyed by session id. ``compare`` lists the
differences line by line; with ``LIVENESS_WRITE_DECISION_TABLE=1`` the test writes the
table anew instead of failing, after printing the same differences.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from evaluation.metrics import SessionResult
from schemas.events import Decision

TABLE = Path(__file__).with_name("corpus_decisions.json")
WRITE = os.environ.get("LIVENESS_WRITE_DECISION_TABLE") == "1"


def entry(
    outcome: str,
    reason: str,
    checks: Mapping[str, float | None],
    failed: Iterable[str],
    frames_used: int | None,
) -> dict[str, Any]:
    return {
        "outcome": outcome,
        "reason": reason,
        "failed": sorted(failed),
        "frames_used": frames_used,
        "checks": dict(sorted(checks.items())),
    }


def result_entry(result: SessionResult) -> dict[str, Any]:
    return entry(result.outcome, result.reason, result.checks, result.failed, result.frames_used)


def decision_entry(decision: Decision) -> dict[str, Any]:
    checks = {c.name: c.value for c in decision.checks}
    failed = (c.name for c in decision.checks if not c.passed)
    return entry(decision.outcome, decision.reason, checks, failed, decision.frames_used)


def differences(stored: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """One line per session whose decision differs, is new or is gone, per differing field."""
    lines = []
    for sid in sorted(set(stored) | set(now)):
        if sid not in now:
            lines.append(f"{sid}: gone")
        elif sid not in stored:
            lines.append(f"{sid}: new {now[sid]}")
        else:
            lines += [f"{sid}: {line}" for line in _changed(stored[sid], now[sid])]
    return lines


def _changed(stored: Mapping[str, Any], now: Mapping[str, Any]) -> list[str]:
    """``field before -> after`` for each differing field; the checks one by one."""
    lines = []
    for key in sorted(set(stored) | set(now)):
        before, after = stored.get(key), now.get(key)
        if key == "checks" and isinstance(before, dict) and isinstance(after, dict):
            lines += _changed(before, after)
        elif before != after:
            lines.append(f"{key} {before} -> {after}")
    return lines


def compare(section: str, now: Mapping[str, Any]) -> list[str]:
    """The differences between the stored table's ``section`` and ``now``; writes it instead when asked."""
    table = json.loads(TABLE.read_text()) if TABLE.exists() else {}
    lines = differences(table.get(section, {}), now)
    for line in lines:
        print(f"{section}: {line}")
    if WRITE:
        table[section] = dict(sorted(now.items()))
        TABLE.write_text(json.dumps(table, indent=1, sort_keys=True) + "\n")
        return []
    return lines
