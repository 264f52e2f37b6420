"""The paper's generator: time adapter (eq. 10), time condition (eq. 9), loaders, pipeline,
training and the speed benchmark, on tiny models built from configs (CPU, seconds)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import soundfile as sf  # noqa: E402

from sonicvision.cli.train import train_options  # noqa: E402
from sonicvision.errors import ConfigError  # noqa: E402
from sonicvision.server.backends import build_generator  # noqa: E402
from sonicvision.server.generate.base import SoundRequest  # noqa: E402
from sonicvision.server.generate.ldm import LDMGenerator  # noqa: E402
from sonicvision.server.models.adapter import TimeControlAdapter  # noqa: E402
from sonicvision.server.models.loading import load_ldm  # noqa: E402
from sonicvision.server.models.time_condition import (  # noqa: E402
    MelSpec,
    activity_to_mel_frames,
    encode_time_condition,
    intervals_to_mel_frames,
    log_mel,
    normalise_mel,
    time_condition_mel,
)
from sonicvision.server.testing.ldm import (  # noqa: E402
    MODEL_RATE,
    N_MELS,
    WINDOW_S,
    save_audioldm,
    save_tango,
    tiny_components,
)
from sonicvision.server.train.adapter import (  # noqa: E402
    TrainOptions,
    diffusion_loss,
    prepare_batch,
    train_adapter,
)

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    """Tiny models on a shared CPU: extra threads only wait on each other (10x slower)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tango():
    return tiny_components("tango")


@pytest.fixture(scope="module")
def audioldm():
    return tiny_components("audioldm")


def _unet_inputs(c, batch=2):
    """A noisy latent, a timestep and the text as this UNet reads it (T5 with padding mask)."""
    torch.manual_seed(1)
    latents = torch.randn(batch, 4, 32, N_MELS // 2)
    embeds, mask = c.encode_text(["door slams", "dog barks on gravel"][:batch])
    return latents, torch.tensor([500, 20]), c.text_kwargs(embeds, mask)


# ---- the adapter (eq. 10) ---------------------------------------------------------------


@pytest.mark.parametrize("variant", ["tango", "audioldm"])
def test_adapter_at_init_leaves_the_unet_output_unchanged(variant, tango, audioldm):
    c = tango if variant == "tango" else audioldm
    adapter = TimeControlAdapter.from_unet(c.unet)
    latents, t, text = _unet_inputs(c)
    time_cond = torch.randn_like(latents)
    down, mid = adapter(
        latents,
        t,
        text["encoder_hidden_states"],
        time_cond,
        encoder_attention_mask=text.get("encoder_attention_mask"),
        class_labels=text.get("class_labels"),
        return_dict=False,
    )
    # one residual per decoder skip (f'_j) plus m', on the UNet's own feature shapes
    assert len(down) == 1 + 2 + 1 and mid.shape[1] == c.unet.config.block_out_channels[-1]
    plain = c.unet(latents, t, **text).sample
    with_adapter = c.unet(
        latents, t, **text, down_block_additional_residuals=down, mid_block_additional_residual=mid
    ).sample
    assert torch.equal(plain, with_adapter)  # zero convs: exactly the frozen model

    # the residuals are really consumed: once a zero conv is not zero, the output moves
    with torch.no_grad():
        adapter.zero_mid.weight.fill_(0.01)
    _, mid = adapter(
        latents,
        t,
        text["encoder_hidden_states"],
        time_cond,
        encoder_attention_mask=text.get("encoder_attention_mask"),
        class_labels=text.get("class_labels"),
        return_dict=False,
    )
    moved = c.unet(
        latents, t, **text, down_block_additional_residuals=down, mid_block_additional_residual=mid
    ).sample
    assert not torch.allclose(plain, moved)
    assert adapter.config.conditioning_scale == 2.0  # fig. 6


def test_adapter_copies_the_encoder_and_takes_the_text_mask(tango):
    adapter = TimeControlAdapter.from_unet(tango.unet)
    for name in ("conv_in", "time_embedding", "down_blocks", "mid_block"):
        ours, theirs = getattr(adapter, name).state_dict(), getattr(tango.unet, name).state_dict()
        assert ours.keys() == theirs.keys()
        assert all(torch.equal(ours[k], theirs[k]) for k in ours)
    # masked text tokens must not reach the adapter's features
    with torch.no_grad():
        for zero in [*adapter.zero_down, adapter.zero_mid]:
            torch.nn.init.normal_(zero.weight, std=0.1)
    latents, t, text = _unet_inputs(tango, batch=1)
    states, mask = text["encoder_hidden_states"], text["encoder_attention_mask"]
    padded = torch.cat([states, torch.randn(1, 3, states.shape[-1])], dim=1)
    padded_mask = torch.cat([mask, torch.zeros(1, 3, dtype=torch.bool)], dim=1)
    cond = torch.zeros_like(latents)
    _, mid_a = adapter(latents, t[:1], states, cond, encoder_attention_mask=mask, return_dict=False)
    _, mid_b = adapter(
        latents, t[:1], padded, cond, encoder_attention_mask=padded_mask, return_dict=False
    )
    assert torch.allclose(mid_a, mid_b, atol=1e-5)
    _, mid_c = adapter(latents, t[:1], padded, cond, return_dict=False)  # unmasked: differs
    assert not torch.allclose(mid_a, mid_c, atol=1e-5)


def test_gradients_reach_only_the_adapter(tango):
    adapter = TimeControlAdapter.from_unet(tango.unet)
    latents, t, text = _unet_inputs(tango)
    down, mid = adapter(
        latents,
        t,
        text["encoder_hidden_states"],
        torch.randn_like(latents),
        encoder_attention_mask=text["encoder_attention_mask"],
        return_dict=False,
    )
    out = tango.unet(
        latents, t, **text, down_block_additional_residuals=down, mid_block_additional_residual=mid
    ).sample
    out.square().mean().backward()
    for module in (tango.unet, tango.vae, tango.text_encoder, tango.vocoder):
        assert all(p.grad is None for p in module.parameters())
    assert adapter.zero_mid.weight.grad is not None and adapter.zero_mid.weight.grad.abs().sum() > 0
    assert all(z.weight.grad is not None for z in adapter.zero_down)


# ---- the time condition (eq. 9) ---------------------------------------------------------


def test_time_condition_is_eq_9_on_a_hand_made_pattern(tango):
    # T_ct at 24 fps: frames 2 and 3 sound, i.e. [2/24, 4/24) s = [0.0833, 0.1667) s
    activity = np.array([0, 0, 1, 1, 0, 0], dtype=bool)
    active = activity_to_mel_frames(activity, 24.0, 100, 25)
    # mel frame k (centre (k + 0.5) / 100 s) is active for k = 8 .. 16
    assert np.flatnonzero(active).tolist() == list(range(8, 17))
    a_c = time_condition_mel(active, N_MELS)
    assert a_c.shape == (1, 1, 25, N_MELS)
    assert torch.all(a_c[0, 0, 8:17] == 1.0) and torch.all(a_c[0, 0, :8] == 0)
    assert torch.all(a_c[0, 0, 17:] == 0)
    assert float(a_c.min()) == 0.0 and float(a_c.max()) == 1.0

    # E_a: the VAE posterior mean on the latent grid, scaled like the latents
    a_c = time_condition_mel(activity_to_mel_frames(activity, 24.0, 100, 64), N_MELS)
    encoded = encode_time_condition(tango.vae, a_c)
    expected = tango.vae.encode(a_c).latent_dist.mean * tango.vae.config.scaling_factor
    assert encoded.shape == (1, 4, 32, N_MELS // 2)
    assert torch.equal(encoded, expected)


def test_time_condition_resampling_is_exact_at_ntsc_rates():
    # an hour into a 23.976 timeline: frame 86_313 is [86313 * 1001/24000, +1001/24000) s
    fps = 24000 / 1001
    activity = np.zeros(86_320, dtype=bool)
    activity[86_313] = True
    start, end = Fraction(86_313 * 1001, 24000), Fraction(86_314 * 1001, 24000)
    first = int(start * 100 - Fraction(1, 2)) + 1  # first mel centre at or after start
    active = activity_to_mel_frames(activity, fps, 100, 40, first_frame=first - 10)
    hits = np.flatnonzero(active) + first - 10
    assert all(start <= Fraction(2 * k + 1, 200) < end for k in hits)
    assert hits[0] == first and len(hits) == 4  # 41.7 ms holds 4 mel centres here


def test_training_condition_uses_the_normalised_mel_maximum():
    spec = MelSpec(MODEL_RATE, 16, N_MELS, 128)
    t = np.arange(int(0.64 * MODEL_RATE)) / MODEL_RATE
    wave = torch.tensor(np.sin(2 * np.pi * 200 * t) * (t < 0.3), dtype=torch.float32)[None]
    mel = log_mel(wave, spec, 64)
    assert mel.shape == (1, 64, N_MELS)
    peak = normalise_mel(mel).amax()
    assert float(peak) == pytest.approx(1.0)
    active = intervals_to_mel_frames([(0.1, 0.3)], spec.frame_rate, 64)
    assert np.flatnonzero(active).tolist() == list(range(10, 30))
    a_c = time_condition_mel(active, N_MELS, peak)
    assert torch.all(a_c[0, 0, 10:30] == peak) and float(a_c[0, 0, :10].abs().sum()) == 0


# ---- training ---------------------------------------------------------------------------


def _synthetic_data(folder: Path) -> Path:
    """Four single sound effects at 8 kHz: tone bursts inside silence, labelled start/end."""
    folder.mkdir(parents=True)
    rows = []
    labels = [
        (0.1, 0.3, "door slams"),
        (0.2, 0.5, "dog barks"),
        (0.0, 0.2, "glass breaks"),
        (0.3, 0.6, "metal clang"),
    ]
    for i, (start, end, caption) in enumerate(labels):
        sr = 8000
        t = np.arange(int(0.64 * sr)) / sr
        y = np.where((t >= start) & (t < end), np.sin(2 * np.pi * (300 + 100 * i) * t), 0.0)
        sf.write(folder / f"clip{i}.wav", 0.5 * y, sr)
        rows.append({"audio": f"clip{i}.wav", "caption": caption, "start": start, "end": end})
    (folder / "manifest.json").write_text(json.dumps(rows))
    return folder


def test_a_few_training_steps_lower_the_loss(tango, tmp_path):
    from sonicvision.server.train.adapter import load_clip, read_manifest

    clips = read_manifest(_synthetic_data(tmp_path / "data"))
    items = [load_clip(c, tango.mel, tango.window_frames) for c in clips]
    waves = torch.from_numpy(np.stack([w for w, _ in items]))
    gen = torch.Generator().manual_seed(0)
    active = np.stack([a for _, a in items])
    batch = prepare_batch(tango, waves, active, [c.caption for c in clips], gen)
    adapter = TimeControlAdapter.from_unet(tango.unet).train()
    optimizer = torch.optim.Adam(adapter.parameters(), lr=3e-3)
    shape = batch.latents.shape
    tests = [
        (torch.randn(shape, generator=gen), torch.randint(0, 1000, (4,), generator=gen))
        for _ in range(3)
    ]

    def held_loss() -> float:
        with torch.no_grad():
            losses = [diffusion_loss(tango, adapter, batch, noise=n, timesteps=t) for n, t in tests]
        return float(sum(losses)) / len(losses)

    before = held_loss()
    for _ in range(20):
        loss = diffusion_loss(tango, adapter, batch, generator=gen)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = held_loss()
    assert after < before * 0.95, (before, after)
    assert all(p.grad is None for p in tango.unet.parameters())


def test_train_adapter_checkpoints_resumes_and_reports_iou(tango, tmp_path, capsys):
    data = _synthetic_data(tmp_path / "data")
    out = tmp_path / "ckpt"
    options = dict(base=tmp_path / "unused", data=data, out=out, batch_size=2, lr=1e-3)
    options |= dict(val_count=1, val_steps=2, device="cpu")
    first = train_adapter(TrainOptions(**options, max_steps=2), components=tango)
    assert first.step == 2 and len(first.losses) == 2
    names = {p.name for p in out.iterdir()}
    assert names == {
        "config.json",
        "diffusion_pytorch_model.safetensors",
        "optimizer.safetensors",
        "training_state.json",
    }
    assert "validation IoU" in capsys.readouterr().out
    assert 0.0 <= first.val_iou[-1][1] <= 1.0

    with pytest.raises(ConfigError, match="--resume"):
        train_adapter(TrainOptions(**options, max_steps=3), components=tango)
    second = train_adapter(TrainOptions(**options, max_steps=3, resume=True), components=tango)
    assert second.step == 3 and len(second.losses) == 1  # continued, not restarted
    state = json.loads((out / "training_state.json").read_text())
    assert state["step"] == 3 and state["optimizer_groups"][0]["lr"] == 1e-3
    assert all(not p.requires_grad for p in tango.unet.parameters())
    # the checkpoint is what the generator loads
    adapter = TimeControlAdapter.from_pretrained(out, local_files_only=True)
    assert adapter.matches(tango.unet)


def test_train_cli_has_adapter_and_detector_subcommands(tmp_path):
    import argparse

    parser = argparse.ArgumentParser()
    train_options(parser)
    args = parser.parse_args(
        ["adapter", "--base", "B", "--data", "D", "--out", "O", "--mixed-precision", "bf16"]
    )
    assert args.train_target == "adapter" and args.lr == 3e-5 and args.batch_size == 32
    assert args.mixed_precision == "bf16" and args.train_func.__name__ == "cmd_train_adapter"
    args = parser.parse_args(["detector", "--data", "D", "--out", "O"])
    assert args.train_func.__name__ == "cmd_train_detector"


# ---- loading and rendering ---------------------------------------------------------------


def _requests() -> list[SoundRequest]:
    t_ct = np.zeros(12, dtype=bool)
    t_ct[3:5] = True  # a one-shot at 24 fps: first active frame 3 -> onset 0.125 s
    return [
        SoundRequest("door slams", 0.5, False, 7, activity=t_ct, activity_rate=24.0),
        SoundRequest("rain", 0.3, True, 8),
        SoundRequest("dog barks", 0.05, False, 9),
    ]


def _check_rendered(gen: LDMGenerator, sounds, requests) -> None:
    for sound, request in zip(sounds, requests, strict=True):
        assert sound.sample_rate == 48_000
        assert sound.audio.shape == (round(request.duration_s * 48_000), 2)
        assert sound.audio.dtype == np.float32 and np.isfinite(sound.audio).all()
        assert sound.metadata["bandwidth_hz"] == MODEL_RATE / 2
        assert sound.metadata["model_sample_rate"] == MODEL_RATE
    assert sounds[0].onset_s == pytest.approx(3 / 24)
    assert sounds[1].onset_s == 0.0 and sounds[2].onset_s == 0.0


@pytest.mark.parametrize("layout", ["audioldm", "tango", "tango-main-bin"])
def test_saved_folders_load_and_render_through_render_batch(layout, tmp_path):
    folder = tmp_path / layout
    if layout == "audioldm":
        save_audioldm(folder)
    else:
        save_tango(folder, main_bin=layout == "tango-main-bin")
    components = load_ldm(folder)
    assert components.variant == layout.split("-")[0]
    assert all(not p.requires_grad for p in components.unet.parameters())
    adapter_dir = tmp_path / "adapter"
    TimeControlAdapter.from_unet(components.unet).save_pretrained(adapter_dir)

    gen = build_generator(f"ldm:{folder},adapter={adapter_dir},steps=2,device=cpu,batch=2")
    assert isinstance(gen, LDMGenerator) and gen.adapter is not None
    # Tango's window is its pipeline's fixed 1024 frames; AudioLDM's is sample_size x factor
    assert gen.window == (1024 if layout != "audioldm" else round(WINDOW_S * 100))
    assert gen.steps == 2
    requests = _requests()
    sounds = gen.render_batch(requests)
    _check_rendered(gen, sounds, requests)
    # per-event seeds: an event rendered alone sounds as it did batched with another
    alone = gen.render(requests[0])
    scale = float(np.abs(sounds[0].audio).max())
    assert scale > 0
    np.testing.assert_allclose(alone.audio, sounds[0].audio, atol=1e-3 * scale)
    assert not np.allclose(sounds[0].audio[:2400], sounds[1].audio[:2400], atol=1e-3 * scale)


def test_paper_sampler_and_low_precision_options():
    tango = tiny_components("tango")  # the generator casts the UNet: not the shared one
    adapter = TimeControlAdapter.from_unet(tango.unet)
    gen = LDMGenerator(tango, adapter, scheduler="ddpm", steps=3, dtype="bf16", device="cpu")
    assert gen.steps == 3 and gen.conditioning_scale == 2.0
    sounds = gen.render_batch(_requests()[:2])
    assert all(np.isfinite(s.audio).all() for s in sounds)
    assert LDMGenerator(tango, scheduler="ddpm").steps == 200  # the paper's DDPM 200
    assert LDMGenerator(tango).steps == 25  # DPM-Solver++ default
    with pytest.raises(ConfigError, match="scheduler"):
        LDMGenerator(tango, scheduler="euler")
    with pytest.raises(ConfigError, match="fp16 needs a GPU"):
        LDMGenerator(tango, dtype="fp16", device="cpu")


def test_missing_weights_name_the_folder_and_how_to_fetch(tmp_path):
    with pytest.raises(ConfigError) as err:
        load_ldm(tmp_path / "nowhere")
    assert err.value.path == str(tmp_path / "nowhere") and "huggingface-cli download" in str(err)

    folder = save_tango(tmp_path / "tango")
    for part in (folder / "vae").iterdir():
        part.unlink()
    (folder / "vae").rmdir()
    with pytest.raises(ConfigError) as err:
        load_ldm(folder)
    assert err.value.path == str(folder) and "pytorch_model_vae.bin" in err.value.message
    assert "declare-lab/tango" in err.value.message

    (folder / "unet" / "diffusion_pytorch_model.safetensors").unlink()
    save_tango(tmp_path / "tango2")  # a complete folder; its VAE goes back into the first
    shutil.copytree(tmp_path / "tango2" / "vae", folder / "vae")
    with pytest.raises(ConfigError, match="no UNet weights") as err:
        load_ldm(folder)
    assert "declare-lab/tango" in err.value.message

    with pytest.raises(ConfigError, match="adapter checkpoint not found") as err:
        build_generator(f"ldm:{tmp_path / 'tango2'},adapter={tmp_path / 'none'}")
    assert err.value.path == str(tmp_path / "none")
    with pytest.raises(ConfigError, match="needs a model folder"):
        build_generator("ldm")


def test_long_clips_render_in_crossfaded_windows(tango):
    adapter = TimeControlAdapter.from_unet(tango.unet)
    gen = LDMGenerator(tango, adapter, steps=1, device="cpu")
    # T_ct active only from 1.2 s: the last window alone carries it
    t_ct = np.zeros(40, dtype=bool)
    t_ct[30:36] = True
    request = SoundRequest("rain", 1.5, True, 3, activity=t_ct, activity_rate=25.0)
    plan = gen._plan(0, request)
    assert plan.frames == 150 and plan.starts == (0, 48, 86)  # window 64, overlap 16
    assert not plan.active[:86].any() and plan.active[120:144].all()
    (sound,) = gen.render_batch([request])
    assert sound.metadata["windows"] == 3
    assert sound.audio.shape == (72_000, 2)

    # the stitch itself: constant windows 1, 2, 3 with equal-power fades between them
    hop = gen.mel.hop
    waves = [np.full(64 * hop, v, dtype=np.float32) for v in (1.0, 2.0, 3.0)]
    out = gen._stitch(waves, (0, 48, 86))
    assert len(out) == 150 * hop
    assert np.all(out[: 48 * hop] == 1.0) and np.all(out[64 * hop : 86 * hop] == 2.0)
    assert np.all(out[112 * hop :] == 3.0)
    fade = out[48 * hop : 64 * hop]
    assert fade[0] == pytest.approx(1.0) and fade[-1] == pytest.approx(2.0, abs=1e-3)
    assert fade.max() > 2.0  # equal power: uncorrelated windows keep their loudness


def test_speed_benchmark_runs_tiny_on_cpu():
    result = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "ldm_speed.py"), "--device", "cpu", "--tiny"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = result.stdout
    for label in ("paper", "ours", "ratio", "low-VRAM"):
        assert label in out
    ratio = float(out.split("ratio")[1].split()[0].rstrip("x"))
    assert ratio > 0


def test_validation_activity_sees_sound_above_a_vocoder_noise_floor():
    """T1: a noise floor 25 dB under the peak made eq. 7's -40 dB read every frame as sound."""
    from sonicvision.server.metrics import activity_from_audio, activity_from_intervals
    from sonicvision.server.train.adapter import validation_activity

    sr, seconds = 16_000, 2.0
    t = np.arange(int(sr * seconds)) / sr
    rng = np.random.default_rng(0)
    floor = 0.056 * rng.standard_normal(t.size)  # ~ -25 dB under the burst's RMS
    burst = np.where((t >= 0.8) & (t < 1.2), np.sin(2 * np.pi * 440 * t), 0.0)
    audio = 0.5 * (burst + floor)
    expected = activity_from_intervals([(0.8, 1.2)], seconds, 25.0)
    old = activity_from_audio(audio, sr, 25.0, duration_s=seconds)
    assert old.all()  # "all sounding": the old validation IoU was 10 / 50 frames whatever it did
    new, separable = validation_activity(audio, sr, seconds)
    assert separable and np.array_equal(new, expected)
    # a render that is noise through and through: said to be blind, not scored as sound
    _, separable = validation_activity(0.5 * rng.standard_normal(t.size), sr, seconds)
    assert not separable


def test_nearby_events_of_one_text_share_a_window_with_their_t_ct(tango):
    adapter = TimeControlAdapter.from_unet(tango.unet)
    seen: list = []

    class Spy(LDMGenerator):
        def __call__(self, windows):
            seen.extend(windows)
            return super().__call__(windows)

    gen = Spy(tango, adapter, steps=1, device="cpu")
    steps = [
        SoundRequest("footsteps on gravel", 0.1, False, 1, start_s=s) for s in (1.0, 1.2, 1.45)
    ]
    door = SoundRequest("door slams", 0.2, False, 9, start_s=1.1)
    late = SoundRequest("footsteps on gravel", 0.1, False, 5, start_s=3.0)  # past the window
    requests = [steps[0], door, steps[1], steps[2], late]
    sounds = gen.render_batch(requests)
    assert len(seen) == 3  # one window for three steps, one for the door, one for the late step
    shared = next(w for w in seen if w.event == 0)
    # T_ct of the shared window: three 10-frame runs at 0, 20 and 45 mel frames (100 fps)
    assert np.flatnonzero(np.diff(np.r_[0, shared.active.astype(int)]) == 1).tolist() == [0, 20, 45]
    assert int(shared.active.sum()) == 30
    assert [s.metadata["window_shared_by"] for s in sounds] == [3, 1, 3, 3, 1]
    for sound, request in zip(sounds, requests, strict=True):
        assert sound.audio.shape == (round(request.duration_s * 48_000), 2)

    # without placement, or with group=0, every event has a window of its own
    seen.clear()
    Spy(tango, adapter, steps=1, device="cpu", group=False).render_batch(steps)
    assert len(seen) == 3
