"""Rendered sounds -> WAV files that land on the right frames.

The attack of each sound goes on its event's onset: the file starts on a whole timeline frame
at or before the onset, padded so that the sound's own onset sample falls exactly at the event
time (not the file's first sample). Continuous sounds span their interval with fades.
Everything is written at 48 kHz, 24-bit, loudness-normalised with a true ceiling, under names
an editor can read (shot, timecode, prompt), atomically and never over an existing file.
"""

from __future__ import annotations

import logging
import math
import os
import re
from fractions import Fraction
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pyloudnorm
import soundfile as sf
from scipy.signal import resample_poly

from sonicvision.errors import RenderError
from sonicvision.events import SoundClip, SoundEvent
from sonicvision.files import link_new, temp_beside

from .generate.base import RenderedSound
from .options import DEFAULTS, Mastering

logger = logging.getLogger(__name__)

TimeRange = otio.opentime.TimeRange
RationalTime = otio.opentime.RationalTime

PROJECT_RATE = 48_000


def to_project_rate(sound: RenderedSound) -> np.ndarray:
    """Float32 (samples, channels) at 48 kHz."""
    audio = np.asarray(sound.audio, dtype=np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    if sound.sample_rate != PROJECT_RATE:
        ratio = Fraction(PROJECT_RATE, sound.sample_rate)
        audio = resample_poly(audio, ratio.numerator, ratio.denominator, axis=0).astype(np.float32)
    return audio


def normalise(audio: np.ndarray, mastering: Mastering) -> np.ndarray:
    """Integrated loudness to target (peak-based for clips too short to measure), then ceiling."""
    if not np.any(audio):
        return audio
    ceiling = 10 ** (mastering.ceiling_dbfs / 20)
    seconds = len(audio) / PROJECT_RATE
    gain = 1.0
    if seconds >= 0.5:
        loudness = pyloudnorm.Meter(PROJECT_RATE).integrated_loudness(audio)
        if math.isfinite(loudness):
            gain = 10 ** ((mastering.target_lufs - loudness) / 20)
    else:
        peak_target = 10 ** ((mastering.target_lufs + 12) / 20)  # short hits: peak ~ LUFS + 12
        gain = peak_target / float(np.max(np.abs(audio)))
    audio = audio * gain
    peak = float(np.max(np.abs(audio)))
    if peak > ceiling:
        audio = audio * (ceiling / peak)
    return audio.astype(np.float32)


def _fade(audio: np.ndarray, fade_in: int, fade_out: int) -> np.ndarray:
    out = audio.copy()
    n = len(out)
    if fade_in and n:
        k = min(fade_in, n)
        out[:k] *= np.linspace(0, 1, k, dtype=np.float32)[:, None]
    if fade_out and n:
        k = min(fade_out, n)
        out[n - k :] *= np.linspace(1, 0, k, dtype=np.float32)[:, None]
    return out


def place(
    event: SoundEvent, sound: RenderedSound, rate: float, mastering: Mastering = DEFAULTS.mastering
) -> tuple[np.ndarray, TimeRange]:
    """Audio aligned to whole frames and its record range: the onset lands on ``event.start``."""
    audio = to_project_rate(sound)
    onset = round(sound.onset_s * PROJECT_RATE)
    event_s = event.attack.to_seconds()
    if event.continuous:
        want = max(1, round(event.duration.to_seconds() * PROJECT_RATE))
        audio = audio[onset : onset + want]
        if len(audio) < want:
            audio = np.pad(audio, ((0, want - len(audio)), (0, 0)))
        audio = _fade(
            audio,
            round(mastering.fade_in_s * PROJECT_RATE),
            round(mastering.fade_out_s * PROJECT_RATE),
        )
        onset = 0
    first_s = event_s - onset / PROJECT_RATE
    start_frame = max(0, math.floor(first_s * rate + 1e-9))
    head = round((event_s - start_frame / rate) * PROJECT_RATE) - onset
    audio = np.pad(audio, ((head, 0), (0, 0))) if head > 0 else audio[-head:]
    frames = max(1, math.ceil(len(audio) * rate / PROJECT_RATE - 1e-9))
    total = math.ceil(frames * PROJECT_RATE / rate - 1e-9)
    audio = np.pad(audio, ((0, total - len(audio)), (0, 0)))
    audio = _fade(audio, 0, min(round(0.005 * PROJECT_RATE), len(audio)))  # no click at the end
    audio = normalise(audio, mastering)
    record = TimeRange(RationalTime(start_frame, rate), RationalTime(frames, rate))
    return audio, record


def slug(text: str, limit: int = 40) -> str:
    words = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-").lower()
    return (words[:limit].rstrip("-")) or "sound"


def clip_file_name(event: SoundEvent, timecode: str) -> str:
    """``S003_01-00-04-12_door-slam.wav``: shot, timecode, prompt; readable in a bin."""
    if event.shot_index is not None:
        shot = f"S{event.shot_index:03d}"
    else:  # a cue the editor added has no shot; only off-screen sounds are OFF_
        shot = "CUE" if event.onscreen else "OFF"
    return f"{shot}_{timecode.replace(':', '-').replace(';', '-')}_{slug(event.text)}.wav"


def write_wav(audio: np.ndarray, folder: Path, name: str) -> Path:
    """48 kHz 24-bit WAV, written beside its final name and linked in; never replaces a file."""
    folder.mkdir(parents=True, exist_ok=True)
    stem, suffix = os.path.splitext(name)
    target, n = folder / name, 1
    while target.exists():
        n += 1
        target = folder / f"{stem}_v{n}{suffix}"
    tmp = temp_beside(target)
    try:
        sf.write(tmp, np.clip(audio, -1.0, 1.0), PROJECT_RATE, subtype="PCM_24", format="WAV")
        link_new(tmp, target)
    except FileExistsError:
        return write_wav(audio, folder, name)  # lost a race for the name: take the next one
    except OSError as exc:
        raise RenderError(f"cannot write audio: {exc}", path=target) from exc
    finally:
        tmp.unlink(missing_ok=True)
    return target


def render_clip(
    event: SoundEvent,
    sound: RenderedSound,
    rate: float,
    folder: Path,
    timecode: str,
    generator: str,
    mastering: Mastering = DEFAULTS.mastering,
) -> SoundClip:
    """Place, master and write one sound; the clip that goes on the timeline."""
    audio, record = place(event, sound, rate, mastering)
    path = write_wav(audio, folder, clip_file_name(event, timecode))
    return SoundClip(
        event=event,
        path=path,
        record_range=record,
        track="onscreen" if event.onscreen else "offscreen",
        generator=generator,
        metadata={
            "source": sound.source,
            "onset_in_file_s": round(event.attack.to_seconds() - record.start_time.to_seconds(), 6),
            **{k: v for k, v in sound.metadata.items() if isinstance(v, str | int | float | bool)},
        },
    )
