"""Settings from the environment reach both Kafka clients with the same security."""

from __future__ import annotations

import pytest

from runtime.settings import kafka_from_env, token_keys_from_env

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
