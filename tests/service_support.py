"""Helpers for the service tests: tiny timelines, a runner that holds jobs, readiness waits."""

from __future__ import annotations

import subprocess
import threading
import time
from pathlib import Path

import grpc
import opentimelineio as otio
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc

from sonicvision.server.service.spec import run_pipeline

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
RPC_TIMEOUT = 20.0


def sfx_timeline(text: str = "door slam", start_frame: int = 10, rate: float = 24.0) -> bytes:
    """A timeline with no pictures and one SFX marker: foley renders one off-screen clip fast."""
    timeline = otio.schema.Timeline(name=f"sfx {text}")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    track.append(otio.schema.Gap(duration=RT(96, rate)))
    timeline.tracks.append(track)
    timeline.tracks.markers.append(
        otio.schema.Marker(
            name=f"SFX: {text}", marked_range=TR(RT(start_frame, rate), RT(24, rate))
        )
    )
    return otio.adapters.write_to_string(timeline, "otio_json").encode()


def timeline_with_media(path: Path, media: Path, frames: int = 24, rate: float = 24.0) -> bytes:
    """One clip whose media reference is an absolute path (to test where media may come from)."""
    timeline = otio.schema.Timeline(name="one clip")
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    ref = otio.schema.ExternalReference(
        target_url=media.resolve().as_uri(), available_range=TR(RT(0, rate), RT(frames, rate))
    )
    track.append(
        otio.schema.Clip(
            name=media.name, media_reference=ref, source_range=TR(RT(0, rate), RT(frames, rate))
        )
    )
    timeline.tracks.append(track)
    text = otio.adapters.write_to_string(timeline, "otio_json")
    path.write_text(text)
    return text.encode()


SFX_WORDS = ["door slams", "dog barks", "glass breaks", "footsteps on gravel", "metal clang"]


def add_sfx_markers(
    folder: Path, count: int = 40, name: str = "marked.otio", step: int = 4
) -> Path:
    """``folder/many.otio`` (``many_clips``) with ``count`` short SFX prompt markers added, one
    each ``step`` frames, as ``folder/name``: by default 40 events more, so two batches of
    sounds with the detected ones."""
    timeline = otio.adapters.read_from_file(str(folder / "many.otio"))
    track = timeline.video_tracks()[0]
    for n in range(count):
        at = TR(RT(step * n, 25), RT(3, 25))
        word = SFX_WORDS[n % len(SFX_WORDS)]
        track.markers.append(otio.schema.Marker(name=f"SFX: {word}", marked_range=at))
    otio.adapters.write_to_file(timeline, str(folder / name))
    return folder / name


def wait_serving(address: str, timeout: float = 15.0, metadata=()) -> None:
    """Poll the standard health check until SERVING (backends loaded)."""
    deadline = time.monotonic() + timeout
    with grpc.insecure_channel(address) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        while True:
            try:
                reply = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=2)
                if reply.status == health_pb2.HealthCheckResponse.SERVING:
                    return
            except grpc.RpcError:
                pass
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address} not SERVING after {timeout} s")
            time.sleep(0.05)


class Gate:
    """The real pipeline, but each job holds at its first progress call until the gate opens.

    Lets a test cancel a running job, fill the queue or drop a watcher at a known point,
    without sleeping and hoping.
    """

    def __init__(self) -> None:
        self.arm()

    def arm(self) -> None:
        self.reached = threading.Event()
        self.opened = threading.Event()

    def open(self) -> None:
        self.opened.set()

    def __call__(self, spec, timeline, result_dir, progress, **kw):
        reached, opened = self.reached, self.opened
        first = True

        def held(stage: str, done: int, total: int) -> None:
            nonlocal first
            progress(stage, done, total)
            if first:
                first = False
                reached.set()
                opened.wait(RPC_TIMEOUT)

        return run_pipeline(spec, timeline, result_dir, held, **kw)


def make_test_certificate(folder: Path) -> tuple[Path, Path]:
    """A self-signed localhost certificate and key (openssl), for TLS tests."""
    cert, key = folder / "cert.pem", folder / "key.pem"
    made = subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
        capture_output=True,
        timeout=30,
        check=False,
    )  # fmt: skip
    if made.returncode != 0:
        pytest.skip(f"openssl cannot make a test certificate: {made.stderr.decode()[:200]}")
    return cert, key
