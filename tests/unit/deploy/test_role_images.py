"""deploy/images without Docker: the role image's user and variables, what build.sh prunes and warms.

The images themselves are built and run by deploy/images/build.sh and smoke.sh (a Docker
daemon, minutes); these checks keep the files they read consistent with the code.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import re
import shutil
import zipfile
from pathlib import Path
from types import ModuleType

import pytest
from deploy_files import DEPLOY, ROOT, env_example_names

IMAGES = DEPLOY / "images"
DOCKERFILE = IMAGES / "Dockerfile.python"


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line.strip() for line in path.read_text().replace("\\\n", " ").splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def runtime_stage(path: Path) -> list[tuple[str, str]]:
    steps = instructions(path)
    last_from = max(n for n, (i, _) in enumerate(steps) if i == "FROM")
    return steps[last_from:]


@pytest.mark.parametrize("dockerfile", ["Dockerfile.python", "Dockerfile.kafka", "Dockerfile.base"])
def test_images_start_from_the_local_base_never_a_registry(dockerfile: str) -> None:
    steps = instructions(IMAGES / dockerfile)
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for i, a in steps if i == "ARG" and "=" in a}
    for base in (a.split()[0] for i, a in steps if i == "FROM"):
        named = args.get(base.strip("${}"), base)
        assert named.startswith("liveness-base:"), f"{dockerfile} starts from {named}"


def test_role_image_runs_as_numeric_non_root_user_with_liveness_entrypoint() -> None:
    runtime = runtime_stage(DOCKERFILE)
    settings = dict(runtime)
    uid, gid = settings["USER"].split(":")
    assert int(uid) >= 1000 and int(gid) >= 1000
    last_write = max(n for n, (i, _) in enumerate(runtime) if i in ("RUN", "COPY"))
    assert [i for i, _ in runtime].index("USER") > last_write
    assert settings["ENTRYPOINT"] == '["liveness"]'


def test_role_image_liveness_variables_are_ones_the_code_reads() -> None:
    env = " ".join(args for i, args in runtime_stage(DOCKERFILE) if i == "ENV")
    names = {word.split("=")[0] for word in env.split() if word.startswith("LIVENESS_")}
    assert names and names <= set(env_example_names())


def build_script_roles() -> dict[str, list[str]]:
    """build.sh's warm_modules: role -> the modules imported (and so compiled) in its image."""
    text = (IMAGES / "build.sh").read_text()
    body = text[text.index("warm_modules() {") : text.index("esac", text.index("warm_modules() {"))]
    return {role: modules.split() for role, modules in re.findall(r'(\w+)\) echo "([^"]+)"', body)}


def test_every_role_warms_modules_that_exist_in_the_project() -> None:
    roles = build_script_roles()
    assert set(roles) == {"processor", "verifier", "gateway"}
    for modules in roles.values():
        for module in modules:
            assert importlib.util.find_spec(module) is not None, module
            assert Path(str(importlib.util.find_spec(module).origin)).is_relative_to(ROOT), module


def test_the_mediapipe_models_kept_are_the_ones_facemesh_loads() -> None:
    kept = re.findall(r"! -name (\S+\.tflite)", DOCKERFILE.read_text())
    assert sorted(kept) == ["face_detection_short_range.tflite", "face_landmark.tflite"]
    spec = importlib.util.find_spec("mediapipe")
    if spec is None or spec.origin is None:
        pytest.skip("mediapipe not installed")
    modules = Path(spec.origin).parent / "modules"
    for name in kept:
        assert list(modules.rglob(name)), f"mediapipe has no {name} any more"


def strip_wheels() -> ModuleType:
    spec = importlib.util.spec_from_file_location("strip_wheels", IMAGES / "strip_wheels.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record_rows(wheel: zipfile.ZipFile) -> dict[str, str]:
    record = next(n for n in wheel.namelist() if n.endswith(".dist-info/RECORD"))
    rows = [line.split(",") for line in wheel.read(record).decode().splitlines() if line]
    return {path: digest for path, digest, _ in rows}


@pytest.mark.skipif(shutil.which("strip") is None, reason="binutils' strip not installed")
def test_strip_wheels_strips_extension_modules_keeps_vendored_libraries_and_the_record_true(
    tmp_path: Path,
) -> None:
    tool = strip_wheels()
    # A real extension module shipped with its debug information (frozenlist's, here).
    spec = importlib.util.find_spec("frozenlist._frozenlist")
    if spec is None or spec.origin is None or not spec.origin.endswith(".so"):
        pytest.skip("no compiled frozenlist")
    module = Path(spec.origin).read_bytes()
    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as target:
        target.writestr("demo/_ext.so", module)
        target.writestr("demo.libs/libvendored.so.1", module)
        target.writestr("demo/__init__.py", "")
        target.writestr("demo-1.0.dist-info/RECORD", "")
    saved = tool.strip_wheel(wheel)
    with zipfile.ZipFile(wheel) as result:
        stripped = result.read("demo/_ext.so")
        assert result.read("demo.libs/libvendored.so.1") == module
        assert result.read("demo/__init__.py") == b""
        rows = record_rows(result)
        for name in result.namelist():
            if not name.endswith("RECORD"):
                digest = base64.urlsafe_b64encode(hashlib.sha256(result.read(name)).digest())
                assert rows[name] == "sha256=" + digest.rstrip(b"=").decode()
    # What it saved: the symbols, less the few bytes the RECORD grew by.
    assert len(stripped) < len(module) and 0 < saved <= len(module) - len(stripped)
    assert stripped[:4] == b"\x7fELF"


def test_strip_wheels_leaves_pure_python_wheels_untouched(tmp_path: Path) -> None:
    wheel = tmp_path / "pure-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as target:
        target.writestr("pure/__init__.py", "x = 1\n")
        target.writestr("pure-1.0.dist-info/RECORD", "pure/__init__.py,,\n")
    before = wheel.read_bytes()
    assert strip_wheels().strip_wheel(wheel) == 0
    assert wheel.read_bytes() == before


def test_every_image_build_carries_the_label_that_pruning_uses() -> None:
    """A rebuild leaves the old image of a tag and the build stage untagged; build.sh prunes them
    by label, so an image built without it would pile up on the host until the disk is full."""
    script = (IMAGES / "build.sh").read_text().replace("\\\n", " ")
    label = re.search(r"^LABEL=(\S+)$", script, re.MULTILINE)
    assert label is not None
    builds = [line for line in script.splitlines() if re.match(r"\s*docker build ", line)]
    assert len(builds) == 4  # the base, the Python roles, the broker, Prometheus
    for line in builds:
        assert '--label "$LABEL=' in line or "Dockerfile.base" in line, line
        assert "--force-rm" in line, line  # a failed step's container would stay, with its files
    assert re.search(r'docker image prune -f --filter "label=\$LABEL"', script)
    steps = instructions(DOCKERFILE)
    build_stage = steps[: max(n for n, (i, _) in enumerate(steps) if i == "FROM")]
    assert ("LABEL", f"{label[1]}=build") in build_stage
