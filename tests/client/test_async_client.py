"""The asyncio client against the real daemon: same surface as the sync one, awaited."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest

from ltx2_client import Accepted, AsyncClient, Cancelled, Client, Completed, InvalidArgument, Progress, VideoChunk
from ltx2_client.enums import Phase

SMALL = {"width": 64, "height": 64, "num_frames": 25, "steps": 2, "chunk_frames": 8}


def test_async_generate_matches_the_sync_client(address):
    async def main():
        async with AsyncClient(address) as client:
            events = [e async for e in client.generate("thunder", seed=9, cache_policy="bypass", **SMALL)]
            clip = await client.generate("thunder", seed=9, cache_policy="bypass", **SMALL).result()
            frames = [f async for f in client.generate("thunder", seed=9, cache_policy="bypass", **SMALL).frames()]
            return events, clip, frames

    events, clip, frames = asyncio.run(main())
    assert isinstance(events[0], Accepted) and isinstance(events[-1], Completed)
    assert sum(e.num_frames for e in events if isinstance(e, VideoChunk)) == 25
    np.testing.assert_array_equal(np.concatenate(frames), clip.frames)
    with Client(address) as sync:
        same = sync.generate("thunder", seed=9, cache_policy="bypass", **SMALL).result()
    np.testing.assert_array_equal(same.frames, clip.frames)
    np.testing.assert_array_equal(same.audio, clip.audio)
    assert abs(clip.audio_duration_s - clip.duration_s) <= 1 / clip.frame_rate


def test_async_info_health_and_invalid_argument(address):
    async def main():
        async with AsyncClient(address) as client:
            assert await client.health()
            info = await client.info()
            with pytest.raises(InvalidArgument) as error:
                await client.generate("x", height=100, width=64, num_frames=9).result()
            return info, error.value

    info, error = asyncio.run(main())
    assert info.protocol_version == 1
    assert error.field == "height" and "100" in error.message


def test_async_cancel_ends_the_stream_quietly(address):
    async def main():
        async with AsyncClient(address) as client:
            stream = client.generate("a long cutscene", width=256, height=256, num_frames=121, steps=100)
            async for event in stream:
                if isinstance(event, Progress) and event.phase == Phase.DENOISING:
                    await stream.cancel()
            with pytest.raises(Cancelled):
                await stream.result()
            for _ in range(100):
                if (await client.info()).running_job_id != stream.job_id:
                    break
                await asyncio.sleep(0.1)
            after = await client.generate("after the cancel", **SMALL).result()
            return stream, (await client.info()).running_job_id, after

    stream, running, after = asyncio.run(main())
    assert stream.cancelled and stream.completed is None
    assert running != stream.job_id
    assert after.num_frames == 25


def test_async_foley_brings_sound_of_exactly_the_frames(address):
    from ltx2_client import Frames

    rgb = np.random.default_rng(3).integers(0, 256, (10, 64, 64, 3), np.uint8)

    async def main():
        async with AsyncClient(address) as client:
            return await client.foley(Frames(rgb, 10.0), "a thud", seed=1, cache_policy="bypass").result()

    clip = asyncio.run(main())
    assert clip.num_frames == 0 and clip.audio.shape[0] == clip.sample_rate  # 10 frames at 10 fps: 1 s
