"""Settings from the environment reach both Kafka clients with the same security."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from runtime.settings import (
    LogSettings,
    attempt_limits_from_env,
    blas_threads,
    cache_dir_from_env,
    challenge_weights_from_env,
    child_env,
    child_environment,
    existing_bootstrap_from_env,
    gateway_demo_from_env,
    kafka_from_env,
    log_settings_from_env,
    metrics_port_from_env,
    tenants_document_from_env,
    token_keys_from_env,
    verifier_worker_from_env,
)

SASL_SSL = {
    "LIVENESS_BOOTSTRAP": "kafka:9093",
    "LIVENESS_SECURITY_PROTOCOL": "SASL_SSL",
    "LIVENESS_SASL_MECHANISM": "SCRAM-SHA-512",
    "LIVENESS_SASL_USERNAME": "verifier",
    "LIVENESS_SASL_PASSWORD": "s3cret",
}


def test_faust_options_sasl_ssl_keeps_tls() -> None:
    credentials = kafka_from_env(SASL_SSL).faust_options()["broker_credentials"]
    assert credentials.protocol.value == "SASL_SSL"
    assert credentials.ssl_context is not None


def test_client_options_sasl_ssl_passes_credentials_and_tls() -> None:
    options = kafka_from_env(SASL_SSL).client_options()
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_plain_username"] == "verifier"
    assert options["ssl_context"] is not None


def test_kafka_from_env_flags_override_environment() -> None:
    settings = kafka_from_env({"LIVENESS_PARTITIONS": "8"}, partitions=2, topic_prefix=None)
    assert (settings.partitions, settings.topic_prefix) == (2, "")


def test_kafka_settings_repr_hides_password() -> None:
    assert "s3cret" not in repr(kafka_from_env(SASL_SSL))


def test_token_keys_from_env_missing_secret_exits() -> None:
    with pytest.raises(SystemExit, match="LIVENESS_TOKEN_SECRET"):
        token_keys_from_env({})


def test_kafka_from_env_replication_defaults_to_one_node() -> None:
    settings = kafka_from_env({})
    assert (settings.replication_factor, settings.min_insync_replicas) == (1, 1)


def test_kafka_from_env_replication_read_from_variables() -> None:
    env = {"LIVENESS_REPLICATION_FACTOR": "3", "LIVENESS_MIN_INSYNC_REPLICAS": "2"}
    settings = kafka_from_env(env)
    assert (settings.replication_factor, settings.min_insync_replicas) == (3, 2)


def test_faust_options_broker_list_becomes_one_url_per_broker() -> None:
    options = kafka_from_env({"LIVENESS_BOOTSTRAP": "a:1,b:2, c:3"}).faust_options()
    assert options["broker"] == "kafka://a:1;kafka://b:2;kafka://c:3"


def test_log_settings_default_level_is_the_roles_and_the_variable_wins() -> None:
    assert log_settings_from_env("WARNING", {}) == LogSettings("WARNING", "text")
    assert log_settings_from_env("INFO", {"LIVENESS_LOG_LEVEL": "DEBUG", "LIVENESS_LOG_FORMAT": "json"}) == (
        LogSettings("DEBUG", "json")
    )


def test_metrics_port_empty_is_not_served() -> None:
    assert metrics_port_from_env({"LIVENESS_METRICS_PORT": ""}) is None
    assert metrics_port_from_env({"LIVENESS_METRICS_PORT": "9100"}) == 9100


def test_verifier_worker_from_env_only_what_is_set_so_the_workers_defaults_stay() -> None:
    assert verifier_worker_from_env({}) == {}
    env = {"LIVENESS_DATA_DIR": "/data", "LIVENESS_COMMIT_INTERVAL_S": "0.5"}
    assert verifier_worker_from_env(env) == {"data_dir": "/data", "commit_interval_s": 0.5}


def test_gateway_values_from_env_defaults_and_set() -> None:
    assert challenge_weights_from_env({}) == "nose_sequence=1"
    assert challenge_weights_from_env({"LIVENESS_CHALLENGE_WEIGHTS": "turn=1"}) == "turn=1"
    assert not gateway_demo_from_env({"LIVENESS_GATEWAY_DEMO": "0"})
    assert gateway_demo_from_env({"LIVENESS_GATEWAY_DEMO": "true"})


def test_attempt_limits_from_env_only_what_is_set_so_the_gateways_defaults_stay() -> None:
    assert attempt_limits_from_env({}) == {}
    env = {"LIVENESS_MAX_FAILED_PER_USER": "3", "LIVENESS_ATTEMPT_WINDOW_S": "60.5"}
    assert attempt_limits_from_env(env) == {"max_failed_per_user": 3, "window_s": 60.5}


def test_tenants_document_from_env_file_then_inline_then_none(tmp_path: Path) -> None:
    document = tmp_path / "tenants.json"
    document.write_text('{"tenants": [{"id": "from-file"}]}')
    inline = '{"tenants": [{"id": "inline"}]}'
    env = {"LIVENESS_TENANTS_FILE": str(document), "LIVENESS_TENANTS": inline}
    assert tenants_document_from_env(env) == {"tenants": [{"id": "from-file"}]}
    assert tenants_document_from_env({"LIVENESS_TENANTS": inline}) == {"tenants": [{"id": "inline"}]}
    assert tenants_document_from_env({}) == {"tenants": []}


def test_tool_values_from_env_unset_means_own_broker_and_home_cache() -> None:
    assert existing_bootstrap_from_env({"LIVENESS_BOOTSTRAP": ""}) is None
    assert existing_bootstrap_from_env({"LIVENESS_BOOTSTRAP": "k:9092"}) == "k:9092"
    assert cache_dir_from_env({}) == Path.home() / ".cache" / "liveness-stream"
    assert cache_dir_from_env({"LIVENESS_CACHE_DIR": "/c"}) == Path("/c")
    assert child_env({"B": "2"}, {"A": "1", "B": "1"}) == {"A": "1", "B": "2"}


def test_child_environment_holds_the_variables_only_while_the_child_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "4")
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)

    with child_environment(blas_threads(1)):
        inside = (os.environ["OPENBLAS_NUM_THREADS"], os.environ["OMP_NUM_THREADS"])

    assert inside == ("1", "1")
    assert os.environ["OPENBLAS_NUM_THREADS"] == "4" and "OMP_NUM_THREADS" not in os.environ
