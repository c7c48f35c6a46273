"""The ``liveness`` command: one entry point for every role of the pipeline.

Configuration comes from flags and ``LIVENESS_*`` environment variables (see
``deploy/liveness.env.example``); the variables are read by ``runtime/settings.py`` when a
command starts, and the values are handed to the worker or tool it runs.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

import orjson

from runtime.settings import (
    KafkaSettings,
    attempt_limits_from_env,
    challenge_weights_from_env,
    decision_public_keys_from_env,
    decision_signer_from_env,
    gateway_demo_from_env,
    kafka_from_env,
    log_settings_from_env,
    metrics_port_from_env,
    tenants_document_from_env,
    token_keys_from_env,
    verifier_worker_from_env,
)
from runtime.topics import VERIFIER_APP_ID


def _kafka_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("kafka (flags override LIVENESS_* variables)")
    group.add_argument("--bootstrap", help="broker address [LIVENESS_BOOTSTRAP, 127.0.0.1:9092]")
    group.add_argument("--topic-prefix", help="prefix of every topic name [LIVENESS_TOPIC_PREFIX]")
    group.add_argument(
        "--partitions", type=int, help="partitions of session-keyed topics [LIVENESS_PARTITIONS, 4]"
    )


def _kafka(args: argparse.Namespace) -> KafkaSettings:
    return kafka_from_env(
        bootstrap=getattr(args, "bootstrap", None),
        topic_prefix=getattr(args, "topic_prefix", None),
        partitions=getattr(args, "partitions", None),
    )


def _print_json(data: object) -> None:
    sys.stdout.write(orjson.dumps(data).decode() + "\n")
    sys.stdout.flush()


# ---- roles -------------------------------------------------------------------------------


def cmd_topics(args: argparse.Namespace) -> int:
    from liveness.topics_admin import TopicMismatchError, create_topics

    kafka = _kafka(args)
    try:
        warnings = asyncio.run(create_topics(kafka, args.verifier_app_id))
    except TopicMismatchError as exc:
        print(f"liveness topics: {exc}", file=sys.stderr)
        return 2
    for warning in warnings:
        print(f"liveness topics: warning: {warning}", file=sys.stderr)
    print(f"topics ready on {kafka.bootstrap} ({kafka.partitions} partitions, prefix {kafka.topic_prefix!r})")
    return 0


def cmd_evidence(argv: Sequence[str]) -> int:
    """``liveness evidence SESSION_ID --out DIR``; ``liveness evidence delete --user-ref REF --tenant T``."""
    from liveness.evidence import delete_user_evidence, write_images
    from producers.evidence_reader import read_session_evidence
    from producers.gateway.tenants import user_ref_digest

    if list(argv[:1]) == ["delete"]:
        parser = argparse.ArgumentParser(
            prog="liveness evidence delete", description="delete every stored image of one user"
        )
        parser.add_argument("--user-ref", required=True, help="the user reference the backend passed")
        parser.add_argument("--tenant", required=True, help="the tenant whose user it is")
        _kafka_flags(parser)
        args = parser.parse_args(argv[1:])
        digest = user_ref_digest(args.tenant, args.user_ref)
        deleted = asyncio.run(delete_user_evidence(_kafka(args), args.tenant, digest))
        _print_json({"tenant": args.tenant, "user_ref": digest, "deleted": deleted})
        return 0
    parser = argparse.ArgumentParser(
        prog="liveness evidence", description="write a session's reference and audit images to a directory"
    )
    parser.add_argument("session_id")
    parser.add_argument("--out", type=Path, required=True, help="directory for <seq>.jpg and .json files")
    _kafka_flags(parser)
    args = parser.parse_args(argv)
    images = asyncio.run(read_session_evidence(_kafka(args), args.session_id))
    if not images:
        print(f"liveness evidence: no stored images of session {args.session_id}", file=sys.stderr)
        return 1
    for path in write_images(images, args.out):
        print(path)
    return 0


def _run_faust(app: object, role: str, metrics_port: int | None = None) -> int:
    from faust.worker import Worker

    from runtime import logs, metrics

    if metrics_port is not None:  # Prometheus /metrics and /healthz (runtime/metrics.py)
        metrics.start_metrics_server(metrics_port)
        metrics.instrument_faust_app(app, role)
    log = log_settings_from_env("WARNING")
    log_config = logs.logging_config(log.level, log.format)
    worker = Worker(app, loglevel=log.level, quiet=True, logging_config=log_config)
    # Faust's terminal spinner, kept at WARNING and above, sets the root logger to DEBUG so that it
    # spins on every record: each debug line of aiokafka and Faust (several per record sent) was
    # built and handled only to be dropped. No terminal is watching a worker's log.
    worker.spinner = None
    worker.execute_from_commandline()
    return 0


def cmd_processor(args: argparse.Namespace) -> int:
    from processors.agent import ProcessorSettings, make_processor_app

    kafka = _kafka(args)
    settings = ProcessorSettings(
        app_id=args.app_id or f"{kafka.topic_prefix}liveness-processor", web_port=args.web_port
    )
    return _run_faust(make_processor_app(kafka, settings), "processor", args.metrics_port)


def cmd_verifier(args: argparse.Namespace) -> int:
    from verifier.agent import VerifierWorkerSettings, make_verifier_app

    kafka = _kafka(args)
    stored = verifier_worker_from_env()
    if args.data_dir:
        stored["data_dir"] = args.data_dir
    worker = VerifierWorkerSettings(
        app_id=args.app_id or f"{kafka.topic_prefix}{VERIFIER_APP_ID}", web_port=args.web_port, **stored
    )
    app = make_verifier_app(kafka, token_keys_from_env(), worker=worker, signer=decision_signer_from_env())
    return _run_faust(app, "verifier", args.metrics_port)


def cmd_produce(args: argparse.Namespace) -> int:
    from liveness.session_io import produce_live

    decision = asyncio.run(produce_live(_kafka(args), token_keys_from_env(), args))
    _print_json(decision.to_dict() if decision else {"published": True})
    return 0


def cmd_replay(args: argparse.Namespace) -> int:
    from producers.recording import RecordedSession

    recordings = [RecordedSession.load(path) for path in args.sessions]
    if args.offline:
        from liveness.replay import replay_offline
        from processors.landmarks import FaceAnalyzer

        with FaceAnalyzer() as analyzer:
            for recording in recordings:
                _print_json(replay_offline(recording, analyzer).to_dict())
        return 0
    from liveness.replay import replay_streaming

    decisions = asyncio.run(replay_streaming(_kafka(args), recordings, token_keys_from_env(), args.timeout))
    for decision in decisions:
        _print_json(decision.to_dict())
    return 0


def cmd_gateway(args: argparse.Namespace) -> int:
    from producers.challenge_service import ChallengePolicy, parse_weights
    from producers.gateway.attempts import AttemptPolicy
    from producers.gateway.server import run_gateway
    from producers.gateway.settings import GatewaySettings
    from producers.gateway.tenants import TenantDirectory
    from runtime import logs

    log = log_settings_from_env("INFO")
    logs.configure_logging(log.level, log.format)
    weights = args.challenge_weights or challenge_weights_from_env()
    policy = ChallengePolicy(weights=parse_weights(weights))
    metrics_port = metrics_port_from_env()
    if metrics_port is not None:  # also served at /metrics on the gateway's own port
        from runtime import metrics

        metrics.start_metrics_server(metrics_port, heartbeat=None)  # /healthz is the gateway's
    demo_mode = args.demo or gateway_demo_from_env()
    settings = GatewaySettings(
        host=args.host,
        port=args.port,
        tenants=TenantDirectory.from_dict(tenants_document_from_env()),
        demo_mode=demo_mode,
        attempts=AttemptPolicy(**attempt_limits_from_env()),
        decision_public_keys=decision_public_keys_from_env(),
    )
    if not settings.tenants and not demo_mode:
        logging.getLogger(__name__).warning(
            "no tenants (LIVENESS_TENANTS_FILE) and no --demo: every session creation will be refused"
        )
    run_gateway(_kafka(args), token_keys_from_env(), policy, settings)
    return 0


def cmd_keys(args: argparse.Namespace) -> int:
    """New key material, printed once: an API key and its stored digest, or a decision signing key pair."""
    if args.kind == "api-key":
        from producers.gateway.tenants import key_digest, new_api_key

        key = new_api_key()
        _print_json({"api_key": key, "tenants_file_entry": {"sha256": key_digest(key)}})
        return 0
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from schemas.signatures import key_id, private_key_text, public_jwk

    private_key = Ed25519PrivateKey.generate()
    _print_json(
        {
            "LIVENESS_DECISION_SIGNING_KEY": private_key_text(private_key),
            "LIVENESS_DECISION_PUBLIC_KEYS": public_jwk(private_key.public_key())["x"],
            "kid": key_id(private_key.public_key()),
        }
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from liveness.demo import run_demo

    return run_demo(args)


def cmd_reliability(args: argparse.Namespace) -> int:
    from devtools.reliability import main as reliability_main

    return reliability_main(args)


def cmd_broker(argv: Sequence[str]) -> int:
    from devtools.broker import main as broker_main

    return broker_main(list(argv))


def cmd_fetch_media(argv: Sequence[str]) -> int:
    from devtools.media import main as media_main

    return media_main(list(argv))


# ---- parser ------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="liveness", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    sub.add_parser("broker", help="run the local single-node Kafka broker (see 'liveness broker --help')")
    sub.add_parser("fetch-media", help="fetch the pinned face videos and photos used by tests and the demo")
    sub.add_parser("generate", help="generate genuine and attack sessions from real faces (see --help)")
    sub.add_parser("evaluate", help="APCER per attack species and BPCER of a labelled corpus (see --help)")
    sub.add_parser("bench", help="benchmarks: throughput, scaling, latency, memory, wire cost (see --help)")
    sub.add_parser("evidence", help="a session's reference and audit images; 'evidence delete' (see --help)")

    topics = sub.add_parser("topics", help="create the pipeline's topics")
    _kafka_flags(topics)
    topics.add_argument("--verifier-app-id", default=VERIFIER_APP_ID)
    topics.set_defaults(handler=cmd_topics)

    for role, handler, text in (
        ("processor", cmd_processor, "frames -> observations worker (MediaPipe FaceMesh)"),
        ("verifier", cmd_verifier, "observations + sessions -> decisions worker (stateful)"),
    ):
        worker = sub.add_parser(role, help=text)
        _kafka_flags(worker)
        worker.add_argument(
            "--app-id", help="Faust app id = consumer group (default: <prefix>liveness-<role>)"
        )
        worker.add_argument("--web-port", type=int, help="serve Faust's web endpoints on this port")
        worker.add_argument(
            "--metrics-port",
            type=int,
            default=metrics_port_from_env(),
            help="serve Prometheus /metrics and /healthz on this port [LIVENESS_METRICS_PORT]",
        )
        if role == "verifier":
            worker.add_argument("--data-dir", help="table storage [LIVENESS_DATA_DIR, ./data/verifier]")
        worker.set_defaults(handler=handler)

    produce = sub.add_parser(
        "produce", help="publish one live session from a video, an image folder or a webcam"
    )
    _kafka_flags(produce)
    source = produce.add_mutually_exclusive_group(required=True)
    source.add_argument("--video", type=Path)
    source.add_argument("--images", type=Path)
    source.add_argument("--webcam", type=int, metavar="DEVICE")
    produce.add_argument("--fps", type=float, default=10.0)
    produce.add_argument("--max-frames", type=int, default=120)
    produce.add_argument("--quality", type=int, default=80, help="JPEG quality (default 80)")
    produce.add_argument("--max-width", type=int, default=640, help="downscale frames wider than this")
    produce.add_argument(
        "--wait", type=float, default=0, help="seconds to wait for the decision (0: do not wait)"
    )
    produce.set_defaults(handler=cmd_produce)

    replay = sub.add_parser("replay", help="replay recorded sessions and print each decision as JSON")
    _kafka_flags(replay)
    replay.add_argument("sessions", nargs="+", type=Path, metavar="DIR")
    replay.add_argument("--offline", action="store_true", help="run the same core in-process, no broker")
    replay.add_argument("--timeout", type=float, default=90.0)
    replay.set_defaults(handler=cmd_replay)

    gateway = sub.add_parser("gateway", help="HTTP/WebSocket gateway and web client for browsers")
    _kafka_flags(gateway)
    gateway.add_argument("--host", default="127.0.0.1", help="listen address (default 127.0.0.1)")
    gateway.add_argument("--port", type=int, default=8080, help="listen port (default 8080)")
    gateway.add_argument(
        "--challenge-weights",
        help="e.g. nose_sequence=3,turn=1 [LIVENESS_CHALLENGE_WEIGHTS, nose_sequence=1]",
    )
    gateway.add_argument(
        "--demo",
        action="store_true",
        help="public demo: the page creates its own session without a key [LIVENESS_GATEWAY_DEMO]",
    )
    gateway.set_defaults(handler=cmd_gateway)

    keys = sub.add_parser("keys", help="generate a tenant API key or a decision signing key pair")
    keys.add_argument("kind", choices=("api-key", "signing-key"))
    keys.set_defaults(handler=cmd_keys)

    demo = sub.add_parser(
        "demo", help="broker, workers and sample sessions from real face videos, end to end"
    )
    _kafka_flags(demo)
    demo.add_argument("--work-dir", type=Path, default=Path("out/demo"))
    demo.set_defaults(handler=cmd_demo)

    reliability = sub.add_parser(
        "reliability", help="crash, restart, rebalance, broker-outage and flood scenarios under load"
    )
    reliability.add_argument(
        "--scenarios",
        type=lambda text: [s for s in text.split(",") if s],
        help="comma-separated (default: all; baseline first sets the latency yardstick)",
    )
    reliability.add_argument("--sessions", type=int, default=24, help="sessions per scenario (default 24)")
    reliability.add_argument("--outage", type=float, default=5.0, help="broker outage in seconds (default 5)")
    reliability.add_argument(
        "--flood-frames", type=int, default=3000, help="frames of the flood (default 3000)"
    )
    reliability.add_argument(
        "--soak", type=float, default=0.0, help="then a steady load for this many seconds"
    )
    reliability.add_argument(
        "--brokers",
        type=int,
        choices=(1, 3),
        default=1,
        help="1: one broker (broker-restart is an outage); 3: a replicated cluster, topics with "
        "3 replicas and min.insync.replicas 2 (for leader-kill). Default 1",
    )
    reliability.add_argument("--json", type=Path, help="write the reports here as JSON")
    reliability.add_argument("--work-dir", type=Path, default=Path("out/reliability"))
    reliability.set_defaults(handler=cmd_reliability)

    from liveness.analytics import add_analytics_commands  # `decisions` and `report`

    add_analytics_commands(sub, _kafka_flags, _kafka)
    return parser


def cmd_bench(argv: Sequence[str]) -> int:
    from benchmarks.run import main as bench_main

    return bench_main(list(argv))


def cmd_generate(argv: Sequence[str]) -> int:
    from evaluation.cli import generate_main

    return generate_main(list(argv))


def cmd_evaluate(argv: Sequence[str]) -> int:
    from evaluation.cli import evaluate_main

    return evaluate_main(list(argv))


PASSTHROUGH: dict[str, Callable[[Sequence[str]], int]] = {
    "generate": cmd_generate,
    "evaluate": cmd_evaluate,
    "broker": cmd_broker,
    "fetch-media": cmd_fetch_media,
    "bench": cmd_bench,
    "evidence": cmd_evidence,
}


# What a source checkout has and the worker images leave out: the commands that use them
# (demo, reliability, broker, media, bench, generate, evaluate) are for developers.
DEVELOPER_PACKAGES = frozenset({"devtools", "evaluation", "benchmarks"})


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if argv and argv[0] in PASSTHROUGH:
            return PASSTHROUGH[argv[0]](argv[1:])
        args = build_parser().parse_args(argv)
        return int(args.handler(args) or 0)
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] not in DEVELOPER_PACKAGES:
            raise
        print(
            f"liveness {argv[0] if argv else ''}: a developer command; it needs the '{exc.name}' package "
            "of a source checkout (pip install -e '.[dev]'), which the worker images do not ship",
            file=sys.stderr,
        )
        return 2


if __name__ == "__main__":
    sys.exit(main())
