"""deploy/compose.yaml without Docker: the compose-spec schema, its services, the settings they give."""

from __future__ import annotations

import importlib.metadata
import json

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


def test_compose_file_has_the_pipeline_and_its_observability() -> None:
    services = compose()["services"]
    assert set(services) == {"kafka", *LIVENESS_SERVICES, "prometheus", "grafana"}
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert "controller" in services["kafka"]["environment"]["KAFKA_PROCESS_ROLES"]


def test_compose_processor_scalable_no_fixed_name_or_host_port() -> None:
    processor = compose()["services"]["processor"]
    assert "container_name" not in processor and "ports" not in processor
    assert processor["command"] == ["processor"]


def test_compose_verifier_table_on_a_volume_where_the_code_writes_it() -> None:
    verifier = compose()["services"]["verifier"]
    data_dir = compose_env("verifier", {"LIVENESS_TOKEN_SECRET": SECRET})["LIVENESS_DATA_DIR"]
    assert f"verifier-data:{data_dir}" in verifier["volumes"]
    assert "verifier-data" in compose()["volumes"]


def test_compose_worker_env_parses_into_settings_that_reach_the_broker_service() -> None:
    kafka_env = compose()["services"]["kafka"]["environment"]
    advertised = dict(
        listener.split("://") for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    )
    for service in LIVENESS_SERVICES:
        settings = kafka_from_env(compose_env(service, {"LIVENESS_TOKEN_SECRET": SECRET}))
        assert settings.bootstrap == advertised["PLAINTEXT"]
        assert (settings.security_protocol, settings.partitions, settings.topic_prefix) == (
            "PLAINTEXT",
            6,
            "",
        )
    assert len(topic_specs(settings)) == 9  # with liveness.evidence


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
    build = services["processor"]["build"]
    assert (DEPLOY / build["context"] / build["dockerfile"]).is_file()


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
