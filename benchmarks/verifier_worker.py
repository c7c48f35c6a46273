"""The verifier worker's rate alone, for before/after runs: ``python -m benchmarks.verifier_worker [N]``.

Uses the broker at ``$LIVENESS_BOOTSTRAP`` and the same measurement as ``liveness bench``
(``measure.verifier_worker_rate``); run it with ``PYTHONPATH`` at one checkout, then at the
other, to compare two versions of the worker on one broker in one sitting.
"""

from __future__ import annotations

import sys
from pathlib import Path

import orjson

from benchmarks import measure
from benchmarks.frames import genuine_recordings
from runtime.settings import existing_bootstrap_from_env


def main(sessions: int = 400, work_dir: Path = Path("out/bench")) -> dict[str, float]:
    recording = genuine_recordings(work_dir / "sessions", 1)[0]
    template = measure.observations_of(recording)
    bootstrap = existing_bootstrap_from_env()
    if bootstrap is None:
        raise SystemExit("LIVENESS_BOOTSTRAP is not set: the bench starts this worker with its broker")
    bench = measure.Bench(bootstrap, work_dir)
    return measure.verifier_worker_rate(bench, template, recording, sessions)


if __name__ == "__main__":
    print(orjson.dumps(main(int(sys.argv[1]) if len(sys.argv) > 1 else 400)).decode())
