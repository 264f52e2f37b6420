"""Library backend: UCS-name matching, incremental index, atomic cache, onset and fitting."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sonicvision import files
from sonicvision.errors import ConfigError, RenderError
from sonicvision.server.generate import library
from sonicvision.server.generate.base import SoundRequest
from sonicvision.server.generate.library import INDEX_NAME, LibraryGenerator, describe_name

SLAMS = [f"Doors/DOORWood_Slam Heavy Close_SV_0{i}.wav" for i in (1, 2)] + [
    "Doors/DOORWood_Slam Heavy Close_SV_03.flac"
]


def burst(sr: int, seconds: float, *, lead: float = 0.0, seed: int = 0, sustain: bool = False):
    """Noise that starts at full level after ``lead`` s of near-silence (-80 dB floor)."""
    rng = np.random.default_rng(seed)
    n, pre = int(seconds * sr), int(lead * sr)
    x = rng.standard_normal(n) * 1e-4 * 0.3
    t = np.arange(n - pre) / sr
    env = np.ones_like(t) if sustain else np.exp(-t / 0.08)
    x[pre:] += 0.3 * rng.standard_normal(n - pre) * env
    return x.astype(np.float32)


def write(root: Path, rel: str, sr: int, x: np.ndarray, **tags) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    channels = 1 if x.ndim == 1 else x.shape[1]
    with sf.SoundFile(str(path), "w", samplerate=sr, channels=channels) as f:
        for key, value in tags.items():
            setattr(f, key, value)
        f.write(x)
    return path


@pytest.fixture
def root(tmp_path: Path) -> Path:
    root = tmp_path / "sfx"
    for i, rel in enumerate(SLAMS):
        write(root, rel, 24_000, burst(24_000, 0.25, seed=i))
    write(root, "Doors/DOORWood_Creak Open Slow_SV_01.flac", 24_000, burst(24_000, 0.3))
    write(root, "glass_clink_03.wav", 44_100, burst(44_100, 0.5, seed=5))
    write(root, "Footsteps/FEETGrvl_Walk Gravel Boots_SV_01.wav", 16_000, burst(16_000, 0.2))
    rain = burst(32_000, 0.4, seed=6, sustain=True)
    write(root, "Ambience/AMBRain_Heavy Rain On Roof_SV_01.flac", 32_000, rain)
    write(root, "take_017.wav", 16_000, burst(16_000, 0.2), title="Wind gust, strong")
    (root / "broken.wav").write_bytes(b"not audio at all" * 8)
    (root / "notes.txt").write_text("ignored")
    return root


def req(text: str, *, seed: int = 0, continuous: bool = False, duration: float = 0.5, sr=48_000):
    return SoundRequest(text, duration, continuous, seed, sr)


def energy_onset(audio: np.ndarray, sr: int, threshold_db: float = -30.0) -> float:
    power = np.mean(audio.astype(np.float64) ** 2, axis=1)
    w = max(1, int(0.001 * sr))
    c = np.concatenate([[0.0], np.cumsum(power)])
    env = (c[w:] - c[:-w]) / w
    return (int(np.flatnonzero(env >= env.max() * 10 ** (threshold_db / 10))[0]) + w / 2) / sr


def test_ucs_and_plain_names_become_words():
    assert describe_name(SLAMS[0]) == "doors door wood slam heavy close sv"
    assert describe_name("glass_clink_03.wav") == "glass clink"
    assert "gravel" in describe_name("Footsteps/FEETGrvl_Walk_SV_01.wav").split()


def test_index_skips_unreadable_files_with_a_warning(root, caplog):
    with caplog.at_level(logging.WARNING, logger=library.__name__):
        gen = LibraryGenerator(root)
    assert gen.stats.read == 9 and gen.stats.unreadable == 1
    assert any("broken.wav" in r.getMessage() for r in caplog.records)
    data = json.loads((root / INDEX_NAME).read_text())
    assert set(data["entries"]) >= set(SLAMS) and "notes.txt" not in data["entries"]
    assert gen.index_path == root / INDEX_NAME


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("glass clink", "glass_clink_03.wav"),
        ("heavy rain on a roof", "Ambience/AMBRain_Heavy Rain On Roof_SV_01.flac"),
        ("walking on gravel", "Footsteps/FEETGrvl_Walk Gravel Boots_SV_01.wav"),
        ("a creaking door", "Doors/DOORWood_Creak Open Slow_SV_01.flac"),
        ("strong wind gusts", "take_017.wav"),  # from the embedded title
    ],
)
def test_matching(root, text, expected):
    out = LibraryGenerator(root).render(req(text))
    assert out.source == expected and out.metadata["file"] == expected


def test_seed_rotates_among_equally_good_files(root):
    gen = LibraryGenerator(root)
    picks = [gen.render(req("door slam", seed=s)).source for s in range(4)]
    assert sorted(picks[:3]) == sorted(SLAMS) and picks[3] == picks[0]
    a, b = gen.render(req("door slam", seed=1)), gen.render(req("door slam", seed=1))
    assert a.source == b.source and np.array_equal(a.audio, b.audio)


def test_reindex_reads_only_new_and_changed_files(root, monkeypatch):
    LibraryGenerator(root)
    changed = write(root, "glass_clink_03.wav", 44_100, burst(44_100, 0.7, seed=9))
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    write(root, "Metal/METLImpt_Pipe Hit_SV_01.wav", 16_000, burst(16_000, 0.2))
    (root / SLAMS[2]).unlink()

    probed: list[str] = []
    real_probe = library._probe

    def counting_probe(path, rel):
        probed.append(rel)
        return real_probe(path, rel)

    monkeypatch.setattr(library, "_probe", counting_probe)
    gen = LibraryGenerator(root)
    assert sorted(probed) == ["Metal/METLImpt_Pipe Hit_SV_01.wav", "glass_clink_03.wav"]
    assert (gen.stats.read, gen.stats.dropped, gen.stats.reused) == (2, 1, 7)
    assert gen.render(req("pipe hit")).source == "Metal/METLImpt_Pipe Hit_SV_01.wav"
    assert {gen.render(req("door slam", seed=s)).source for s in range(4)} == set(SLAMS[:2])
    assert json.loads((root / INDEX_NAME).read_text())["entries"]["glass_clink_03.wav"][
        "frames"
    ] == int(0.7 * 44_100)

    probed.clear()
    again = LibraryGenerator(root)
    assert probed == [] and again.stats.read == 0 and again.stats.dropped == 0


def test_index_is_written_atomically(root, monkeypatch, caplog):
    replaced: list[tuple[Path, Path]] = []
    real_replace = os.replace

    def spy(src, dst):
        replaced.append((Path(src), Path(dst)))
        real_replace(src, dst)

    monkeypatch.setattr(files.os, "replace", spy)
    LibraryGenerator(root)
    [(src, dst)] = replaced
    assert dst == root / INDEX_NAME and src.parent == dst.parent and src != dst
    assert not src.exists() and not list(root.glob("*.part"))
    before = (root / INDEX_NAME).read_bytes()

    def half_written(self, text, encoding=None):
        with open(self, "w", encoding=encoding) as f:
            f.write(text[:20])
        raise OSError("disk full")

    monkeypatch.setattr(files.Path, "write_text", half_written)
    write(root, "Metal/METLImpt_Pipe Hit_SV_01.wav", 16_000, burst(16_000, 0.2))
    with caplog.at_level(logging.WARNING, logger=library.__name__):
        gen = LibraryGenerator(root)  # still usable from memory
    assert (root / INDEX_NAME).read_bytes() == before  # the old index is intact
    assert not list(root.glob("*.part"))
    assert any("disk full" in r.getMessage() for r in caplog.records)
    assert gen.render(req("pipe hit")).source.startswith("Metal/")


def test_index_goes_to_cache_dir_when_library_is_read_only(root, tmp_path, monkeypatch):
    monkeypatch.setattr(library.os, "access", lambda path, mode: False)
    gen = LibraryGenerator(root, cache_dir=tmp_path / "cache")
    assert gen.index_path.parent == tmp_path / "cache" and gen.index_path.exists()
    assert not (root / INDEX_NAME).exists()


def test_onset_after_half_a_second_of_silence(root):
    sr = 48_000
    x = burst(sr, 1.0, lead=0.5, seed=3)
    write(root, "Impacts/IMPTWood_Knock_SV_01.wav", sr, x)
    out = LibraryGenerator(root).render(req("wood knock", sr=sr))
    assert out.metadata["file_onset_s"] == pytest.approx(0.5, abs=0.001)
    assert out.onset_s == pytest.approx(0.005, abs=0.001)  # silence trimmed to 5 ms pre-roll
    assert abs(energy_onset(out.audio, sr) - out.onset_s) < 0.002
    assert len(out.audio) == pytest.approx(len(x) - (0.5 - 0.005) * sr, abs=2)


def test_resampling_44k1_to_48k_keeps_the_length(root):
    gen = LibraryGenerator(root)
    out = gen.render(req("glass clink", sr=48_000))  # 0.5 s at 44.1 kHz, sound from sample 0
    assert out.sample_rate == 48_000 and out.audio.shape == (24_000, 2)
    assert out.audio.dtype == np.float32 and np.max(np.abs(out.audio)) <= 0.9
    assert out.onset_s == pytest.approx(0.0, abs=0.001)
    low = gen.render(req("glass clink", sr=16_000))
    assert low.audio.shape == (8_000, 2)


def test_continuous_loops_or_trims_to_exact_length(root):
    gen = LibraryGenerator(root)
    looped = gen.render(req("heavy rain", continuous=True, duration=1.3))  # a 0.4 s file
    assert looped.audio.shape == (62_400, 2) and looped.onset_s == 0.0
    body = looped.audio[2_400:-2_400, 0].astype(np.float64)
    windows = body[: len(body) // 960 * 960].reshape(-1, 960)  # 20 ms
    rms = np.sqrt(np.mean(windows**2, axis=1))
    assert rms.min() > 0.4 * np.median(rms)  # no gaps or dips at the seams
    trimmed = gen.render(req("heavy rain", continuous=True, duration=0.25, sr=16_000))
    assert trimmed.audio.shape == (4_000, 2)


def test_one_shots_are_capped(root):
    write(root, "Ambience/AMBWind_Long Drone_SV_01.wav", 8_000, burst(8_000, 8.0, sustain=True))
    out = LibraryGenerator(root).render(req("long drone", sr=8_000))
    assert len(out.audio) == 6 * 8_000
    assert np.max(np.abs(out.audio[-20:])) < 0.01  # faded out, not cut


def test_no_match_names_the_prompt_and_the_library(root):
    gen = LibraryGenerator(root)
    with pytest.raises(RenderError) as err:
        gen.render(req("zzkrp blorf"))
    assert "zzkrp blorf" in str(err.value) and str(root) in str(err.value)
    strict = LibraryGenerator(root, min_score=0.9)
    with pytest.raises(RenderError):
        strict.render(req("glass of water on a table"))  # only "glass" matches


def test_missing_or_empty_library_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        LibraryGenerator(tmp_path / "nowhere")
    assert err.value.path == str(tmp_path / "nowhere")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError) as err:
        LibraryGenerator(tmp_path / "empty")
    assert err.value.path == str(tmp_path / "empty")
    assert not list((tmp_path / "empty").iterdir())  # nothing written into it


def test_a_render_names_the_file_it_used(root):
    out = LibraryGenerator(root).render(req("wood slam", seed=1))
    assert out.matched is True and out.used == out.source and out.used in SLAMS


def test_a_one_shot_plays_a_recorded_event_whole_with_its_attack_on_the_onset(root):
    sr = 48_000
    write(root, "Weapons/GUNPis_Shot Single_SV_01.wav", sr, burst(sr, 0.6, lead=0.3, seed=8))
    out = LibraryGenerator(root).render(
        SoundRequest("gunshot single", 2.0, True, 0, sr, one_shot=True)
    )
    assert out.metadata["continuous"] is False
    assert out.onset_s == pytest.approx(0.005, abs=0.001)
    assert abs(energy_onset(out.audio, sr) - out.onset_s) < 0.002
    assert len(out.audio) == pytest.approx((0.6 - 0.3 + 0.005) * sr, abs=2)  # not 2 s


def test_a_one_shot_texture_fills_the_asked_span(root):
    out = LibraryGenerator(root).render(
        SoundRequest("heavy rain", 1.3, True, 0, 48_000, one_shot=True)
    )
    assert out.metadata["continuous"] is True
    assert out.audio.shape == (62_400, 2) and out.onset_s == 0.0
