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
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

import dlib
import numpy as np
from numpy.typing import NDArray

_network: dlib.face_recognition_model_v1 | None = None  # the child's, loaded once


def load_network(model_path: str) -> None:
    """The child's start: load the network once."""
    global _network
    _network = dlib.face_recognition_model_v1(model_path)


def network_descriptor(chip_rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
    """The network's raw 128-d descriptor of one aligned chip (in the child)."""
    if _network is None:
        raise RuntimeError("the face network is not loaded in this process")
    return np.asarray(_network.compute_face_descriptor(chip_rgb), dtype=np.float32)


def _loaded() -> bool:
    return _network is not None


class NetworkProcess:
    """One child process that runs the face network; ``descriptor`` blocks the caller, not the GIL.

    A child that dies (killed for memory, say) is replaced at the next chip, which is tried once
    more. Close it, or let interpreter exit stop the child.
    """

    def __init__(self, model_path: str) -> None:
        self.model_path = model_path
        self._pool = self._start()

    def _start(self) -> ProcessPoolExecutor:
        # spawn, not fork: the worker has threads (MediaPipe's, Kafka's) a forked child would inherit
        # mid-flight.
        pool = ProcessPoolExecutor(
            max_workers=1,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=load_network,
            initargs=(self.model_path,),
        )
        if not pool.submit(_loaded).result():  # start the child and load the model now, not at the first chip
            raise RuntimeError("the face network did not load")
        return pool

    def descriptor(self, chip_rgb: NDArray[np.uint8]) -> NDArray[np.float32]:
        """The raw descriptor of ``chip_rgb``, computed in the child."""
        try:
            return self._pool.submit(network_descriptor, chip_rgb).result()
        except BrokenProcessPool:
            self._pool = self._start()
            return self._pool.submit(network_descriptor, chip_rgb).result()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)
