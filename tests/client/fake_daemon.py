"""An in-process gRPC server speaking the ltx2d contract with synthetic but consistent events.

It lets the SDK's logic (retries, cancel, error mapping, contract checks) be tested in
milliseconds, including failures a real daemon cannot be made to produce on demand.
"""

from __future__ import annotations

import itertools
import threading
import time
from concurrent import futures
from dataclasses import dataclass, field

import grpc
import numpy as np

from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2 as pb
from ltx2_client.proto.ltx2d.v1 import ltx2d_pb2_grpc as pb_grpc

SAMPLE_RATE = 24_000


def expected_frames(width: int, height: int, num_frames: int) -> np.ndarray:
    """The frames the fake sends: frame i is filled with i, plus an x gradient in green."""
    frames = np.zeros((num_frames, height, width, 3), np.uint8)
    frames[..., 0] = np.arange(num_frames, dtype=np.uint8)[:, None, None]
    frames[..., 1] = (np.arange(width) % 256).astype(np.uint8)[None, None, :]
    return frames


def expected_audio(num_samples: int) -> np.ndarray:
    """The s16 stereo samples the fake sends: a ramp in the left channel, its negative in the right."""
    left = (np.arange(num_samples) % 2000 - 1000).astype(np.int16)
    return np.stack([left, -left], axis=1)


def samples_for(num_frames: int, frame_rate: float) -> int:
    return round(num_frames / frame_rate * SAMPLE_RATE)


@dataclass
class Behaviour:
    """Knobs a test turns to make the fake misbehave."""

    unavailable_before_accept: int = 0  # abort this many Generate calls with UNAVAILABLE first
    unavailable_after_accept: bool = False  # abort with UNAVAILABLE after sending Accepted
    event_delay_s: float = 0.0
    skip_frame_index: bool = False  # send a gap in frame indices
    progress_inside_chunk: bool = False  # send a Progress between a chunk's audio and its video
    generate_calls: int = 0
    cancels: list[str] = field(default_factory=list)
    cancelled_jobs: list[str] = field(default_factory=list)
    last_metadata: dict[str, str] = field(default_factory=dict)


class FakeLtx2d(pb_grpc.Ltx2dServicer):
    def __init__(self, behaviour: Behaviour, token: str | None = None) -> None:
        self.b = behaviour
        self.token = token
        self._next_id = 0
        self._lock = threading.Lock()

    def _auth(self, context: grpc.ServicerContext) -> None:
        md = dict(context.invocation_metadata())
        self.b.last_metadata = md
        if self.token and md.get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong token")

    def _invalid(self, context: grpc.ServicerContext, name: str, value: object, rule: str) -> None:
        context.set_trailing_metadata((("ltx2d-field", name),))
        context.abort(grpc.StatusCode.INVALID_ARGUMENT, f"{name}={value!r}: {rule}")

    def Generate(self, request, context):
        self._auth(context)
        self.b.generate_calls += 1
        if self.b.unavailable_before_accept > 0:
            self.b.unavailable_before_accept -= 1
            context.abort(grpc.StatusCode.UNAVAILABLE, "warming up")
        width = request.width if request.HasField("width") else 64
        height = request.height if request.HasField("height") else 64
        if width % 32:
            self._invalid(context, "width", width, "must be a multiple of 32")
        num_frames = request.num_frames if request.HasField("num_frames") else 17
        if (num_frames - 1) % 8:
            self._invalid(context, "num_frames", num_frames, "must be 8k+1")
        frame_rate = request.frame_rate if request.HasField("frame_rate") else 24.0
        steps = request.steps if request.HasField("steps") else 2
        chunk = request.chunk_frames if request.HasField("chunk_frames") else 8
        seed = request.seed if request.HasField("seed") else 1234
        num_samples = samples_for(num_frames, frame_rate)
        with self._lock:
            self._next_id += 1
            job_id = f"job-{self._next_id}"
        cancelled = threading.Event()
        context.add_callback(cancelled.set)
        fmt = pb.ClipFormat(
            width=width,
            height=height,
            num_frames=num_frames,
            frame_rate=frame_rate,
            sample_rate=SAMPLE_RATE,
            channels=2,
            num_samples=num_samples,
            sample_format=pb.SAMPLE_FORMAT_S16LE,
            frame_format=pb.FRAME_FORMAT_RGB8,
            seed=seed,
            steps=steps,
            audio_only=request.audio_only,
        )
        yield pb.GenerateEvent(job_id=job_id, accepted=pb.Accepted(job_id=job_id, format=fmt))
        if self.b.unavailable_after_accept:
            context.abort(grpc.StatusCode.UNAVAILABLE, "connection lost")
        for step in range(1, steps + 1):
            if cancelled.is_set() or job_id in self.b.cancels:
                self.b.cancelled_jobs.append(job_id)
                context.abort(grpc.StatusCode.CANCELLED, "cancelled")
            time.sleep(self.b.event_delay_s)
            yield pb.GenerateEvent(
                job_id=job_id,
                progress=pb.Progress(phase=pb.PHASE_DENOISING, step=step, total_steps=steps),
            )
        frames = expected_frames(width, height, num_frames)
        audio = expected_audio(num_samples)
        bounds = [0, *range(chunk + 1, num_frames, chunk), num_frames]
        sent_samples = 0
        for i, (f0, f1) in enumerate(itertools.pairwise(bounds)):
            if cancelled.is_set() or job_id in self.b.cancels:
                self.b.cancelled_jobs.append(job_id)
                context.abort(grpc.StatusCode.CANCELLED, "cancelled")
            time.sleep(self.b.event_delay_s)
            s1 = num_samples if f1 == num_frames else round(f1 / frame_rate * SAMPLE_RATE)
            yield pb.GenerateEvent(
                job_id=job_id,
                audio_chunk=pb.AudioChunk(
                    first_sample=sent_samples,
                    num_samples=s1 - sent_samples,
                    sample_rate=SAMPLE_RATE,
                    channels=2,
                    sample_format=pb.SAMPLE_FORMAT_S16LE,
                    pts_s=sent_samples / SAMPLE_RATE,
                    data=audio[sent_samples:s1].tobytes(),
                ),
            )
            sent_samples = s1
            if self.b.progress_inside_chunk:
                yield pb.GenerateEvent(job_id=job_id, progress=pb.Progress(phase=pb.PHASE_DECODING))
            if not request.audio_only:
                first = f0 + 1 if (self.b.skip_frame_index and i == 1) else f0
                yield pb.GenerateEvent(
                    job_id=job_id,
                    video_chunk=pb.VideoChunk(
                        first_frame=first,
                        num_frames=f1 - f0,
                        width=width,
                        height=height,
                        frame_format=pb.FRAME_FORMAT_RGB8,
                        pts_s=f0 / frame_rate,
                        data=frames[f0:f1].tobytes(),
                    ),
                )
            # As the daemon does: a DECODING progress after each whole chunk.
            yield pb.GenerateEvent(
                job_id=job_id, progress=pb.Progress(phase=pb.PHASE_DECODING, frames_decoded=f1, total_frames=num_frames)
            )
        yield pb.GenerateEvent(
            job_id=job_id,
            completed=pb.Completed(
                seed=seed,
                num_frames=0 if request.audio_only else num_frames,
                num_samples=num_samples,
                timings=pb.Timings(total_s=0.01),
            ),
        )

    def Cancel(self, request, context):
        self._auth(context)
        self.b.cancels.append(request.job_id)
        return pb.CancelResponse(found=True)

    def GetInfo(self, request, context):
        self._auth(context)
        return pb.Info(
            version="fake",
            model_id="ltx2-fake",
            loaded=True,
            device="cpu",
            native_sample_rate=SAMPLE_RATE,
            limits=pb.Limits(max_width=512, max_height=512, max_frames=121, max_steps=50, min_size=64),
            defaults=pb.GenerateRequest(width=64, height=64, num_frames=17, priority=pb.PRIORITY_INTERACTIVE),
            queue_capacity=8,
            protocol_version=1,
            parameter_counts={"transformer": 10},
        )

    def Load(self, request, context):
        return self.GetInfo(request, context)

    def Unload(self, request, context):
        self._auth(context)
        info = self.GetInfo(request, context)
        info.loaded = False
        return info

    def Prefetch(self, request, context):
        self._auth(context)
        return pb.PrefetchResponse(job_ids=[f"pre-{i}" for i in range(len(request.requests))])


class FakeServer:
    """Context manager: the fake on 127.0.0.1, port 0; `.address` is the bound address."""

    def __init__(self, behaviour: Behaviour | None = None, token: str | None = None) -> None:
        self.behaviour = behaviour or Behaviour()
        self._server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
        pb_grpc.add_Ltx2dServicer_to_server(FakeLtx2d(self.behaviour, token), self._server)
        port = self._server.add_insecure_port("127.0.0.1:0")
        self.address = f"127.0.0.1:{port}"

    def __enter__(self) -> FakeServer:
        self._server.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.stop(grace=None)
