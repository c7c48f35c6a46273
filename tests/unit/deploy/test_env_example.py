"""deploy/liveness.env.example lists exactly the LIVENESS_* variables the code reads, each explained."""

from __future__ import annotations

import re

from deploy_files import ENV_EXAMPLE, ROOT, env_example_names

_NAME = re.compile(r"\bLIVENESS_[A-Z0-9_]*[A-Z0-9]\b")
CODE_DIRS = (
    "schemas",
    "runtime",
    "producers",
    "processors",
    "verifier",
    "liveness",
    "devtools",
    "evaluation",
    "benchmarks",
)


def names_in_code() -> set[str]:
    """LIVENESS_* names in the sources and scripts (``LIVENESS_SASL_*`` style wildcards excluded)."""
    files = [p for d in CODE_DIRS for p in (ROOT / d).rglob("*.py")] + [ROOT / "run", ROOT / ".ci" / "run"]
    return {name for path in files if path.is_file() for name in _NAME.findall(path.read_text())}


def test_env_example_lists_exactly_the_variables_the_code_reads() -> None:
    listed = env_example_names()
    assert len(listed) == len(set(listed)), "a variable listed twice"
    assert set(listed) == names_in_code()


def test_env_example_explains_every_variable_on_the_line_above() -> None:
    lines = ENV_EXAMPLE.read_text().splitlines()
    for index, line in enumerate(lines):
        if line and not line.startswith("#"):
            assert lines[index - 1].startswith("# "), f"{line} has no comment above it"
