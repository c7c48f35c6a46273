"""The role images ship the workers and leave the developer tooling out.

Needs a Docker daemon and the images deploy/images/build.sh makes; runs when
``LIVENESS_COMPOSE_TESTS=1`` (deploy/ci.sh sets it after building them).
"""

from __future__ import annotations

import os
import subprocess

import pytest

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(
        os.environ.get("LIVENESS_COMPOSE_TESTS") != "1",
        reason="needs Docker and the images: deploy/ci.sh runs it (LIVENESS_COMPOSE_TESTS=1)",
    ),
]

ROLES = ("processor", "verifier", "gateway")
TAG = os.environ.get("LIVENESS_IMAGE_TAG", "local")
# Which of the packages an image can import, printed as the set's repr.
PACKAGES = "('devtools', 'evaluation', 'benchmarks', 'liveness', 'runtime')"
FIND_PACKAGES = f"import importlib.util as u; print(sorted(m for m in {PACKAGES} if u.find_spec(m)))"


def _run(image: str, *args: str, entrypoint: str | None = None) -> subprocess.CompletedProcess[str]:
    command = ["docker", "run", "--rm", "--network", "none"]
    if entrypoint is not None:
        command += ["--entrypoint", entrypoint]
    return subprocess.run([*command, image, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize("role", ROLES)
def test_role_image_has_the_runtime_and_no_developer_package(role: str) -> None:
    result = _run(f"liveness-{role}:{TAG}", "-c", FIND_PACKAGES, entrypoint="python")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "['liveness', 'runtime']"


@pytest.mark.parametrize("role", ROLES)
def test_role_image_refuses_a_developer_command_with_a_reason(role: str) -> None:
    result = _run(f"liveness-{role}:{TAG}", "bench")
    assert result.returncode == 2, result.stderr
    assert "a developer command" in result.stderr and "Traceback" not in result.stderr
    worker = _run(f"liveness-{role}:{TAG}", role, "--help")
    assert worker.returncode == 0 and "usage:" in worker.stdout, worker.stderr
