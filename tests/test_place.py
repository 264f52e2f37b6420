"""Placement: a sound's onset sample lands on its event frame; 48 kHz / 24-bit WAVs, never
overwritten."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import opentimelineio as otio
import pytest
import soundfile as sf

from sonicvision.events import Origin, SoundEvent
from sonicvision.server.generate.base import RenderedSound
from sonicvision.server.place import PROJECT_RATE, place, write_wav

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange


def click_sound(onset_s: float, rate: int = 48_000, length_s: float = 0.4) -> RenderedSound:
    audio = np.zeros((int(length_s * rate), 2), np.float32)
    at = round(onset_s * rate)
    decay = np.exp(-np.arange(len(audio) - at) / (0.02 * rate)).astype(np.float32)
    audio[at:, 0] = audio[at:, 1] = 0.8 * decay
    return RenderedSound(audio=audio, sample_rate=rate, onset_s=at / rate, source="test")


@pytest.mark.parametrize("rate", [24000 / 1001, 25.0, 30000 / 1001, 60000 / 1001])
@pytest.mark.parametrize("frame", [0, 1, 47, 1799])
def test_onset_sample_lands_exactly_on_the_event_frame(rate: float, frame: int):
    event = SoundEvent("knock", RT(frame, rate), RT(frame + 3, rate), True, Origin.DETECTED)
    audio, record = place(event, click_sound(0.013), rate)
    assert record.start_time.value == int(record.start_time.value)  # whole frames
    assert record.start_time <= event.start
    first_loud = int(np.argmax(np.abs(audio[:, 0]) > 1e-4))
    expected = round((event.start.to_seconds() - record.start_time.to_seconds()) * PROJECT_RATE)
    assert first_loud == expected
    assert len(audio) >= record.duration.to_seconds() * PROJECT_RATE - 1
    assert np.max(np.abs(audio)) <= 10 ** (-1 / 20) + 1e-6


def test_continuous_event_spans_its_interval_with_fades():
    rate = 25.0
    event = SoundEvent("wind", RT(50, rate), RT(100, rate), False, Origin.MARKER, continuous=True)
    noise = np.random.default_rng(0).normal(0, 0.1, (48_000 * 3, 2)).astype(np.float32)
    audio, record = place(event, RenderedSound(noise, 48_000, 0.0, "test"), rate)
    assert record == TR(RT(50, rate), RT(50, rate))
    assert len(audio) == 2 * PROJECT_RATE
    assert abs(audio[0, 0]) < 1e-3 and abs(audio[-1, 0]) < 1e-3
    assert np.sqrt(np.mean(audio[PROJECT_RATE // 2 : PROJECT_RATE] ** 2)) > 1e-3


def test_wav_files_are_48k_24bit_and_never_overwritten(tmp_path: Path):
    audio = np.full((4800, 2), 0.25, np.float32)
    first = write_wav(audio, tmp_path, "S001_01-00-00-00_knock.wav")
    second = write_wav(audio * 0.5, tmp_path, "S001_01-00-00-00_knock.wav")
    assert first != second and second.name == "S001_01-00-00-00_knock_v2.wav"
    info = sf.info(str(first))
    assert (info.samplerate, info.subtype, info.channels) == (48_000, "PCM_24", 2)
    assert abs(sf.read(str(first))[0][0, 0] - 0.25) < 1e-5
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]


def test_wav_files_are_made_with_the_users_umask(tmp_path: Path):
    previous = os.umask(0o022)
    try:
        path = write_wav(np.zeros((480, 2), np.float32), tmp_path, "S001_01-00-00-00_tick.wav")
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o644  # readable by the team and the server's clients
