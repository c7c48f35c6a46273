"""deploy/k8s without a cluster: Kubernetes' JSON schemas (kubernetes-validate), KEDA's shape, the settings.

kubernetes-validate ships the OpenAPI-derived JSON schemas of each Kubernetes
release; strict mode also refuses fields the API does not know (a misspelt
key would otherwise be dropped silently by the API server). KEDA's objects are
custom resources it has no schema for: they get the structural checks below.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from deploy_files import (
    DEPLOY,
    K8S,
    WORKLOAD_KINDS,
    container_env,
    env_example_names,
    manifests,
    objects,
    pod_spec,
)

from liveness.cli import build_parser
from runtime.settings import kafka_from_env, token_keys_from_env
from schemas.topics import Topics

KUBERNETES_VERSION = "1.30"
KEDA_KINDS = {"ScaledObject", "TriggerAuthentication"}
ALL = list(manifests())


def workloads() -> list[dict[str, Any]]:
    return [doc for _, doc in ALL if doc["kind"] in WORKLOAD_KINDS]


def containers() -> list[tuple[str, dict[str, Any]]]:
    return [(w["metadata"]["name"], c) for w in workloads() for c in pod_spec(w)["containers"]]


def config() -> dict[str, str]:
    return objects("ConfigMap")["liveness-config"]["data"]


@pytest.mark.parametrize(
    ("path", "doc"),
    [(p, d) for p, d in ALL if d["kind"] not in KEDA_KINDS],
    ids=lambda v: v.name if isinstance(v, Path) else f"{v['kind']}/{v['metadata']['name']}",
)
def test_manifest_valid_against_kubernetes_schema_strict(path: Path, doc: dict[str, Any]) -> None:
    assert kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_kubernetes_validate_strict_rejects_a_misspelt_field() -> None:
    deployment = copy.deepcopy(objects("Deployment")["liveness-processor"])
    pod_spec(deployment)["containers"][0]["resource"] = {}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBERNETES_VERSION, strict=True)


def test_keda_objects_have_the_fields_keda_requires() -> None:
    scaled = objects("ScaledObject")["liveness-processor"]
    assert scaled["apiVersion"] == "keda.sh/v1alpha1"
    spec = scaled["spec"]
    assert spec["scaleTargetRef"]["name"] in objects("Deployment")
    for trigger in spec["triggers"]:
        assert isinstance(trigger["type"], str)
        # The CRD types trigger metadata as a map of strings: a bare number or boolean is refused.
        assert all(isinstance(value, str) for value in trigger["metadata"].values())
        assert trigger["authenticationRef"]["name"] in objects("TriggerAuthentication")
    assert spec["minReplicaCount"] >= 1 and spec["fallback"]["replicas"] <= spec["maxReplicaCount"]
    secrets = objects("Secret")
    for ref in objects("TriggerAuthentication")["liveness-kafka"]["spec"]["secretTargetRef"]:
        assert ref["key"] in secrets[ref["name"]]["stringData"]


def test_keda_trigger_watches_the_processor_group_on_the_frames_topic() -> None:
    [trigger] = objects("ScaledObject")["liveness-processor"]["spec"]["triggers"]
    settings = kafka_from_env(config())
    # The processor's consumer group is its Faust app id, which the CLI derives from the prefix.
    args = build_parser().parse_args(["processor"])
    group = args.app_id or f"{settings.topic_prefix}liveness-processor"
    assert trigger["type"] == "kafka"
    assert trigger["metadata"]["consumerGroup"] == group
    assert trigger["metadata"]["topic"] == Topics(settings.topic_prefix).frames
    assert trigger["metadata"]["bootstrapServers"] == settings.bootstrap
    assert objects("ScaledObject")["liveness-processor"]["spec"]["maxReplicaCount"] == settings.partitions


def test_hpa_fallback_scales_processors_on_cpu_up_to_the_partitions() -> None:
    hpa = objects("HorizontalPodAutoscaler")["liveness-processor"]["spec"]
    assert hpa["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "liveness-processor",
    }
    assert [m["resource"]["name"] for m in hpa["metrics"]] == ["cpu"]
    assert hpa["maxReplicas"] == kafka_from_env(config()).partitions


def test_kustomizations_list_existing_files_and_autoscalers_are_exclusive() -> None:
    overlays = {}
    for path in sorted(K8S.rglob("kustomization.yaml")):
        resources = yaml.safe_load(path.read_text())["resources"]
        assert all((path.parent / r).exists() for r in resources), path
        overlays[path.parent.name] = resources
    assert set(overlays) == {"base", "keda", "hpa"}
    assert "secrets.example.yaml" not in overlays["base"]
    assert overlays["keda"] == ["../base", "processor-scaledobject.yaml"]
    assert overlays["hpa"] == ["../base", "processor-hpa.yaml"]


@pytest.mark.parametrize(
    ("workload", "container"), containers(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_container_env_parses_into_settings_with_secure_kafka(
    workload: str, container: dict[str, Any]
) -> None:
    env = container_env(container)
    assert set(env) <= set(env_example_names()), "a LIVENESS_* name the code does not read"
    settings = kafka_from_env(env)
    assert (settings.security_protocol, settings.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert settings.sasl_username and settings.sasl_password
    mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
    ca_dir, ca_file = settings.ssl_cafile.rsplit("/", 1)
    volumes = {
        v["name"]: v
        for v in next(pod_spec(w) for w in workloads() if w["metadata"]["name"] == workload)["volumes"]
    }
    ca_secret = volumes[mounts[ca_dir]]["secret"]["secretName"]
    assert ca_file in objects("Secret")[ca_secret]["stringData"]


@pytest.mark.parametrize("name", ["liveness-verifier", "liveness-gateway"])
def test_token_secrets_reach_the_roles_that_sign_or_check_tokens(name: str) -> None:
    [container] = pod_spec(next(w for w in workloads() if w["metadata"]["name"] == name))["containers"]
    keys = token_keys_from_env(container_env(container))
    assert len(keys.current) >= 16 and keys.previous is None


@pytest.mark.parametrize(
    ("workload", "container"), containers(), ids=lambda v: v if isinstance(v, str) else ""
)
def test_container_args_accepted_by_the_cli(workload: str, container: dict[str, Any]) -> None:
    args = build_parser().parse_args(container["args"])
    assert args.command == container["args"][0]


def test_metrics_ports_probes_and_scrape_annotations_agree() -> None:
    port = int(config()["LIVENESS_METRICS_PORT"])
    for workload in workloads():
        if workload["kind"] == "Job":
            continue
        annotations = workload["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/port"] == str(port)
        [container] = pod_spec(workload)["containers"]
        ports = {p["name"]: p["containerPort"] for p in container["ports"]}
        assert ports["metrics"] == port
        for probe in ("livenessProbe", "readinessProbe"):
            assert container[probe]["httpGet"]["port"] in ports


def test_pods_run_as_the_image_user_non_root_read_only_with_resources() -> None:
    dockerfile = (DEPLOY / "Dockerfile").read_text().splitlines()
    image_user = next(line.split()[1] for line in reversed(dockerfile) if line.startswith("USER "))
    image_workdir = next(line.split()[1] for line in reversed(dockerfile) if line.startswith("WORKDIR "))
    for workload in workloads():
        spec = pod_spec(workload)
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert f"{spec['securityContext']['runAsUser']}:{spec['securityContext']['runAsGroup']}" == image_user
        for container in spec["containers"]:
            assert container["securityContext"]["readOnlyRootFilesystem"] is True
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
            assert "memory" in container["resources"]["limits"]
            if workload["kind"] != "Job":  # Faust writes its app folder into the working directory
                assert image_workdir in {m["mountPath"] for m in container["volumeMounts"]}


def test_verifier_table_on_a_persistent_volume_at_the_data_dir() -> None:
    verifier = objects("StatefulSet")["liveness-verifier"]
    [claim] = verifier["spec"]["volumeClaimTemplates"]
    [container] = pod_spec(verifier)["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == container_env(container)["LIVENESS_DATA_DIR"]
    assert verifier["spec"]["serviceName"] in objects("Service")
