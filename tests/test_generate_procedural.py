"""Procedural presets: shape, rate, level, determinism, matching and where the attack is."""

from __future__ import annotations

import numpy as np
import pytest

from sonicvision.errors import ConfigError, RenderError
from sonicvision.server.generate.base import SoundRequest
from sonicvision.server.generate.procedural import (
    MAX_TAIL_S,
    PRESETS,
    Preset,
    ProceduralGenerator,
    match_preset,
)
from sonicvision.server.vocabulary import tokenize

GEN = ProceduralGenerator()


def energy_onset(audio: np.ndarray, sr: int, threshold_db: float = -30.0) -> float:
    """Independent of the generator: centre of the first 1 ms window whose mean power is
    within ``threshold_db`` of the loudest window's."""
    power = np.mean(audio.astype(np.float64) ** 2, axis=1)
    w = max(1, int(0.001 * sr))
    c = np.concatenate([[0.0], np.cumsum(power)])
    env = (c[w:] - c[:-w]) / w
    k = int(np.flatnonzero(env >= env.max() * 10 ** (threshold_db / 10))[0])
    return (k + w / 2) / sr


def request(text: str, duration: float = 1.0, continuous: bool = False, seed: int = 0, sr=48_000):
    return SoundRequest(text, duration, continuous, seed, sr)


def centroid(audio: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(audio[:, 0].astype(np.float64)))
    freqs = np.fft.rfftfreq(len(audio), 1 / sr)
    return float(np.sum(freqs * spec) / np.sum(spec))


def test_registry_has_the_families():
    assert len(PRESETS) >= 14
    for name in (
        "impact_wood", "impact_metal", "impact_glass", "impact_soft", "footsteps", "whoosh",
        "door", "cloth", "water_splash", "fire", "wind", "rain", "engine", "room_tone",
    ):  # fmt: skip
        preset = PRESETS[name]
        assert isinstance(preset, Preset) and preset.name == name and preset.keywords
    assert PRESETS["rain"].continuous_default and not PRESETS["door"].continuous_default


@pytest.mark.parametrize("continuous", [False, True], ids=["one-shot", "continuous"])
@pytest.mark.parametrize("name", sorted(PRESETS))
def test_every_preset_renders_usable_audio(name, continuous):
    for sr, duration in ((48_000, 1.3), (16_000, 0.7)):
        out = GEN.render_preset(name, request(name, duration, continuous, seed=7, sr=sr))
        audio = out.audio
        assert out.sample_rate == sr
        assert audio.dtype == np.float32 and audio.ndim == 2 and audio.shape[1] == 2
        assert np.all(np.isfinite(audio))
        assert 0.01 < np.max(np.abs(audio)) <= 0.9
        assert out.metadata["preset"] == name
        assert 0.5 < np.corrcoef(audio[:, 0], audio[:, 1])[0, 1] < 0.9999  # slightly wide
        if continuous:
            assert len(audio) == round(duration * sr)
            assert out.onset_s == 0.0
        else:
            assert len(audio) <= (MAX_TAIL_S + 0.01) * sr
            pre = round(out.onset_s * sr)
            assert 0.004 <= out.onset_s <= 0.006
            assert np.max(np.abs(audio[:pre])) == 0.0  # the pre-roll is silent
            assert abs(energy_onset(audio, sr) - out.onset_s) < 0.002


@pytest.mark.parametrize(
    "text",
    [
        "light rain", "page turn", "door creak open", "glass shatter", "ping pong ball",
        "footsteps on gravel", "footsteps in snow", "water drip", "electric motor",
        "sword swish", "body fall", "gentle breeze", "crumple paper", "cloth rustle",
    ],
)  # fmt: skip
def test_onset_matches_where_the_energy_starts(text):
    for seed in range(4):
        for sr in (48_000, 16_000):
            out = GEN.render(request(text, 0.5, seed=seed, sr=sr))
            assert abs(energy_onset(out.audio, sr) - out.onset_s) < 0.002, (seed, sr)


def test_same_seed_same_samples_other_seed_other_take():
    for name in PRESETS:
        for continuous in (False, True):
            a = GEN.render_preset(name, request(name, 1.0, continuous, seed=3))
            b = ProceduralGenerator().render_preset(name, request(name, 1.0, continuous, seed=3))
            c = GEN.render_preset(name, request(name, 1.0, continuous, seed=4))
            assert np.array_equal(a.audio, b.audio), name
            assert a.audio.shape != c.audio.shape or not np.allclose(a.audio, c.audio), name


@pytest.mark.parametrize("name", ["impact_wood", "impact_metal", "impact_glass"])
def test_seed_varies_pitch_by_a_few_percent_only(name):
    peaks = []
    for seed in range(6):
        out = GEN.render_preset(name, request(name, seed=seed))
        spec = np.abs(np.fft.rfft(out.audio.astype(np.float64).sum(axis=1)))  # mid
        peaks.append(np.argmax(spec) / len(out.audio) * out.sample_rate)
    assert max(peaks) / min(peaks) < 1.09  # the same prop, not another one
    assert len({round(p) for p in peaks}) > 1  # but not a machine gun


def test_variant_words_change_the_sound():
    gravel = GEN.render(request("footsteps on gravel", seed=1)).audio
    wood = GEN.render(request("footsteps on a wooden floor", seed=1)).audio
    assert centroid(gravel, 48_000) > 1.5 * centroid(wood, 48_000)
    shatter = GEN.render(request("glass shatter", seed=1)).audio
    clink = GEN.render(request("glass clink", seed=1)).audio
    assert len(shatter) != len(clink) or not np.allclose(shatter, clink)


def _bursts(audio: np.ndarray, sr: int) -> tuple[int, float]:
    """Separate loud bursts (10 ms RMS rising through -20 dB of the loudest window) and the
    share of windows within 30 dB of it."""
    mono = audio.astype(np.float64).mean(axis=1)
    w = sr // 100
    rms = np.sqrt(np.mean(mono[: len(mono) // w * w].reshape(-1, w) ** 2, axis=1))
    db = 20 * np.log10(rms / rms.max() + 1e-12)
    loud = db > -20
    return int(np.sum(loud[1:] & ~loud[:-1]) + loud[0]), float(np.mean(db > -30))


def test_continuous_impacts_repeat_only_when_asked():
    knocking = GEN.render(request("knocking on wood", 3.0, continuous=True, seed=2)).audio
    sliding = GEN.render(request("wood impact", 3.0, continuous=True, seed=2)).audio
    hits, _ = _bursts(knocking, 48_000)
    _, sustained = _bursts(sliding, 48_000)
    assert hits >= 4  # a series of knocks
    assert sustained > 0.9  # contact that goes on, not unasked-for hits


def test_a_resting_object_rings_shorter():
    resting = GEN.render(request("glass set on a table", seed=1)).audio
    ringing = GEN.render(request("glass clink", seed=1)).audio
    assert len(resting) < 0.6 * len(ringing)


@pytest.mark.parametrize(
    ("text", "preset"),
    [
        ("door slam", "door"),
        ("footsteps on gravel", "footsteps"),
        ("glass set on a table", "impact_glass"),
        ("heavy rain", "rain"),
        ("someone walking", "footsteps"),
        ("a wooden crate dropped", "impact_wood"),
        ("knock on a wooden door", "impact_wood"),
        ("metal pipe clangs", "impact_metal"),
        ("punch to the body", "impact_soft"),
        ("sword swishes", "whoosh"),
        ("crackling campfire", "fire"),
        ("wind howling", "wind"),
        ("car engine idling", "engine"),
        ("quiet office room tone", "room_tone"),
        ("page turn", "paper"),
        ("basketball bouncing", "bounce"),
        ("chair scraping across the floor", "scrape"),
        ("jacket rustle", "cloth"),
        ("splash into the pool", "water_splash"),
    ],
)
def test_match_preset(text, preset):
    found, score = match_preset(text)
    assert found.name == preset and score > 0


def test_nonsense_falls_back_and_says_so():
    preset, score = match_preset("zzkrp blorf")
    assert score == 0.0
    one = GEN.render(request("zzkrp blorf"))
    assert one.metadata["preset"] == "impact_soft" and one.metadata["matched"] is False
    loop = GEN.render(request("zzkrp blorf", 2.0, continuous=True))
    assert loop.metadata["preset"] == "room_tone" and loop.metadata["matched"] is False
    hit = GEN.render(request("door slam"))
    assert hit.metadata["preset"] == "door" and hit.metadata["matched"] is True
    assert hit.source == "procedural:door"


def test_tokenize_normalises_forms_and_synonyms():
    assert tokenize("Slammed doors") == tokenize("slam door") == ["slam", "door"]
    assert tokenize("Footsteps, walking") == ["step", "step"]
    assert tokenize("the glasses") == ["glass"]
    assert tokenize("swooshes") == tokenize("whoosh")


@pytest.mark.parametrize(
    ("text", "duration", "sr"),
    [("rain", 0.37, 16_000), ("room tone", 3.0, 48_000), ("wind", 1 / 24, 48_000),
     ("footsteps", 2.5, 44_100), ("knocking on wood", 1.7, 48_000)],
)  # fmt: skip
def test_continuous_has_exactly_the_requested_length(text, duration, sr):
    out = GEN.render(request(text, duration, continuous=True, sr=sr))
    assert out.audio.shape == (round(duration * sr), 2)


def test_bad_requests_raise():
    with pytest.raises(RenderError) as err:
        GEN.render(request("rain", -1.0))
    assert err.value.field == "duration_s"
    with pytest.raises(RenderError):
        GEN.render(request("rain", 0.0, continuous=True))
    with pytest.raises(ConfigError, match="choose one of"):
        GEN.render_preset("theremin", request("rain"))
    assert GEN.render(request("door slam", seed=-5)).audio.size  # any integer seed works
