"""Batches of what is there: a lone event goes at once, a backlog goes in batches, acks follow handling."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any

import pytest

from runtime.faust_app import in_ready_batches


class Stream:
    """A stream whose events come from ``feed``; it records what was acknowledged, in order."""

    def __init__(self, feed: Any) -> None:
        self.feed, self.acked = feed, []  # type: ignore[var-annotated]

    def noack(self) -> Stream:
        return self

    def events(self) -> AsyncIterator[Any]:
        return self.feed()

    async def ack(self, event: Any) -> bool:
        self.acked.append(event)
        return True


class Handler:
    """Records each batch and the events acknowledged when it came; waits for ``release`` if given."""

    def __init__(self, stream: Stream, release: asyncio.Event | None = None) -> None:
        self.stream, self.release = stream, release
        self.batches: list[list[Any]] = []
        self.acked_before: list[list[Any]] = []
        self.got_first = asyncio.Event()

    async def __call__(self, events: Sequence[Any]) -> None:
        self.batches.append(list(events))
        self.acked_before.append(list(self.stream.acked))
        self.got_first.set()
        if self.release is not None and len(self.batches) == 1:
            await self.release.wait()


async def run_until(condition: asyncio.Event, stream: Stream, most: int, handler: Handler) -> None:
    """Run the batcher until ``condition``, at most 5 s (a batcher that waits for more fails here)."""
    task = asyncio.create_task(in_ready_batches(stream, most, handler))  # type: ignore[arg-type]
    try:
        async with asyncio.timeout(5):
            await condition.wait()
            await asyncio.sleep(0)  # let the acks of the last batch land
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


def test_a_lone_event_is_handled_without_waiting_for_more() -> None:
    async def scenario() -> Handler:
        async def feed() -> AsyncIterator[str]:
            yield "e1"
            await asyncio.Event().wait()  # nothing else ever comes

        stream = Stream(feed)
        handler = Handler(stream)
        await run_until(handler.got_first, stream, 8, handler)
        return handler

    handler = asyncio.run(scenario())

    assert handler.batches == [["e1"]]


def test_events_that_arrive_while_the_handler_is_busy_form_the_next_batch_of_at_most_most() -> None:
    async def scenario() -> tuple[Handler, Stream]:
        release, done = asyncio.Event(), asyncio.Event()

        async def feed() -> AsyncIterator[str]:
            yield "e1"
            await handler.got_first.wait()
            for name in ("e2", "e3", "e4", "e5", "e6"):
                yield name
            release.set()  # all five are queued before the first batch ends
            await asyncio.Event().wait()

        stream = Stream(feed)
        handler = Handler(stream, release)

        async def watch() -> None:
            while len(stream.acked) < 6:
                await asyncio.sleep(0.01)
            done.set()

        watcher = asyncio.create_task(watch())
        await run_until(done, stream, 3, handler)
        await watcher
        return handler, stream

    handler, stream = asyncio.run(scenario())

    assert handler.batches == [["e1"], ["e2", "e3", "e4"], ["e5", "e6"]]
    # A batch is acknowledged after it is handled, never before.
    assert handler.acked_before == [[], ["e1"], ["e1", "e2", "e3", "e4"]]
    assert stream.acked == ["e1", "e2", "e3", "e4", "e5", "e6"]


def test_a_handler_error_ends_the_batcher_and_leaves_its_batch_unacknowledged() -> None:
    stream_holder: list[Stream] = []

    async def scenario() -> None:
        async def feed() -> AsyncIterator[str]:
            yield "e1"
            await asyncio.Event().wait()

        async def failing(events: Sequence[Any]) -> None:
            raise RuntimeError("model failed")

        stream = Stream(feed)
        stream_holder.append(stream)
        async with asyncio.timeout(5):
            await in_ready_batches(stream, 8, failing)  # type: ignore[arg-type]

    with pytest.raises(ExceptionGroup) as raised:
        asyncio.run(scenario())

    assert raised.group_contains(RuntimeError, match="model failed")
    assert stream_holder[0].acked == []
