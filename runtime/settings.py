"""Settings read once, from the environment and flags, and passed inward as frozen values.

This module is the only reader of ``os.environ``: the command line calls these functions and
hands the values to the workers and tools. Every variable is listed in
``deploy/liveness.env.example``. Secrets are never printed: ``repr`` of these records hides them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from schemas.tokens import TokenKeys
from schemas.topics import Topics


@dataclass(frozen=True)
class KafkaSettings:
    """How to reach the broker, and the topic layout shared by every deployable."""

    bootstrap: str = "127.0.0.1:9092"
    topic_prefix: str = ""
    partitions: int = 4
    # Replicas of every pipeline topic and the verifier's changelog, and how many must have a
    # write before it is acknowledged (acks=all). 1/1 for the single-node dev broker; a
    # replicated cluster runs 3/2, so one broker can die without losing or refusing a write.
    replication_factor: int = 1
    min_insync_replicas: int = 1
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str | None = None
    sasl_username: str | None = None
    sasl_password: str | None = field(default=None, repr=False)
    ssl_cafile: str | None = None

    @property
    def topics(self) -> Topics:
        return Topics(self.topic_prefix)

    def client_options(self) -> dict[str, Any]:
        """Keyword arguments for aiokafka clients (security settings passed straight through)."""
        options: dict[str, Any] = {
            "bootstrap_servers": self.bootstrap,
            "security_protocol": self.security_protocol,
        }
        if self.sasl_mechanism:
            options.update(
                sasl_mechanism=self.sasl_mechanism,
                sasl_plain_username=self.sasl_username,
                sasl_plain_password=self.sasl_password,
            )
        if self.security_protocol in ("SSL", "SASL_SSL"):
            options["ssl_context"] = self._ssl_context()
        return options

    def faust_options(self) -> dict[str, Any]:
        """Keyword arguments for ``faust.App`` carrying the same connection and security settings."""
        # Faust separates brokers with ";" and wants a scheme on each; the bootstrap list uses ",".
        hosts = [host.strip() for host in self.bootstrap.split(",") if host.strip()]
        options: dict[str, Any] = {"broker": ";".join(f"kafka://{host}" for host in hosts)}
        ssl_context = self._ssl_context()
        if self.sasl_mechanism:
            import faust

            # Without the SSL context Faust would speak SASL_PLAINTEXT to a SASL_SSL listener.
            options["broker_credentials"] = faust.SASLCredentials(
                username=self.sasl_username,
                password=self.sasl_password,
                mechanism=self.sasl_mechanism,
                ssl_context=ssl_context,
            )
        elif ssl_context is not None:
            options["broker_credentials"] = ssl_context
        return options

    def _ssl_context(self) -> Any:
        if self.security_protocol not in ("SSL", "SASL_SSL"):
            return None
        import ssl

        return ssl.create_default_context(cafile=self.ssl_cafile)


def kafka_from_env(env: Mapping[str, str] | None = None, **overrides: Any) -> KafkaSettings:
    """Kafka settings from ``LIVENESS_*`` variables, with non-None flag values taking precedence."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {
        "bootstrap": env.get("LIVENESS_BOOTSTRAP", "127.0.0.1:9092"),
        "topic_prefix": env.get("LIVENESS_TOPIC_PREFIX", ""),
        "partitions": int(env.get("LIVENESS_PARTITIONS", "4")),
        "replication_factor": int(env.get("LIVENESS_REPLICATION_FACTOR", "1")),
        "min_insync_replicas": int(env.get("LIVENESS_MIN_INSYNC_REPLICAS", "1")),
        "security_protocol": env.get("LIVENESS_SECURITY_PROTOCOL", "PLAINTEXT"),
        "sasl_mechanism": env.get("LIVENESS_SASL_MECHANISM") or None,
        "sasl_username": env.get("LIVENESS_SASL_USERNAME") or None,
        "sasl_password": env.get("LIVENESS_SASL_PASSWORD") or None,
        "ssl_cafile": env.get("LIVENESS_SSL_CAFILE") or None,
    }
    values.update({key: value for key, value in overrides.items() if value is not None})
    return KafkaSettings(**values)


def token_keys_from_env(env: Mapping[str, str] | None = None) -> TokenKeys:
    """The token secrets: ``LIVENESS_TOKEN_SECRET`` and, while rotating, the previous one."""
    env = os.environ if env is None else env
    secret = env.get("LIVENESS_TOKEN_SECRET")
    if not secret:
        raise SystemExit("LIVENESS_TOKEN_SECRET is not set: the challenge tokens need a secret (16+ bytes)")
    previous = env.get("LIVENESS_TOKEN_SECRET_PREVIOUS") or None
    return TokenKeys(
        current=secret.encode(),
        previous=previous.encode() if previous else None,
        previous_valid_until_ms=int(env.get("LIVENESS_TOKEN_PREVIOUS_VALID_UNTIL_MS", "0")),
    )


def decision_signer_from_env(env: Mapping[str, str] | None = None) -> Any:
    """The verifier's decision signer from ``LIVENESS_DECISION_SIGNING_KEY`` (None: decisions unsigned)."""
    from schemas.signatures import DecisionSigner, private_key_from_text

    env = os.environ if env is None else env
    text = env.get("LIVENESS_DECISION_SIGNING_KEY")
    return DecisionSigner(private_key_from_text(text)) if text else None


def decision_public_keys_from_env(env: Mapping[str, str] | None = None) -> tuple[Any, ...]:
    """The keys the gateway publishes: ``LIVENESS_DECISION_PUBLIC_KEYS`` (comma-separated, base64url).

    Without it, the public half of ``LIVENESS_DECISION_SIGNING_KEY`` when that is set
    (a single-host deployment, the demo).
    """
    from schemas.signatures import public_key_from_text

    env = os.environ if env is None else env
    listed = [text for text in env.get("LIVENESS_DECISION_PUBLIC_KEYS", "").split(",") if text.strip()]
    if listed:
        return tuple(public_key_from_text(text) for text in listed)
    signer = decision_signer_from_env(env)
    return (signer.private_key.public_key(),) if signer is not None else ()


def tenants_document_from_env(env: Mapping[str, str] | None = None) -> Any:
    """The tenants document, parsed: ``LIVENESS_TENANTS_FILE`` (a JSON file) or ``LIVENESS_TENANTS``
    (inline JSON); no tenants when neither is set. The gateway builds its directory from it."""
    import orjson

    env = os.environ if env is None else env
    path, inline = env.get("LIVENESS_TENANTS_FILE"), env.get("LIVENESS_TENANTS")
    if path:
        with open(path, "rb") as file:
            return orjson.loads(file.read())
    if inline:
        return orjson.loads(inline)
    return {"tenants": []}


def attempt_limits_from_env(env: Mapping[str, str] | None = None) -> dict[str, int | float]:
    """The attempt limits the environment sets (``LIVENESS_MAX_FAILED_PER_USER``, ``_PER_ADDRESS``,
    ``LIVENESS_ATTEMPT_WINDOW_S``), as keyword values; an unset one keeps the gateway's default."""
    env = os.environ if env is None else env
    readers: dict[str, tuple[str, Callable[[str], int | float]]] = {
        "max_failed_per_user": ("LIVENESS_MAX_FAILED_PER_USER", int),
        "max_failed_per_address": ("LIVENESS_MAX_FAILED_PER_ADDRESS", int),
        "window_s": ("LIVENESS_ATTEMPT_WINDOW_S", float),
    }
    return {field: read(env[name]) for field, (name, read) in readers.items() if env.get(name)}


@dataclass(frozen=True)
class LogSettings:
    """``LIVENESS_LOG_LEVEL`` and ``LIVENESS_LOG_FORMAT`` (``text`` or ``json``)."""

    level: str
    format: str = "text"


def log_settings_from_env(default_level: str, env: Mapping[str, str] | None = None) -> LogSettings:
    """The log settings; ``default_level`` differs by role (Faust workers WARNING, the gateway INFO)."""
    env = os.environ if env is None else env
    return LogSettings(env.get("LIVENESS_LOG_LEVEL", default_level), env.get("LIVENESS_LOG_FORMAT", "text"))


def metrics_port_from_env(env: Mapping[str, str] | None = None) -> int | None:
    """``LIVENESS_METRICS_PORT``: where Prometheus /metrics is served (None: not served)."""
    env = os.environ if env is None else env
    port = env.get("LIVENESS_METRICS_PORT")
    return int(port) if port else None


def verifier_worker_from_env(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Keyword values for the verifier worker's settings that the environment sets.

    ``LIVENESS_DATA_DIR`` (table storage), ``LIVENESS_PROCESSING_GUARANTEE``,
    ``LIVENESS_COMMIT_INTERVAL_S``; what is unset keeps the worker's own default.
    """
    env = os.environ if env is None else env
    values: dict[str, Any] = {
        "data_dir": env.get("LIVENESS_DATA_DIR"),
        "processing_guarantee": env.get("LIVENESS_PROCESSING_GUARANTEE"),
        "commit_interval_s": env.get("LIVENESS_COMMIT_INTERVAL_S"),
    }
    if values["commit_interval_s"] is not None:
        values["commit_interval_s"] = float(values["commit_interval_s"])
    return {key: value for key, value in values.items() if value is not None}


def challenge_weights_from_env(env: Mapping[str, str] | None = None) -> str:
    """``LIVENESS_CHALLENGE_WEIGHTS`` as written (``nose_sequence=3,turn=1``); default ``nose_sequence=1``."""
    env = os.environ if env is None else env
    return env.get("LIVENESS_CHALLENGE_WEIGHTS") or "nose_sequence=1"


def gateway_demo_from_env(env: Mapping[str, str] | None = None) -> bool:
    """``LIVENESS_GATEWAY_DEMO``: the page may create its own session without a key."""
    env = os.environ if env is None else env
    return env.get("LIVENESS_GATEWAY_DEMO", "") in ("1", "true", "yes")


def existing_bootstrap_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``LIVENESS_BOOTSTRAP`` when it is set, for tools and tests that otherwise start a broker of their own.

    A worker never starts a broker: ``kafka_from_env`` falls back to ``127.0.0.1:9092`` instead.
    """
    env = os.environ if env is None else env
    return env.get("LIVENESS_BOOTSTRAP") or None


def token_secret_from_env(env: Mapping[str, str] | None = None) -> str | None:
    """``LIVENESS_TOKEN_SECRET`` when set, for a tool that starts workers and must hand them one."""
    env = os.environ if env is None else env
    return env.get("LIVENESS_TOKEN_SECRET") or None


def cache_dir_from_env(env: Mapping[str, str] | None = None) -> Path:
    """Where downloads are kept between runs (Kafka jars, test media): ``LIVENESS_CACHE_DIR``.

    Default ``~/.cache/liveness-stream``.
    """
    env = os.environ if env is None else env
    configured = env.get("LIVENESS_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "liveness-stream"


def child_env(extra: Mapping[str, str], env: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a child process (a worker started by a tool): this one's plus ``extra``."""
    env = os.environ if env is None else env
    return {**env, **extra}


def blas_threads(count: int) -> dict[str, str]:
    """The variables that cap a BLAS library (numpy's OpenBLAS, or an OpenMP one) at ``count`` threads."""
    return dict.fromkeys(("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS"), str(count))


@contextmanager
def child_environment(variables: Mapping[str, str]) -> Iterator[None]:
    """``variables`` set while a child process is started (it inherits them); this process's
    environment is restored afterwards. For a ``multiprocessing`` child, which takes no
    environment of its own (a subprocess gets ``child_env``)."""
    saved = {name: os.environ.get(name) for name in variables}
    os.environ.update(variables)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
