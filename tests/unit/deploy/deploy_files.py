"""Readers of deploy/ for the offline checks: YAML documents, compose interpolation, container env."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[3]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
COMPOSE = DEPLOY / "compose.yaml"
ENV_EXAMPLE = DEPLOY / "liveness.env.example"
WORKLOAD_KINDS = ("Deployment", "StatefulSet", "Job")
_INTERPOLATION = re.compile(r"\$\{(?P<name>[A-Z0-9_]+)(?:(?P<op>:-|:\?)(?P<arg>[^}]*))?\}")


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def manifests() -> Iterator[tuple[Path, dict[str, Any]]]:
    """Every Kubernetes object under deploy/k8s (kustomization files excluded), with its file."""
    for path in sorted(K8S.rglob("*.yaml")):
        if path.name != "kustomization.yaml":
            for doc in yaml_documents(path):
                yield path, doc


def objects(kind: str) -> dict[str, dict[str, Any]]:
    return {doc["metadata"]["name"]: doc for _, doc in manifests() if doc["kind"] == kind}


def pod_spec(workload: Mapping[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def container_env(container: Mapping[str, Any]) -> dict[str, str]:
    """A container's environment: its ConfigMaps, then ``env`` (values, and keys of the example Secrets)."""
    configmaps, secrets = objects("ConfigMap"), objects("Secret")
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        env.update(configmaps[source["configMapRef"]["name"]]["data"])
    for entry in container.get("env", []):
        if "value" in entry:
            env[entry["name"]] = entry["value"]
            continue
        ref = entry["valueFrom"]["secretKeyRef"]
        data = secrets[ref["name"]]["stringData"]
        if ref["key"] in data:
            env[entry["name"]] = data[ref["key"]]
        elif not ref.get("optional"):
            raise KeyError(f"{entry['name']}: Secret {ref['name']} has no key {ref['key']}")
    return env


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text())


def interpolate(value: str, environment: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}`` and ``${NAME:?error}`` against ``environment``."""

    def substitute(match: re.Match[str]) -> str:
        name, op, arg = match["name"], match["op"], match["arg"]
        if environment.get(name):
            return environment[name]
        if op == ":?":
            raise ValueError(f"{name}: {arg}")
        return arg if op == ":-" else ""

    return _INTERPOLATION.sub(substitute, value)


def compose_env(service: str, environment: Mapping[str, str]) -> dict[str, str]:
    """A compose service's environment as its container would see it."""
    declared = compose()["services"][service].get("environment", {})
    return {name: interpolate(str(value), environment) for name, value in declared.items()}


def env_example_names() -> list[str]:
    return [
        line.split("=", 1)[0]
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    ]
