"""The whole pipeline through a SASL_SSL listener (SCRAM-SHA-512, a certificate made here).

A broker of its own: a CA and a broker certificate for 127.0.0.1 generated with ``cryptography``
into a PKCS12 keystore, a SCRAM user written at format time. Topics, processor, verifier,
gateway and the decisions tail all reach it only through the SASL_SSL port.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import os
import random
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import orjson
import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from devtools.broker import BrokerConfig, LocalBroker, SaslSslListener, free_ports
from devtools.media import fetch_media
from devtools.stack import Stack, security_env
from evaluation.species import SPECIES, Draw, Studio
from liveness.replay import replay_streaming
from processors.landmarks import FaceAnalyzer
from producers.challenge_service import ChallengePolicy
from producers.gateway.server import make_app
from producers.gateway.settings import GatewaySettings
from producers.recording import RecordedSession, write_session
from runtime.settings import KafkaSettings

pytestmark = pytest.mark.integration

USER = "liveness"


def _certificate(subject: str, key: ec.EllipticCurvePrivateKey, issuer: tuple, ca: bool) -> x509.Certificate:
    issuer_name, issuer_key = issuer
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)]))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if not ca:
        names = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return builder.sign(issuer_key, hashes.SHA256())


def make_keystore(directory: Path, password: str) -> tuple[Path, Path]:
    """A CA (PEM, for the clients) and the broker's key and chain (PKCS12, for the broker)."""
    ca_key, broker_key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "liveness test CA")])
    ca_cert = _certificate("liveness test CA", ca_key, (ca_name, ca_key), ca=True)
    broker_cert = _certificate("127.0.0.1", broker_key, (ca_name, ca_key), ca=False)
    ca_file, keystore = directory / "ca.pem", directory / "broker.p12"
    ca_file.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    keystore.write_bytes(
        pkcs12.serialize_key_and_certificates(
            b"broker",
            broker_key,
            broker_cert,
            [ca_cert],
            serialization.BestAvailableEncryption(password.encode()),
        )
    )
    return ca_file, keystore


@pytest.fixture(scope="module")
def secure_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[KafkaSettings]:
    directory = Path(tmp_path_factory.mktemp("sasl-ssl"))
    store_password, user_password = secrets.token_hex(12), secrets.token_hex(12)
    ca_file, keystore = make_keystore(directory, store_password)
    port, controller_port, secure_port = free_ports(3)
    listener = SaslSslListener(
        port=secure_port, keystore=keystore, keystore_password=store_password, users=((USER, user_password),)
    )
    config = BrokerConfig(
        data_dir=directory / "kafka", port=port, controller_port=controller_port, sasl_ssl=listener
    )
    with LocalBroker(config):
        yield KafkaSettings(
            bootstrap=f"127.0.0.1:{secure_port}",
            topic_prefix="sec.",
            partitions=2,
            security_protocol="SASL_SSL",
            sasl_mechanism="SCRAM-SHA-512",
            sasl_username=USER,
            sasl_password=user_password,
            ssl_cafile=str(ca_file),
        )


def _recordings(out: Path) -> list[RecordedSession]:
    with FaceAnalyzer() as analyzer:
        studio = Studio.open(fetch_media(), analyzer)
        sessions = []
        for species in ("genuine", "photo_translated"):
            draft = SPECIES[species](studio, Draw(random.Random(100), np.random.default_rng(100), 0))
            path = write_session(
                out / species, f"sec-{species}", draft.challenge, 0, draft.frames, draft.label()
            )
            sessions.append(RecordedSession.load(path))
    return sessions


async def _gateway_sees(kafka: KafkaSettings, stack: Stack, session_ids: list[str]) -> list[dict]:
    """The gateway (demo mode: keyless polls see demo sessions) answers both decisions via SASL_SSL."""
    app = make_app(kafka, stack.keys, ChallengePolicy(), GatewaySettings(demo_mode=True))
    client = TestClient(TestServer(app))
    await client.start_server()
    try:
        async with asyncio.timeout(60):
            while (await client.get("/readyz")).status != 200:
                await asyncio.sleep(0.2)
            created = await client.post("/sessions", json={"image_width": 640, "image_height": 480})
            assert created.status in (200, 201), await created.text()  # its producer works too
            polls = []
            for sid in session_ids:
                while (response := await client.get(f"/sessions/{sid}")).status != 200 or (
                    await response.json()
                ).get("status") == "pending":
                    await asyncio.sleep(0.2)
                polls.append(await response.json())
        return polls
    finally:
        await client.close()


def test_sasl_ssl_pipeline_decides_genuine_and_photo_sessions(
    secure_kafka: KafkaSettings, tmp_path: Path
) -> None:
    recordings = _recordings(tmp_path)
    with Stack(kafka=secure_kafka, work_dir=tmp_path / "stack") as stack:
        genuine, photo = asyncio.run(replay_streaming(secure_kafka, recordings, stack.keys, timeout_s=180))
        assert genuine.outcome == "pass", genuine
        assert photo.outcome == "fail", photo
        polls = asyncio.run(_gateway_sees(secure_kafka, stack, [genuine.session_id, photo.session_id]))
        assert len(polls) == 2
        env = {**os.environ, **stack.env(), **security_env(secure_kafka)}
        tail = subprocess.run(
            [sys.executable, "-m", "liveness.cli", "decisions", "--from-beginning", "--json", "--limit", "2"],
            env=env,
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
        assert tail.returncode == 0, tail.stderr[-2000:]
        tailed = {
            orjson.loads(line)["session_id"] for line in tail.stdout.splitlines() if line.startswith("{")
        }
        assert tailed == {genuine.session_id, photo.session_id}
        for worker in stack.workers:
            assert worker.alive(), worker.log_tail()
