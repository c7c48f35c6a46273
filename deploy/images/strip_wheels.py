"""Strip the debug symbols off the compiled extension modules of the wheels in a wheelhouse.

    python deploy/images/strip_wheels.py WHEEL_DIR

Many wheels ship their extension modules unstripped (mediapipe's bindings, fontTools' and
kiwisolver's Cython modules, aiohttp's parser...): ~45 MB of symbols in the processor's
wheelhouse that nothing reads at run time. The base image has no binutils, so the wheels are
stripped here, on the build host, and repacked with a matching RECORD. The libraries auditwheel
vendors (``*.libs/``) are left alone: they are stripped already, and their ELF headers were
rewritten by patchelf, which ``strip`` has been known to mishandle.
"""

from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path


def is_extension(name: str) -> bool:
    """An extension module of the wheel's own (not a vendored ``*.libs/`` library)."""
    top = name.split("/", 1)[0]
    return name.endswith(".so") and not top.endswith(".libs")


def record_line(name: str, data: bytes) -> str:
    """One RECORD row: path, urlsafe-base64 sha256 without padding, size."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"{name},sha256={digest},{len(data)}"


def strip_wheel(wheel: Path) -> int:
    """Rewrite ``wheel`` with stripped extension modules; the bytes saved (0: left as it was)."""
    with zipfile.ZipFile(wheel) as source:
        infos = source.infolist()
        if not any(is_extension(info.filename) for info in infos):
            return 0
        contents = {info.filename: source.read(info) for info in infos}
    before = sum(len(data) for data in contents.values())
    with tempfile.TemporaryDirectory() as scratch:
        for name in [name for name in contents if is_extension(name)]:
            path = Path(scratch) / "module.so"
            path.write_bytes(contents[name])
            subprocess.run(["strip", "--strip-unneeded", str(path)], check=True)
            contents[name] = path.read_bytes()
    record = next(name for name in contents if name.endswith(".dist-info/RECORD"))
    rows = [record_line(name, data) for name, data in contents.items() if name != record]
    contents[record] = ("\n".join([*rows, f"{record},,"]) + "\n").encode()
    repacked = wheel.with_suffix(".tmp")
    with zipfile.ZipFile(repacked, "w", zipfile.ZIP_DEFLATED) as target:
        for info in infos:
            target.writestr(info, contents[info.filename], compress_type=zipfile.ZIP_DEFLATED)
    repacked.replace(wheel)
    return before - sum(len(data) for data in contents.values())


def main(argv: list[str]) -> int:
    """Strip every wheel in the directory given; print what it saved."""
    if shutil.which("strip") is None:
        print("strip_wheels: no `strip` on PATH (Debian: apt-get install binutils)", file=sys.stderr)
        return 1
    saved = sum(strip_wheel(wheel) for wheel in sorted(Path(argv[0]).glob("*.whl")))
    print(f"stripped extension modules: {saved / 1e6:.1f} MB less")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
