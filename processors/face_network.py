"""The face-embedding network in a process of its own, so a pass never stalls the worker.

The identity stage's network (processors/face_resnet.py: dlib's ResNet on numpy's BLAS,
~16 ms of CPU a chip) runs in a child process: the worker's event loop (Kafka fetches,
sends, heartbeats) and its FaceMesh thread keep the interpreter's lock, and the network
uses the other core. The child runs BLAS on one thread, so an embedding never takes both
cores from FaceMesh. Only the 150x150 face chip (67 KB) goes over, 128 floats come back.

This module imports only numpy, the network and the settings module, so the child loads
neither MediaPipe nor OpenCV.
"""

from __future__ import annotations

import multiprocessing
import os
from multiprocessing.connection import Connection

import numpy as np
from numpy.typing import NDArray

from processors.face_resnet import FaceResNet
from runtime.settings import blas_threads, child_environment

# BLAS threads in the child: one, so the embedding and FaceMesh each keep a core.
CHILD_BLAS_THREADS = 1


def serve(connection: Connection, model_path: str) -> None:
    """The child: load the network, then answer each chip with its raw descriptor until the pipe closes."""
    network = FaceResNet(model_path)
    connection.send(True)  # loaded
    while True:
        try:
            chip = connection.recv()
        except EOFError:
            return
        connection.send(network.descriptor(chip))


class NetworkProcess:
    """One child process that runs the face network; ``descriptor`` blocks the caller, not the GIL.

    A plain pipe rather than a process pool: a chip and its answer each cross once, with no
    feeder or result thread to wake on the way, which matters on a busy machine. One caller at a
    time (the identity thread). A child that dies is replaced at the next chip, which is tried
    once more. Close it, or let interpreter exit end the child (a daemon).
    """

    def __init__(self, model_path: str, niceness: int = 0) -> None:
        """``niceness``: how much lower than the worker the child runs (Unix nice), for work
        that should give way to the worker's own."""
        self.model_path = model_path
        # Fixed now, against the worker's own priority: a child replaced later is started from
        # a thread that may itself run lower, and must not go lower still.
        self.nice = os.getpriority(os.PRIO_PROCESS, 0) + niceness if niceness else None
        self._process, self._connection = self._start()

    def _start(self) -> tuple[multiprocessing.process.BaseProcess, Connection]:
        # spawn, not fork: the worker has threads (MediaPipe's, Kafka's) a forked child would
        # inherit mid-flight.
        context = multiprocessing.get_context("spawn")
        ours, theirs = context.Pipe()
        process = context.Process(
            target=serve, args=(theirs, self.model_path), daemon=True, name="face-network"
        )
        with child_environment(blas_threads(CHILD_BLAS_THREADS)):
            process.start()
        theirs.close()
        if self.nice is not None and process.pid is not None:
            os.setpriority(os.PRIO_PROCESS, process.pid, self.nice)
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
