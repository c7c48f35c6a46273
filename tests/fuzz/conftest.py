"""Counts of fuzzed inputs per kind, printed in pytest's summary so a run shows how much was tried."""

from __future__ import annotations

from collections import Counter

import pytest

TRIED = pytest.StashKey[Counter]()


def pytest_configure(config: pytest.Config) -> None:
    config.stash[TRIED] = Counter()


@pytest.fixture(scope="session")
def tried(request: pytest.FixtureRequest) -> Counter:
    """Add one per input given to the code under test: ``tried[kind] += 1``."""
    return request.config.stash[TRIED]


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    counts = config.stash.get(TRIED, Counter())
    if counts:
        terminalreporter.section("fuzzed inputs per kind")
        for kind, count in sorted(counts.items()):
            terminalreporter.write_line(f"{kind:<32} {count}")
