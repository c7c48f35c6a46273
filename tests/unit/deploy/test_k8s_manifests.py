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
    """The pipeline's workloads (the liveness namespace; the optional brokers are apart)."""
    return [
        doc for _, doc in ALL if doc["kind"] in WORKLOAD_KINDS and doc["metadata"]["namespace"] == "liveness"
    ]


def in_namespace(kind: str, namespace: str) -> dict[str, dict[str, Any]]:
    return {
        doc["metadata"]["name"]: doc
        for _, doc in ALL
        if doc["kind"] == kind and doc["metadata"]["namespace"] == namespace
    }


def brokers() -> dict[str, Any]:
    [statefulset] = in_namespace("StatefulSet", "kafka").values()
    return statefulset


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
    assert set(overlays) == {"base", "keda", "hpa", "kafka"}
    assert "secrets.example.yaml" not in overlays["base"]
    assert overlays["keda"] == ["../base", "processor-scaledobject.yaml"]
    assert overlays["hpa"] == ["../base", "processor-hpa.yaml"]
    assert "secret.example.yaml" not in overlays["kafka"]


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


def image_setting(dockerfile: str, instruction: str) -> str | None:
    """The last value an image's Dockerfile (deploy/images) gives ``instruction``, if any."""
    lines = (DEPLOY / "images" / dockerfile).read_text().splitlines()
    return next((line.split()[1] for line in reversed(lines) if line.startswith(f"{instruction} ")), None)


@pytest.mark.parametrize(
    ("workload", "dockerfile"),
    [*((w, "Dockerfile.python") for w in workloads()), (brokers(), "Dockerfile.kafka")],
    ids=lambda v: v if isinstance(v, str) else v["metadata"]["name"],
)
def test_pods_run_as_the_image_user_non_root_read_only_with_resources(
    workload: dict[str, Any], dockerfile: str
) -> None:
    image_user, image_workdir = image_setting(dockerfile, "USER"), image_setting(dockerfile, "WORKDIR")
    spec = pod_spec(workload)
    assert spec["securityContext"]["runAsNonRoot"] is True
    assert f"{spec['securityContext']['runAsUser']}:{spec['securityContext']['runAsGroup']}" == image_user
    for container in spec["containers"]:
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
        assert "memory" in container["resources"]["limits"]
        mounts = {m["mountPath"] for m in container["volumeMounts"]}
        assert "/tmp" in mounts
        if workload["kind"] != "Job" and image_workdir:  # Faust writes its app folder there
            assert image_workdir in mounts


ROLE_IMAGES = {
    "liveness-processor": "liveness-processor",
    "liveness-verifier": "liveness-verifier",
    "liveness-gateway": "liveness-gateway",
    "liveness-topics": "liveness-verifier",
}


def test_each_role_runs_its_own_image_and_every_image_is_mapped_to_a_registry() -> None:
    used = {w["metadata"]["name"]: c["image"] for w in workloads() for c in pod_spec(w)["containers"]}
    assert used == ROLE_IMAGES
    assert [c["image"] for c in pod_spec(brokers())["containers"]] == ["liveness-kafka"]
    # deploy/images/build.sh makes exactly these names; kustomize rewrites each to the registry.
    built = (DEPLOY / "images" / "build.sh").read_text()
    for overlay, images in [("base", set(used.values())), ("kafka", {"liveness-kafka"})]:
        kustomization = yaml.safe_load((K8S / overlay / "kustomization.yaml").read_text())
        mapped = {i["name"]: i for i in kustomization["images"]}
        assert set(mapped) == images
        assert all(m["newName"].endswith("/" + name) and m["newTag"] for name, m in mapped.items())
    assert "liveness-$1:$TAG" in built and "liveness-kafka:$TAG" in built


def test_topics_are_replicated_over_more_brokers_than_a_write_needs() -> None:
    settings = kafka_from_env(config())
    assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)
    # One broker may be lost with every partition still writable, never more than there are.
    assert 1 <= settings.min_insync_replicas < settings.replication_factor
    assert settings.replication_factor <= brokers()["spec"]["replicas"]


def broker_env() -> dict[str, Any]:
    [container] = pod_spec(brokers())["containers"]
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}


def test_brokers_form_one_quorum_of_every_pod_and_advertise_their_headless_names() -> None:
    statefulset, env = brokers(), broker_env()
    replicas, service = statefulset["spec"]["replicas"], statefulset["spec"]["serviceName"]
    namespace = statefulset["metadata"]["namespace"]
    domain = f"{service}.{namespace}.svc"
    ports = {p["name"]: p["containerPort"] for p in pod_spec(statefulset)["containers"][0]["ports"]}
    pods = [f"{statefulset['metadata']['name']}-{n}" for n in range(replicas)]
    # Node id N is pod N (the pod-index label), reached by its stable name in the headless Service.
    voters = [f"{n}@{pod}.{domain}:{ports['controller']}" for n, pod in enumerate(pods)]
    assert env["KAFKA_VOTERS"].split(",") == voters
    pod_index = "metadata.labels['apps.kubernetes.io/pod-index']"
    assert env["KAFKA_NODE_ID"] == {"fieldRef": {"fieldPath": pod_index}}
    assert env["KAFKA_ADVERTISED"] == f"$(POD_NAME).{domain}:{ports['client']}"
    assert [e["name"] for e in pod_spec(statefulset)["containers"][0]["env"]].index("POD_NAME") == 0
    assert int(env["KAFKA_REPLICAS"]) == replicas  # Kafka's own offsets topic survives a lost broker too
    assert int(env["KAFKA_PORT"]) == ports["client"]
    assert int(env["KAFKA_CONTROLLER_PORT"]) == ports["controller"]
    services = in_namespace("Service", namespace)
    assert services[service]["spec"]["clusterIP"] == "None"
    assert services[service]["spec"]["publishNotReadyAddresses"] is True
    secret = env["KAFKA_CLUSTER_ID"]["secretKeyRef"]
    assert secret["key"] in objects("Secret")[secret["name"]]["stringData"]


def test_brokers_tolerate_one_voluntary_disruption_and_spread_over_nodes() -> None:
    statefulset = brokers()
    [budget] = in_namespace("PodDisruptionBudget", "kafka").values()
    settings = kafka_from_env(config())
    # A second broker down would leave fewer in-sync replicas than a write needs.
    assert budget["spec"]["maxUnavailable"] == settings.replication_factor - settings.min_insync_replicas
    assert budget["spec"]["selector"] == statefulset["spec"]["selector"]
    anti_affinity = pod_spec(statefulset)["affinity"]["podAntiAffinity"]
    [rule] = anti_affinity["requiredDuringSchedulingIgnoredDuringExecution"]
    assert rule["topologyKey"] == "kubernetes.io/hostname"
    assert rule["labelSelector"] == statefulset["spec"]["selector"]


def test_verifier_table_on_a_persistent_volume_at_the_data_dir() -> None:
    verifier = objects("StatefulSet")["liveness-verifier"]
    [claim] = verifier["spec"]["volumeClaimTemplates"]
    [container] = pod_spec(verifier)["containers"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    assert mounts[claim["metadata"]["name"]] == container_env(container)["LIVENESS_DATA_DIR"]
    assert verifier["spec"]["serviceName"] in objects("Service")
