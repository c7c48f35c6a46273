"""deploy/compose.yaml without Docker: the compose-spec schema, its services, the settings they give."""

from __future__ import annotations

import importlib.metadata
import json
import re

import jsonschema
import pytest
import yaml
from deploy_files import COMPOSE, DEPLOY, compose, compose_env, interpolate

from runtime.settings import kafka_from_env, token_keys_from_env
from runtime.topics import topic_specs

LIVENESS_SERVICES = ("topics", "processor", "verifier", "gateway")
SECRET = "compose-test-secret-0123456789abcdef"


def compose_spec_schema() -> dict:
    """The compose-spec JSON schema that check-jsonschema vendors (read as a file, not imported)."""
    dist = importlib.metadata.distribution("check-jsonschema")
    return json.loads(
        dist.locate_file("check_jsonschema/builtin_schemas/vendor/compose-spec.json").read_text()
    )


def test_compose_file_valid_against_compose_spec_schema() -> None:
    schema = compose_spec_schema()
    validator = jsonschema.Draft7Validator(schema)  # the schema declares draft-07
    errors = [f"{'/'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(compose())]
    assert errors == []


def test_compose_spec_schema_rejects_a_misspelt_service_key() -> None:
    schema = compose_spec_schema()
    broken = yaml.safe_load(COMPOSE.read_text())
    broken["services"]["processor"]["enviroment"] = {}
    assert not jsonschema.Draft7Validator(schema).is_valid(broken)


BROKERS = ("kafka-1", "kafka-2", "kafka-3")


def test_compose_file_has_the_pipeline_and_its_observability() -> None:
    services = compose()["services"]
    assert set(services) == {*BROKERS, *LIVENESS_SERVICES, "prometheus", "grafana"}
    # Nothing the default `up` starts comes from a registry: every image is built by deploy/images/build.sh.
    started = {name: s for name, s in services.items() if "profiles" not in s}
    assert set(started) == set(services) - {"grafana"}
    built = {"liveness-kafka", "liveness-processor", "liveness-verifier", "liveness-gateway", "liveness-prometheus"}
    assert {s["image"].split(":")[0] for s in started.values()} == built
    # ... and build.sh builds each of them by default.
    defaults = re.search(r"targets=\((base [^)]*)\)", (DEPLOY / "images" / "build.sh").read_text())
    assert defaults is not None
    assert {f"liveness-{target}" for target in defaults[1].split()} >= built


def test_compose_brokers_form_one_quorum_of_three_with_host_listeners() -> None:
    envs = [compose_env(broker, {}) for broker in BROKERS]
    assert {env["KAFKA_NODE_ID"] for env in envs} == {"1", "2", "3"}
    assert len({env["KAFKA_CLUSTER_ID"] for env in envs}) == 1
    voters = {env["KAFKA_VOTERS"] for env in envs}
    assert voters == {"1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093"}
    assert {env["KAFKA_REPLICAS"] for env in envs} == {"3"}
    for broker, env in zip(BROKERS, envs, strict=True):
        assert env["KAFKA_ADVERTISED"] == f"{broker}:9092"
        port = env["KAFKA_EXTERNAL"].rsplit(":", 1)[1]
        assert compose()["services"][broker]["ports"] == [f"127.0.0.1:{port}:{port}"]
    entrypoint = (DEPLOY / "images" / "kafka-entrypoint.sh").read_text()
    assert all(name in entrypoint for name in ("KAFKA_VOTERS", "KAFKA_EXTERNAL", "KAFKA_REPLICAS"))


def test_compose_processor_scalable_no_fixed_name_or_host_port() -> None:
    processor = compose()["services"]["processor"]
    assert "container_name" not in processor and "ports" not in processor
    assert processor["command"] == ["processor"]


def test_compose_verifier_table_on_a_volume_where_the_code_writes_it() -> None:
    verifier = compose()["services"]["verifier"]
    data_dir = compose_env("verifier", {"LIVENESS_TOKEN_SECRET": SECRET})["LIVENESS_DATA_DIR"]
    mounts = [v.split(":")[1] for v in verifier["volumes"] if v.startswith("verifier-data:")]
    assert len(mounts) == 1 and data_dir.startswith(mounts[0] + "/")
    assert "verifier-data" in compose()["volumes"]


def test_compose_worker_env_parses_into_settings_that_reach_every_broker_replicated() -> None:
    brokers = {compose_env(broker, {})["KAFKA_ADVERTISED"] for broker in BROKERS}
    for service in LIVENESS_SERVICES:
        settings = kafka_from_env(compose_env(service, {"LIVENESS_TOKEN_SECRET": SECRET}))
        assert set(settings.bootstrap.split(",")) == brokers
        assert (settings.security_protocol, settings.partitions, settings.topic_prefix) == (
            "PLAINTEXT",
            6,
            "",
        )
        assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)
    specs = topic_specs(settings)
    assert len(specs) == 9  # with liveness.evidence
    assert all(s.replication_factor == 3 and s.config["min.insync.replicas"] == "2" for s in specs)


def test_compose_token_secret_required_and_parsed_for_verifier_and_gateway() -> None:
    for service in ("verifier", "gateway"):
        keys = token_keys_from_env(compose_env(service, {"LIVENESS_TOKEN_SECRET": SECRET}))
        assert keys.current == SECRET.encode() and keys.previous is None
        with pytest.raises(ValueError, match="LIVENESS_TOKEN_SECRET"):
            compose_env(service, {})


def test_interpolate_defaults_required_and_set_values() -> None:
    assert interpolate("${A:-x}/${B}/${C:-}", {"B": "b"}) == "x/b/"
    with pytest.raises(ValueError, match="A: needed"):
        interpolate("${A:?needed}", {})


def test_compose_mounted_and_built_files_exist() -> None:
    services = compose()["services"]
    mounts = [v.split(":")[0] for s in services.values() for v in s.get("volumes", []) if v.startswith("./")]
    assert mounts and all((DEPLOY / m).exists() for m in mounts)
    dockerfiles = {"Dockerfile.kafka", "Dockerfile.python", "Dockerfile.prometheus"}
    assert all((DEPLOY / "images" / name).is_file() for name in dockerfiles)


def test_prometheus_scrapes_each_liveness_worker_on_its_metrics_port() -> None:
    config = yaml.safe_load((DEPLOY / "prometheus" / "prometheus.yml").read_text())
    targets = {
        name: sd["port"]
        for job in config["scrape_configs"]
        for sd in job.get("dns_sd_configs", [])
        for name in sd["names"]
    }
    for service in ("processor", "verifier", "gateway"):
        port = int(compose_env(service, {"LIVENESS_TOKEN_SECRET": SECRET})["LIVENESS_METRICS_PORT"])
        assert targets[service] == port
    # The compose file mounts this configuration where its Prometheus command reads it.
    prometheus = compose()["services"]["prometheus"]
    mounted = {v.split(":")[1] for v in prometheus["volumes"] if v.startswith("./prometheus/prometheus.yml:")}
    assert {f"--config.file={path}" for path in mounted} <= set(prometheus["command"])
