"""The aiokafka shell of ingress: publish session starts, frames and ends, keyed by session id."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType

from aiokafka import AIOKafkaProducer

from producers.challenge_service import ChallengeService
from producers.recording import RecordedSession
from runtime.settings import KafkaSettings
from schemas.clock import now_ms
from schemas.codec import encode, frame_headers
from schemas.events import FrameMeta, SessionEnded, SessionStarted
from schemas.limits import MAX_FRAME_RECORD_BYTES


class SessionPublisher:
    """An idempotent producer (acks=all) for the sessions and frames topics."""

    def __init__(self, kafka: KafkaSettings, linger_ms: int = 5, max_batch_bytes: int = 16384) -> None:
        # aiokafka keeps one batch per partition and one request per broker in flight: a
        # frame larger than the batch waits for the previous one's round trip. A publisher
        # of many concurrent streams needs batches that hold many frames.
        self._topics = kafka.topics
        self._producer = AIOKafkaProducer(
            **kafka.client_options(),
            acks="all",
            enable_idempotence=True,
            linger_ms=linger_ms,
            max_batch_size=max_batch_bytes,
            max_request_size=MAX_FRAME_RECORD_BYTES,  # the frames topic's max.message.bytes
        )

    async def start(self) -> None:
        await self._producer.start()

    async def stop(self) -> None:
        await self._producer.stop()

    async def __aenter__(self) -> SessionPublisher:
        await self.start()
        return self

    async def __aexit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        await self.stop()

    async def start_session(self, event: SessionStarted) -> None:
        await self._producer.send_and_wait(
            self._topics.sessions, encode(event), key=event.session_id.encode()
        )

    async def send_frame(self, meta: FrameMeta, jpeg: bytes) -> asyncio.Future[object]:
        """Queue a frame; the returned future resolves when the broker has it (await it to confirm)."""
        return await self._producer.send(
            self._topics.frames, jpeg, key=meta.session_id.encode(), headers=frame_headers(meta)
        )

    async def end_session(self, event: SessionEnded) -> None:
        await self._producer.send_and_wait(
            self._topics.sessions, encode(event), key=event.session_id.encode()
        )

    async def flush(self) -> None:
        await self._producer.flush()


async def publish_recording(
    publisher: SessionPublisher,
    recording: RecordedSession,
    service: ChallengeService,
    *,
    session_id: str | None = None,
    paced: bool = True,
    clock: Callable[[], int] = now_ms,
) -> SessionStarted:
    """Start a session with the recording's challenge and publish its frames, then end it.

    Capture times are rebased to now, and with ``paced`` the frames go out at
    their recorded rate: the verifier judges time on the server's clock, so a
    replay must take as long as the original took.
    """
    started = service.start(clock(), challenge=recording.challenge, session_id=session_id)
    await publisher.start_session(started)
    origin_ms = clock()
    first_ms = recording.frames[0].captured_at_ms if recording.frames else 0
    deliveries = []
    for frame in recording.frames:
        offset_ms = frame.captured_at_ms - first_ms
        if paced:
            delay_s = (origin_ms + offset_ms - clock()) / 1000
            if delay_s > 0:
                await asyncio.sleep(delay_s)
        meta = FrameMeta(started.session_id, frame.seq, origin_ms + offset_ms)
        deliveries.append(await publisher.send_frame(meta, frame.jpeg()))
    await asyncio.gather(*deliveries)
    last_seq = recording.frames[-1].seq if recording.frames else 0
    await publisher.end_session(SessionEnded(started.session_id, clock(), last_seq))
    return started
