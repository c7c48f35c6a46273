"""dlib's face-embedding network in a process of its own: dlib keeps the GIL for a whole forward pass.

One pass takes ~75 ms of CPU, and the dlib binding does not release Python's lock while it
runs. Inside the processor worker that stalls everything else for those 75 ms: the event
loop (Kafka fetches, sends, heartbeats) and the Python half of every FaceMesh frame, so each
embedding delays every frame in flight. A child process runs the network instead; the
worker's identity thread waits for it without holding the lock, and FaceMesh and the
network use both cores. Only the 150x150 face chip (67 KB) goes over, 128 floats come back.

This module imports only dlib and numpy, so the child loads neither MediaPipe nor OpenCV.
"""

from __future__ import annotations

import multiprocessing
from multiprocessing.connection import Connection

import dlib
import numpy as np
from numpy.typing import NDArray


def serve(connection: Connection, model_path: str) -> None:
    """The child: load the network, then answer each chip with its raw descriptor until the pipe closes."""
    network = dlib.face_recognition_model_v1(model_path)
    connection.send(True)  # loaded
    while True:
        try:
            chip = connection.recv()
        except EOFError:
            return
        connection.send(np.asarray(network.compute_face_descriptor(chip), dtype=np.float32))


class NetworkProcess:
    """One child process that runs the face network; ``descriptor`` blocks the caller, not the GIL.

    A plain pipe rather than a process pool: a chip and its answer each cross once, with no
    feeder or result thread to wake on the way, which matters on a busy machine. One caller at a
    time (the identity thread). A child that dies is replaced at the next chip, which is tried
    once more. Close it, or let interpreter exit end the child (a daemon).
    """

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path
        self._process, self._connection = self._start()

    def _start(self) -> tuple[multiprocessing.process.BaseProcess, Connection]:
        # spawn, not fork: the worker has threads (MediaPipe's, Kafka's) a forked child would
        # inherit mid-flight.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve, args=(theirs, self.model_path), daemon=True, name="face-network"
        )
        process.start()
        theirs.close()
        if not ours.recv():  # wait for the model to load: start-up pays for it, not the first chip
            raise RuntimeError("the face network did not load")
        return process, ours

    @property
    def pid(self) -> int | None:
        """The child's process id."""
        return self._process.pid

    def descriptor(self, chip_rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The raw descriptor of ``chip_rgb``, computed in the child."""
        try:
            return self._ask(chip_rgb)
        except (EOFError, BrokenPipeError, ConnectionResetError):
            self.close()
            self._process, self._connection = self._start()
            return self._ask(chip_rgb)

    def _ask(self, chip_rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        self._connection.send(chip_rgb)
        descriptor: NDArray[np.float32] = self._connection.recv()
        return descriptor

    def close(self) -> None:
        """End the child: closing the pipe ends its loop."""
        self._connection.close()
        self._process.join(timeout=5)
        if self._process.is_alive():
            self._process.kill()
