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


# The worker images ship without the developer packages: hidden here as they are absent there.
WITHOUT_DEVELOPER_PACKAGES = (
    "import sys\n"
    "for name in ('devtools', 'evaluation', 'benchmarks'):\n"
    "    sys.modules[name] = None\n"
    "from liveness.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


@pytest.mark.parametrize("command", [["bench"], ["reliability"], ["fetch-media"], ["demo"]])
def test_cli_developer_command_without_its_package_says_so(command: list[str]) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEVELOPER_PACKAGES, *command],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "a developer command" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("command", ["processor", "verifier", "gateway", "topics"])
def test_cli_worker_command_runs_without_developer_packages(command: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_DEVELOPER_PACKAGES, command, "--help"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
