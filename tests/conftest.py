"""Shared test helpers: stand-in media for real editor timelines, tiny WAVs, log policing."""

from __future__ import annotations

import logging
from pathlib import Path

import av
import cv2
import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from sonicvision.adapters.media import VIDEO_SUFFIXES, file_name, url_to_path
from sonicvision.adapters.picture import visible_picture
from sonicvision.adapters.timecode import as_fraction as exact_rate

FIXTURES = Path(__file__).resolve().parents[1].parent / "shared" / "fixtures" / "timelines"
EDL_RATES = {"25fps.edl": 25}


def fixture_files() -> list[Path]:
    files = sorted(p for p in FIXTURES.iterdir() if p.suffix in {".edl", ".xml", ".aaf", ".otio"})
    assert files, f"no timeline fixtures under {FIXTURES}"
    return files


def fixture_rate(path: Path) -> float | None:
    return EDL_RATES.get(path.name, 24) if path.suffix == ".edl" else None


def write_video(
    path: Path,
    frames: int,
    rate: float,
    *,
    size: tuple[int, int] = (64, 36),
    timecode: str | None = None,
    cuts: tuple[int, ...] = (),
) -> Path:
    """A small video: flat colour per shot (changes at ``cuts``) with a drifting square."""
    w, h = size
    with av.open(str(path), "w", format="mov") as out:
        stream = out.add_stream("mpeg4", rate=exact_rate(rate))
        stream.width, stream.height, stream.pix_fmt = w, h, "yuv420p"
        stream.options = {"qscale": "3", "g": "12"}
        if timecode:
            stream.metadata["timecode"] = timecode
        palette = [(30, 40, 220), (240, 220, 30), (20, 140, 40), (200, 30, 170)]
        shot = 0
        for i in range(frames):
            if i in cuts:
                shot += 1
            img = np.empty((h, w, 3), np.uint8)
            img[:] = palette[shot % len(palette)]
            x = (i * 2) % max(1, w - 8)
            img[h // 3 : h // 3 + 8, x : x + 8] = 255
            for packet in stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")):
                out.mux(packet)
        for packet in stream.encode():
            out.mux(packet)
    return path


def link_stand_in_media(timeline: otio.schema.Timeline, root: Path) -> dict[str, Path]:
    """Generate media for every visible picture clip: same file names, rates and extents.

    Files referenced by several clips cover the union of what the clips use. Without an
    available range (EDLs), the file carries the first used frame as its timecode, as camera
    media does.
    """
    pieces, _ = visible_picture(timeline)
    wanted: dict[str, dict] = {}
    for piece in pieces:
        clip = piece.clip
        ref = clip.media_reference
        name = (
            file_name(url_to_path(ref.target_url))
            if isinstance(ref, otio.schema.ExternalReference)
            else clip.name
        )
        if not name.strip("/\\. ") or "/" in name or "\\" in name:
            continue  # not a usable file name (Hiero writes "/" for some clips): stays missing
        if not piece.still and Path(name).suffix.lower() not in VIDEO_SUFFIXES:
            name += ".mov"  # EDL clip names carry no extension: relinked by stem
        used = clip.trimmed_range()
        entry = wanted.setdefault(
            name, {"available": ref.available_range, "spans": [], "still": piece.still}
        )
        entry["spans"].append(used)
    made: dict[str, Path] = {}
    for name, entry in wanted.items():
        avail = entry["available"]
        rate = (avail or entry["spans"][0]).start_time.rate
        start = (
            avail.start_time.to_seconds()
            if avail is not None and avail.duration.value > 0
            else min(s.start_time.to_seconds() for s in entry["spans"])
        )
        end = max(s.end_time_exclusive().to_seconds() for s in entry["spans"])
        frames = max(2, round((end - start) * rate) + 1)
        path = root / name
        if entry["still"]:
            ok, png = cv2.imencode(".png", np.full((36, 64, 3), 128, np.uint8))
            path.write_bytes(png.tobytes())
        else:
            tc = None
            if avail is None or avail.duration.value == 0:
                tc = otio.opentime.to_timecode(otio.opentime.from_seconds(start, rate), rate)
            write_video(path, frames, rate, timecode=tc)
        made[name] = path
    return made


def write_wav(path: Path, seconds: float, rate: int = 48_000) -> Path:
    t = np.arange(int(seconds * rate)) / rate
    sf.write(
        str(path), (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32), rate, subtype="PCM_24"
    )
    return path


@pytest.fixture(autouse=True)
def _fail_on_error_logs(caplog):
    """A test that logs at ERROR level has hidden a failure: fail it (PySceneDetect's habit)."""
    yield
    errors = [r for r in caplog.get_records("call") if r.levelno >= logging.ERROR]
    assert not errors, "logged at ERROR: " + "; ".join(r.getMessage() for r in errors)
