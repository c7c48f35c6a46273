"""Recorded sessions on disk: the stable format users, analysts and the evaluation tools share.

A recorded session is a directory::

    session.json   {"session_id", "challenge": {...}, "issued_at_ms"}
    frames/000000.jpg ...   JPEG frames in capture order
    frames.jsonl   one line per frame: {"seq", "captured_at_ms", "file"}
    label.json     optional: {"genuine": bool, "species": str, "source": str}
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from schemas.errors import SchemaError
from schemas.events import Challenge


@dataclass(frozen=True)
class RecordedFrame:
    seq: int
    captured_at_ms: int
    path: Path

    def jpeg(self) -> bytes:
        return self.path.read_bytes()


@dataclass(frozen=True)
class RecordedSession:
    """A session read back from its directory; frames are read lazily."""

    directory: Path
    session_id: str
    challenge: Challenge
    issued_at_ms: int
    frames: tuple[RecordedFrame, ...]
    label: dict[str, Any] | None = None

    @classmethod
    def load(cls, directory: str | Path) -> RecordedSession:
        directory = Path(directory)
        try:
            meta = orjson.loads((directory / "session.json").read_bytes())
            lines = (directory / "frames.jsonl").read_bytes().splitlines()
        except FileNotFoundError as exc:
            raise SchemaError(f"{directory} is not a recorded session: {exc.filename} is missing") from None
        frames = []
        for line in filter(None, lines):
            item = orjson.loads(line)
            frames.append(
                RecordedFrame(int(item["seq"]), int(item["captured_at_ms"]), directory / item["file"])
            )
        label_path = directory / "label.json"
        label = orjson.loads(label_path.read_bytes()) if label_path.exists() else None
        return cls(
            directory=directory,
            session_id=str(meta["session_id"]),
            challenge=Challenge.from_dict(meta["challenge"]),
            issued_at_ms=int(meta["issued_at_ms"]),
            frames=tuple(frames),
            label=label,
        )


def write_session(
    directory: str | Path,
    session_id: str,
    challenge: Challenge,
    issued_at_ms: int,
    frames: Iterable[tuple[int, bytes]],
    label: dict[str, Any] | None = None,
) -> Path:
    """Write ``(captured_at_ms, jpeg)`` frames as a recorded session; returns the directory."""
    directory = Path(directory)
    (directory / "frames").mkdir(parents=True, exist_ok=True)
    meta = {"session_id": session_id, "challenge": challenge.to_dict(), "issued_at_ms": issued_at_ms}
    (directory / "session.json").write_bytes(orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    lines = []
    for seq, (captured_at_ms, jpeg) in enumerate(frames):
        name = f"frames/{seq:06d}.jpg"
        (directory / name).write_bytes(jpeg)
        lines.append(orjson.dumps({"seq": seq, "captured_at_ms": captured_at_ms, "file": name}))
    (directory / "frames.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    if label is not None:
        (directory / "label.json").write_bytes(orjson.dumps(label, option=orjson.OPT_INDENT_2))
    return directory
