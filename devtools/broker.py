"""Local single-node Apache Kafka (KRaft) for tests, the demo and CI: fetch the jars, format, start, stop."""

from __future__ import annotations

import argparse
import asyncio
import base64
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Coroutine, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any, TypeVar

from runtime.settings import cache_dir_from_env
from schemas.errors import LivenessError

KAFKA_DEPLOY_DIR = Path(__file__).resolve().parents[1] / "deploy" / "kafka"
POM = KAFKA_DEPLOY_DIR / "pom.xml"
LOG4J2_CONFIG = KAFKA_DEPLOY_DIR / "log4j2.properties"
SERVER_TEMPLATE = KAFKA_DEPLOY_DIR / "server.properties.template"

# The JVM flags of Kafka's own bin/kafka-run-class.sh (KAFKA_JVM_PERFORMANCE_OPTS).
_JVM_OPTS = (
    "-server",
    "-XX:+UseG1GC",
    "-XX:MaxGCPauseMillis=20",
    "-XX:InitiatingHeapOccupancyPercent=35",
    "-XX:+ExplicitGCInvokesConcurrent",
    "-Djava.awt.headless=true",
)
_LOG_TAIL_LINES = 40
_POLL_S = 0.1

T = TypeVar("T")


class BrokerStartError(LivenessError):
    """The local broker could not be set up, started or reached; the message carries the log tail."""

    reason_code = "BROKER_START"


def default_cache_dir() -> Path:
    """Where the Kafka jars are kept between runs: $LIVENESS_CACHE_DIR or ~/.cache/liveness-stream."""
    return cache_dir_from_env()


def kafka_version(pom: Path = POM) -> str:
    """The Kafka version pinned in deploy/kafka/pom.xml."""
    match = re.search(r"<kafka\.version>([^<]+)</kafka\.version>", pom.read_text())
    if match is None:
        raise BrokerStartError(f"no <kafka.version> in {pom}")
    return match.group(1).strip()


@dataclasses.dataclass(frozen=True, kw_only=True)
class SaslSslListener:
    """An extra ``SASL_SSL`` listener (SCRAM-SHA-512) next to the PLAINTEXT one; off by default.

    ``keystore``: a PKCS12 file with the broker's key and certificate chain; ``users``: the
    SCRAM credentials written into the storage when it is formatted (KRaft has no ZooKeeper to
    add them to later). The PLAINTEXT listener stays, for the broker's own readiness checks.
    """

    port: int
    keystore: Path
    keystore_password: str = dataclasses.field(repr=False)
    users: tuple[tuple[str, str], ...] = dataclasses.field(default=(), repr=False)
    mechanism: str = "SCRAM-SHA-512"

    def properties(self) -> str:
        """Server properties added after the template's (later keys win in a properties file)."""
        return "\n".join(
            [
                "",
                "# Opt-in SASL_SSL listener (devtools/broker.py SaslSslListener)",
                "listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port},"
                f"SASL_SSL://127.0.0.1:{self.port}",
                f"advertised.listeners=PLAINTEXT://127.0.0.1:{{port}},SASL_SSL://127.0.0.1:{self.port}",
                "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_SSL:SASL_SSL",
                f"sasl.enabled.mechanisms={self.mechanism}",
                f"listener.name.sasl_ssl.{self.mechanism.lower()}.sasl.jaas.config="
                "org.apache.kafka.common.security.scram.ScramLoginModule required;",
                "listener.name.sasl_ssl.ssl.keystore.type=PKCS12",
                f"listener.name.sasl_ssl.ssl.keystore.location={self.keystore}",
                f"listener.name.sasl_ssl.ssl.keystore.password={self.keystore_password}",
                f"listener.name.sasl_ssl.ssl.key.password={self.keystore_password}",
                "",
            ]
        )

    def scram_arguments(self) -> list[str]:
        """``--add-scram`` arguments of ``StorageTool format``, one per user."""
        return [
            argument
            for name, password in self.users
            for argument in ("--add-scram", f"{self.mechanism}=[name={name},password={password}]")
        ]


@dataclasses.dataclass(frozen=True, kw_only=True)
class BrokerConfig:
    """Where and how the local broker runs."""

    data_dir: Path
    port: int = 9092
    controller_port: int = 9093
    cache_dir: Path = dataclasses.field(default_factory=default_cache_dir)
    heap_opts: str = "-Xms512m -Xmx1g"
    sasl_ssl: SaslSslListener | None = None  # an extra SASL_SSL listener, for security tests
    node_id: int = 1
    # KRaft voters, "id@host:port,..."; None: this node alone.
    voters: str | None = None
    # Replicas of Kafka's own topics (consumer offsets, transactions): at most the node count.
    internal_replicas: int = 1
    # Every node of a cluster is formatted with the same id; None: a random one.
    cluster_id: str | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_dirs(self) -> Path:
        """Kafka's own data (KRaft metadata and partitions), apart from our log and pid files."""
        return self.data_dir / "kraft-logs"

    @property
    def pid_file(self) -> Path:
        return self.data_dir / "broker.pid"

    @property
    def console_log(self) -> Path:
        """The JVM's stdout/stderr: warnings, errors and the start-up line."""
        return self.data_dir / "broker.out"


def ensure_jars(cache_dir: Path) -> Path:
    """Resolve the broker's jars with Maven into cache_dir/kafka-<version>/lib once; return that folder.

    A marker holding the pom's hash is written last, so an interrupted download
    or a changed pom is resolved again.
    """
    lib = cache_dir / f"kafka-{kafka_version()}" / "lib"
    marker = lib.parent / "complete.sha256"
    pom_hash = hashlib.sha256(POM.read_bytes()).hexdigest()
    if marker.is_file() and marker.read_text().strip() == pom_hash and lib.is_dir():
        return lib
    mvn = _require_executable("mvn", "install Maven (Debian: apt-get install maven)")
    staging = lib.parent / f"lib.partial-{os.getpid()}"
    shutil.rmtree(staging, ignore_errors=True)
    command = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies"]
    command += [f"-DoutputDirectory={staging}", "-DincludeScope=runtime"]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        raise BrokerStartError(f"mvn could not fetch the Kafka jars:\n{_tail(result.stdout + result.stderr)}")
    # Rename last, so a concurrent or interrupted run never sees a half-filled lib.
    shutil.rmtree(lib, ignore_errors=True)
    staging.rename(lib)
    marker.write_text(pom_hash + "\n")
    return lib


class LocalBroker:
    """One local Kafka process (broker and KRaft controller in one), started and stopped by this object.

    `with LocalBroker(config) as broker:` starts it and stops it on exit.
    """

    def __init__(self, config: BrokerConfig) -> None:
        # Absolute, because the data dir ends up in the JVM's command line, where `stop` looks for it.
        self.config = dataclasses.replace(config, data_dir=config.data_dir.resolve())
        self.startup_s: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._console: IO[bytes] | None = None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def bootstrap(self) -> str:
        return self.config.bootstrap

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self, timeout_s: float = 60) -> None:
        """Format the storage if new, start the JVM and return once topics can be created.

        `startup_s` measures from here to ready, without the one-time jar download.
        """
        if self._process is not None:
            raise BrokerStartError(f"broker already started (pid {self.pid})")
        config = self.config
        _refuse_running(config)
        extra = (config.sasl_ssl.port,) if config.sasl_ssl is not None else ()
        for port in (config.port, config.controller_port, *extra):
            _require_free_port(port)
        lib = ensure_jars(config.cache_dir)
        started_at = time.monotonic()
        config.data_dir.mkdir(parents=True, exist_ok=True)
        properties = _write_server_properties(config)
        java = _require_executable(
            "java", "install a JDK 17+ (Debian: apt-get install openjdk-17-jre-headless)"
        )
        if not (config.log_dirs / "meta.properties").is_file():
            _format_storage(java, lib, config, properties)
        try:
            self._launch(java, lib, properties)
            self._wait_until_ready(started_at + timeout_s)
        except BaseException:
            self.stop()
            raise
        self.startup_s = time.monotonic() - started_at

    def stop(self, timeout_s: float = 30) -> None:
        """SIGTERM the broker's process group (clean shutdown); SIGKILL it if alive after timeout_s."""
        process, self._process = self._process, None
        if process is not None:
            _signal_group(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _signal_group(process.pid, signal.SIGKILL)
                process.wait()
            with contextlib.suppress(FileNotFoundError):
                if _read_pid(self.config.pid_file) == process.pid:
                    self.config.pid_file.unlink()
        if self._console is not None:
            self._console.close()
            self._console = None

    def kill(self) -> None:
        """SIGKILL the broker's process group, as a crash or a lost machine would; the data dir stays."""
        process, self._process = self._process, None
        if process is not None:
            _signal_group(process.pid, signal.SIGKILL)
            process.wait()
        if self._console is not None:
            self._console.close()
            self._console = None

    def wait(self) -> int:
        """Block until the broker exits; return its exit code."""
        if self._process is None:
            raise BrokerStartError("broker not started")
        return self._process.wait()

    def __enter__(self) -> LocalBroker:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _launch(self, java: str, lib: Path, properties: Path) -> None:
        config = self.config
        self._console = config.console_log.open("ab")
        command = [java, *config.heap_opts.split(), *_JVM_OPTS, *_log_opts(config)]
        command += ["-cp", f"{lib}/*", "kafka.Kafka", str(properties)]
        # Own session: Ctrl-C in a terminal or pytest does not hit the JVM directly,
        # and stop() can signal the whole group.
        self._process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=self._console,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        config.pid_file.write_text(f"{self._process.pid}\n")

    def _wait_until_ready(self, deadline: float) -> None:
        config = self.config
        # Cheap local check first, so the JVM exiting early (bad config, port taken) fails fast.
        while not _port_open(config.port):
            self._raise_if_exited()
            if time.monotonic() > deadline:
                raise BrokerStartError(self._failure("did not open its port in time"))
            time.sleep(_POLL_S)
        cluster_id = self._await_metadata(deadline)
        expected = _cluster_id(config)
        if cluster_id != expected:
            raise BrokerStartError(
                self._failure(f"port {config.port} answers for cluster {cluster_id}, not ours ({expected})")
            )

    def _await_metadata(self, deadline: float) -> str:
        try:
            return wait_until_ready(self.bootstrap, max(deadline - time.monotonic(), 1.0))
        except BrokerStartError as exc:
            self._raise_if_exited()
            raise BrokerStartError(self._failure(str(exc))) from exc

    def _raise_if_exited(self) -> None:
        if self._process is not None and (code := self._process.poll()) is not None:
            raise BrokerStartError(self._failure(f"exited with code {code}"))

    def _failure(self, what: str) -> str:
        config = self.config
        server_log = config.data_dir / "server.log"
        # The console has the errors (and JVM failures); the INFO log shows how far start-up got.
        return (
            f"Kafka broker at {config.bootstrap} {what}.\n"
            f"--- end of {config.console_log} ---\n{_tail_file(config.console_log)}\n"
            f"--- end of {server_log} ---\n{_tail_file(server_log, lines=10)}"
        )


def wait_until_ready(bootstrap: str, timeout_s: float = 30.0) -> str:
    """Block until the broker at bootstrap can create topics; return its cluster id.

    For brokers this process did not start (CI's, LIVENESS_BOOTSTRAP).
    """
    from liveness.topics_admin import wait_for_broker  # aiokafka only when a broker is used

    try:
        return run_coroutine(wait_for_broker(bootstrap, timeout_s))
    except TimeoutError as exc:
        raise BrokerStartError(str(exc)) from exc


def free_ports(count: int = 2) -> list[int]:
    """Ports on 127.0.0.1 that were free a moment ago (for a broker per test session)."""
    with contextlib.ExitStack() as stack:
        sockets = [
            stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) for _ in range(count)
        ]
        # All bound at once, so the kernel cannot hand out the same port twice.
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]


def stop_detached(config: BrokerConfig, timeout_s: float = 30) -> bool:
    """Stop the broker a `start` left running on config.data_dir; return False if none was running."""
    config = dataclasses.replace(config, data_dir=config.data_dir.resolve())
    pid = _read_pid(config.pid_file)
    if pid is None or not _is_our_broker(pid, config):
        config.pid_file.unlink(missing_ok=True)
        return False
    _signal_group(pid, signal.SIGTERM)
    # Not our child: poll for it to vanish (init reaps it) instead of waitpid.
    deadline = time.monotonic() + timeout_s
    while _is_our_broker(pid, config) and time.monotonic() < deadline:
        time.sleep(_POLL_S)
    if _is_our_broker(pid, config):
        _signal_group(pid, signal.SIGKILL)
    config.pid_file.unlink(missing_ok=True)
    return True


def _log_opts(config: BrokerConfig) -> list[str]:
    return [f"-Dlog4j2.configurationFile={LOG4J2_CONFIG}", f"-Dkafka.logs.dir={config.data_dir}"]


def _write_server_properties(config: BrokerConfig) -> Path:
    template = SERVER_TEMPLATE.read_text()
    if config.sasl_ssl is not None:
        template += config.sasl_ssl.properties()
    text = template.format(
        node_id=config.node_id,
        voters=config.voters or f"{config.node_id}@127.0.0.1:{config.controller_port}",
        port=config.port,
        controller_port=config.controller_port,
        data_dir=config.data_dir,
        internal_replicas=config.internal_replicas,
        internal_min_isr=min(2, config.internal_replicas),
    )
    path = config.data_dir / "server.properties"
    path.write_text(text)
    return path


def _format_storage(java: str, lib: Path, config: BrokerConfig, properties: Path) -> None:
    command = [java, *_log_opts(config), "-cp", f"{lib}/*", "kafka.tools.StorageTool", "format"]
    command += ["-t", config.cluster_id or random_cluster_id(), "-c", str(properties)]
    if config.sasl_ssl is not None:
        command += config.sasl_ssl.scram_arguments()
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise BrokerStartError(
            f"formatting {config.log_dirs} failed:\n{_tail(result.stdout + result.stderr)}"
        )


def random_cluster_id() -> str:
    """What `StorageTool random-uuid` prints, without a ~1 s JVM start for it.

    Kafka's Uuid is 16 random bytes in URL-safe base64 without padding; it never
    hands out an id starting with "-" (it would read as a command-line flag).
    """
    while True:
        text = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
        if not text.startswith("-"):
            return text


def _cluster_id(config: BrokerConfig) -> str | None:
    meta = config.log_dirs / "meta.properties"
    for line in meta.read_text().splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "cluster.id":
            return value.strip()
    return None


def run_coroutine(coroutine: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine to completion from blocking code, in a helper thread.

    The thread keeps it working when the caller already runs an event loop
    (asyncio.run would refuse) and leaves the caller's current loop untouched
    (asyncio.run resets it to None, which upsets pytest-asyncio's loops).
    """
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def _require_executable(name: str, hint: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise BrokerStartError(f"{name!r} not found on PATH; {hint}")
    return path


def _require_free_port(port: int) -> None:
    # Otherwise a broker already on the port would answer the readiness probe for ours.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError as exc:
            raise BrokerStartError(f"port {port} on 127.0.0.1 is already in use ({exc.strerror})") from exc


def _port_open(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(1.0)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _refuse_running(config: BrokerConfig) -> None:
    pid = _read_pid(config.pid_file)
    if pid is not None and _is_our_broker(pid, config):
        raise BrokerStartError(
            f"a broker from {config.data_dir} is already running (pid {pid}); stop it first "
            f"(liveness broker stop --data-dir {config.data_dir})"
        )


def _read_pid(pid_file: Path) -> int | None:
    try:
        return int(pid_file.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None


def _is_our_broker(pid: int, config: BrokerConfig) -> bool:
    """Whether pid is a Kafka JVM on this data dir's properties (a pid file can outlive its process)."""
    try:
        command_line = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    properties = str(config.data_dir / "server.properties").encode()
    return b"kafka.Kafka" in command_line and properties in command_line


def _signal_group(pid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signum)


def _tail(text: str, lines: int = _LOG_TAIL_LINES) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _tail_file(path: Path, lines: int = _LOG_TAIL_LINES) -> str:
    try:
        return _tail(path.read_text(errors="replace"), lines)
    except FileNotFoundError:
        return "(not written)"


def _follow(path: Path, broker: LocalBroker, offset: int) -> None:
    """Echo what the broker writes to its console log until it exits (`run` in a terminal)."""
    with path.open("rb") as log:
        log.seek(offset)
        while True:
            chunk = log.read()
            if chunk:
                sys.stdout.buffer.write(chunk)
                sys.stdout.flush()
            elif not broker.running:
                return
            else:
                time.sleep(0.5)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="liveness broker",
        description="Local single-node Apache Kafka (KRaft) for tests, the demo and CI.",
    )
    parser.add_argument(
        "command",
        choices=["run", "start", "stop", "fetch"],
        help="run: in the foreground until Ctrl-C; start: detached, pid file in the data dir; "
        "stop: the broker `start` left running; fetch: only download the jars",
    )
    parser.add_argument("--port", type=int, default=9092, help="client (PLAINTEXT) port (default 9092)")
    parser.add_argument(
        "--controller-port", type=int, default=None, help="KRaft controller port (default: port + 1)"
    )
    parser.add_argument(
        "--data-dir",
        type=Path,
        default=None,
        help="broker data, logs and pid file (default: <cache dir>/kafka-data)",
    )
    parser.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="jar cache (default: $LIVENESS_CACHE_DIR or ~/.cache/liveness-stream)",
    )
    parser.add_argument("--timeout-s", type=float, default=60.0, help="start-up/stop timeout (default 60)")
    return parser


def _config_from(args: argparse.Namespace) -> BrokerConfig:
    cache_dir = args.cache_dir or default_cache_dir()
    return BrokerConfig(
        data_dir=(args.data_dir or cache_dir / "kafka-data").resolve(),
        port=args.port,
        controller_port=args.controller_port or args.port + 1,
        cache_dir=cache_dir,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """`liveness broker {run,start,stop,fetch}`; returns the process exit code."""
    args = _parser().parse_args(argv)
    config = _config_from(args)
    try:
        return _COMMANDS[args.command](config, args.timeout_s)
    except BrokerStartError as exc:
        print(f"liveness broker: {exc}", file=sys.stderr)
        return 1


def _cmd_fetch(config: BrokerConfig, timeout_s: float) -> int:
    print(ensure_jars(config.cache_dir))
    return 0


def _cmd_start(config: BrokerConfig, timeout_s: float) -> int:
    broker = LocalBroker(config)
    broker.start(timeout_s)
    # Leave the JVM running; its pid file lets `stop` find it later.
    print(broker.bootstrap)
    print(
        f"pid {broker.pid}, started in {broker.startup_s:.1f} s, logs in {config.data_dir}", file=sys.stderr
    )
    return 0


def _cmd_stop(config: BrokerConfig, timeout_s: float) -> int:
    if not stop_detached(config, timeout_s):
        print(f"no broker running from {config.data_dir}", file=sys.stderr)
    return 0


def _cmd_run(config: BrokerConfig, timeout_s: float) -> int:
    offset = config.console_log.stat().st_size if config.console_log.exists() else 0
    broker = LocalBroker(config)
    # SIGTERM (docker stop, CI) shuts down as cleanly as Ctrl-C does.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        broker.start(timeout_s)
        print(f"Kafka ready at {broker.bootstrap} in {broker.startup_s:.1f} s (Ctrl-C stops it)", flush=True)
        _follow(config.console_log, broker, offset)
        return broker.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        broker.stop(timeout_s)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


_COMMANDS = {"fetch": _cmd_fetch, "start": _cmd_start, "stop": _cmd_stop, "run": _cmd_run}


if __name__ == "__main__":
    sys.exit(main())
