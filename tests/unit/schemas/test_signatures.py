"""Signed decisions: the Python helper, and the Node example of docs/decisions-schema.md run as documented."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import orjson
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from schemas.events import Check, Decision
from schemas.signatures import (
    DecisionSigner,
    SignatureError,
    keys_from_jwks,
    public_jwks,
    verify_decision,
)

DOC = Path(__file__).parents[3] / "docs" / "decisions-schema.md"
SIGNER = DecisionSigner(Ed25519PrivateKey.generate())
KEYS = keys_from_jwks(public_jwks([SIGNER.private_key.public_key()]))
DECISION = Decision(
    session_id="s-1",
    outcome="fail",
    reason="PLANAR_MOTION",
    challenge_type="nose_sequence",
    checks=(Check("nonplanarity", 0.0041, 1e-05, False),),
    frames_used=54,
    frames_ignored=2,
    started_at_ms=1_795_690_800_123,
    decided_at_ms=1_795_690_807_456,
    tenant="acme",
    user_ref="ab" * 32,
    reference_embedding=(0.08361, -0.1572),
)


def wire(decision: Decision) -> dict:
    return orjson.loads(orjson.dumps(decision.to_dict()))


def test_verify_decision_signed_decision_verifies() -> None:
    assert verify_decision(wire(SIGNER.sign(DECISION)), KEYS, "s-1") == DECISION


@pytest.mark.parametrize(
    "change",
    [{"outcome": "pass", "reason": "PASSED"}, {"frames_used": 55}, {"tenant": "globex"}, {"user_ref": None}],
)
def test_verify_decision_edited_field_fails(change: dict) -> None:
    edited = {**wire(SIGNER.sign(DECISION)), **change}
    with pytest.raises(SignatureError):
        verify_decision(edited, KEYS, "s-1")


def test_verify_decision_of_another_session_fails() -> None:
    other = wire(SIGNER.sign(dataclasses.replace(DECISION, session_id="s-2")))
    with pytest.raises(SignatureError, match="another session"):
        verify_decision(other, KEYS, "s-1")
    with pytest.raises(SignatureError):
        verify_decision({**other, "session_id": "s-1"}, KEYS, "s-1")


def test_verify_decision_unsigned_or_unknown_key_fails() -> None:
    with pytest.raises(SignatureError, match="not signed"):
        verify_decision(wire(DECISION), KEYS, "s-1")
    stranger = DecisionSigner(Ed25519PrivateKey.generate())
    with pytest.raises(SignatureError, match="unknown signing key"):
        verify_decision(wire(stranger.sign(DECISION)), KEYS, "s-1")


def test_decision_signer_repr_hides_the_key() -> None:
    assert "private" not in repr(SIGNER).lower() and SIGNER.kid in repr(SIGNER)


def _node_example() -> str:
    text = DOC.read_text()
    match = re.search(r"<!-- node-verify-example -->\n```js\n(.*?)```", text, re.S)
    assert match, "the Node example is missing from docs/decisions-schema.md"
    return match.group(1)


def test_node_example_of_the_contract_accepts_a_signed_decision_and_refuses_forgeries(tmp_path: Path) -> None:
    node = shutil.which("node")
    assert node, "node is needed to run the documented example"
    (tmp_path / "verify.mjs").write_text(_node_example())
    signed = wire(SIGNER.sign(DECISION))
    cases = {
        "genuine": (signed, "s-1"),
        "tampered": ({**signed, "signature": {**signed["signature"], "jws": _flip(signed)}}, "s-1"),
        "transplanted": (wire(SIGNER.sign(dataclasses.replace(DECISION, session_id="s-2"))), "s-1"),
        "stranger": (wire(DecisionSigner(Ed25519PrivateKey.generate()).sign(DECISION)), "s-1"),
    }
    (tmp_path / "cases.json").write_bytes(
        orjson.dumps({"jwks": public_jwks([SIGNER.private_key.public_key()]), "cases": cases})
    )
    runner = (
        'import { verifyDecision } from "./verify.mjs"; import { readFileSync } from "node:fs";\n'
        'const { jwks, cases } = JSON.parse(readFileSync("cases.json", "utf8"));\n'
        "const out = {};\n"
        "for (const [name, [decision, sid]] of Object.entries(cases)) {\n"
        "  try { out[name] = verifyDecision(decision, jwks, sid).outcome; }\n"
        "  catch (e) { out[name] = 'refused'; }\n"
        "}\n"
        "console.log(JSON.stringify(out));\n"
    )
    (tmp_path / "run.mjs").write_text(runner)
    result = subprocess.run([node, "run.mjs"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout) == {
        "genuine": "fail",
        "tampered": "refused",
        "transplanted": "refused",
        "stranger": "refused",
    }


def _flip(signed: dict) -> str:
    """The JWS with its payload's outcome changed from fail to pass (the signature kept)."""
    import base64

    head, payload, sig = signed["signature"]["jws"].split(".")
    body = orjson.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    body.update(outcome="pass", reason="PASSED")
    forged = base64.urlsafe_b64encode(orjson.dumps(body)).rstrip(b"=").decode()
    return f"{head}.{forged}.{sig}"
