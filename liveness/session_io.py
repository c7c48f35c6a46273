"""Publish a live session from a local source (video file, image folder, webcam) and await its decision."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Iterator

import numpy as np

from producers.challenge_service import ChallengePolicy, ChallengeService
from producers.decision_watcher import DecisionWatcher
from producers.publisher import SessionPublisher
from producers.sources import encode_jpeg, image_folder_frames, video_frames, webcam_frames
from runtime.settings import KafkaSettings
from schemas.clock import now_ms
from schemas.events import Decision, FrameMeta, SessionEnded
from schemas.tokens import TokenKeys


def _frames(args: argparse.Namespace) -> Iterator[np.ndarray]:
    if args.video:
        return video_frames(args.video, fps=args.fps, max_frames=args.max_frames)
    if args.images:
        return image_folder_frames(args.images)
    return webcam_frames(args.webcam, fps=args.fps, max_frames=args.max_frames)


async def produce_live(kafka: KafkaSettings, keys: TokenKeys, args: argparse.Namespace) -> Decision | None:
    """Issue a challenge for the source's frame size, stream its frames at ``args.fps``, end the session."""
    frames = _frames(args)
    first = next(frames)
    jpeg = encode_jpeg(first, args.quality, args.max_width)
    height, width = first.shape[:2]
    scale = min(1.0, args.max_width / width)
    policy = ChallengePolicy(image_width=round(width * scale), image_height=round(height * scale))
    started = ChallengeService(keys, policy).start(now_ms())
    watcher = DecisionWatcher(kafka) if args.wait else None
    if watcher:
        await watcher.start()
    try:
        async with SessionPublisher(kafka) as publisher:
            await publisher.start_session(started)
            seq, period_s = 0, 1.0 / args.fps
            deliveries = [await publisher.send_frame(FrameMeta(started.session_id, seq, now_ms()), jpeg)]
            for frame in frames:
                await asyncio.sleep(period_s)
                seq += 1
                meta = FrameMeta(started.session_id, seq, now_ms())
                deliveries.append(
                    await publisher.send_frame(meta, encode_jpeg(frame, args.quality, args.max_width))
                )
            await asyncio.gather(*deliveries)
            await publisher.end_session(SessionEnded(started.session_id, now_ms(), seq))
        if watcher:
            return (await watcher.wait_for({started.session_id}, args.wait))[started.session_id]
        return None
    finally:
        if watcher:
            await watcher.stop()
