"""Every role of the ``liveness`` command answers --help, as the README promises."""

from __future__ import annotations

import subprocess
import sys

import pytest

COMMANDS = [
    "broker",
    "fetch-media",
    "generate",
    "evaluate",
    "bench",
    "topics",
    "processor",
    "verifier",
    "produce",
    "replay",
    "gateway",
    "demo",
    "reliability",
    "decisions",
    "report",
]


@pytest.mark.parametrize("command", COMMANDS)
def test_cli_command_help_exits_zero_with_usage(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "liveness.cli", command, "--help"], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


def test_cli_unknown_command_fails_with_usage() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "liveness.cli", "nonsense"], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "invalid choice" in result.stderr
