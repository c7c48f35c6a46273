"""deploy/Dockerfile without Docker: base image, non-root user, every package of the project in the build."""

from __future__ import annotations

import tomllib

from deploy_files import DEPLOY, ROOT, env_example_names

DOCKERFILE = DEPLOY / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def stages() -> list[list[tuple[str, str]]]:
    found: list[list[tuple[str, str]]] = []
    for instruction in instructions():
        if instruction[0] == "FROM":
            found.append([])
        found[-1].append(instruction)
    return found


def test_dockerfile_stages_start_from_python_311_slim() -> None:
    bases = [stage[0][1].split()[0] for stage in stages()]
    assert bases and all(base.startswith("python:3.11-slim") for base in bases)


def test_dockerfile_runtime_runs_as_numeric_non_root_user_with_liveness_entrypoint() -> None:
    runtime = dict(stages()[-1])
    uid, gid = runtime["USER"].split(":")
    assert int(uid) >= 1000 and int(gid) >= 1000
    assert [i for i, _ in stages()[-1]].index("USER") > max(
        n for n, (i, _) in enumerate(stages()[-1]) if i in ("RUN", "COPY")
    )
    assert runtime["ENTRYPOINT"] == '["liveness"]'


def test_dockerfile_copies_every_package_setuptools_installs_and_the_readme() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = project["tool"]["setuptools"]["packages"]["find"]["include"]
    packages = {p.rstrip("*") for p in patterns if (ROOT / p.rstrip("*")).is_dir()}
    copied = {args.split()[0].rstrip("/") for i, args in stages()[0] if i == "COPY"}
    assert packages <= copied
    assert project["project"]["readme"] in " ".join(a for i, a in stages()[0] if i == "COPY")


def test_dockerfile_liveness_variables_are_ones_the_code_reads() -> None:
    env = " ".join(args for i, args in stages()[-1] if i == "ENV")
    names = {word.split("=")[0] for word in env.split() if word.startswith("LIVENESS_")}
    assert names and names <= set(env_example_names())


def test_dockerignore_keeps_the_venv_and_git_out_of_the_context() -> None:
    ignored = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert {".git", ".venv", "tests"} <= set(ignored)
