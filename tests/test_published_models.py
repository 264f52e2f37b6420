"""The paper's model stack on the published layouts, built from the published configs.

cvssp/audioldm-s-full-v2 (diffusers layout) and declare-lab/tango (its own files: main
checkpoint, audioldm-named VAE with its HiFi-GAN inside, no UNet config) with random weights,
reduced in width and depth only (server/testing/published.py says exactly how), then run the
way a user runs them: ``foley --generator ldm:DIR``, ``train adapter`` with validation.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("diffusers")

import opentimelineio as otio  # noqa: E402
import soundfile as sf  # noqa: E402
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint  # noqa: E402
from PIL import Image  # noqa: E402

from sonicvision.cli import main  # noqa: E402
from sonicvision.server.generate.base import SoundRequest  # noqa: E402
from sonicvision.server.generate.ldm import LDMGenerator  # noqa: E402
from sonicvision.server.models.adapter import TimeControlAdapter  # noqa: E402
from sonicvision.server.models.loading import (  # noqa: E402
    TANGO_UNET_CONFIG,
    TANGO_WINDOW_FRAMES,
    load_ldm,
    tango_vae_config,
)
from sonicvision.server.synthetic_scenes import ObjectSpec, SceneSpec, render_scene  # noqa: E402
from sonicvision.server.testing.cuts import one_clip_cut  # noqa: E402
from sonicvision.server.testing.published import (  # noqa: E402
    ldm_vae_state,
    read,
    save_audioldm,
    save_tango,
)
from sonicvision.server.train.adapter import TrainOptions, load_clip, train_adapter  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "models"


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def folders(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("published")
    return {
        "audioldm": save_audioldm(FIXTURES, root / "audioldm-s-full-v2"),
        "tango": save_tango(FIXTURES, root / "tango"),
    }


# ---- B1: the published vocoder is longer than hop x frames ---------------------------------


def test_published_vocoder_output_is_cropped_as_diffusers_does(folders):
    c = load_ldm(folders["audioldm"])
    assert list(c.vocoder.config.upsample_rates) == [5, 4, 2, 2, 2]
    with torch.no_grad():
        raw = c.vocoder(torch.zeros(1, 512, 64))
    assert raw.shape[-1] == 160 * 512 + 32  # what made _stitch raise a broadcast ValueError

    gen = LDMGenerator(c, TimeControlAdapter.from_unet(c.unet), steps=2, device="cpu")
    assert gen.window == 512  # sample_size 128 x VAE factor 4 = 5.12 s, diffusers' default
    short, long = gen.render_batch(  # 6 s: two windows, crossfaded
        [SoundRequest("door slams", 0.5, False, 1), SoundRequest("rain", 6.0, True, 2)]
    )
    assert short.audio.shape == (24_000, 2) and long.audio.shape == (288_000, 2)
    assert long.metadata["windows"] == 2 and np.isfinite(long.audio).all()
    assert float(np.abs(long.audio).max()) > 0


# ---- B2: Tango's window ---------------------------------------------------------------------


def test_tango_window_is_1024_frames_whatever_its_config_says(folders, tmp_path):
    published = read(FIXTURES, "tango/diffusion_model_config.json")
    assert {k: v for k, v in published.items() if not k.startswith("_")} == TANGO_UNET_CONFIG
    assert published["sample_size"] == [32, 2]  # what the old code read: 32 x 4 = 1.28 s
    c = load_ldm(folders["tango"])
    assert c.variant == "tango" and list(c.unet.config.sample_size) == [32, 2]
    assert c.window_frames == TANGO_WINDOW_FRAMES == 1024
    gen = LDMGenerator(c, steps=1, device="cpu")
    assert gen.window == 1024 and gen._plan(0, SoundRequest("rain", 9.0, True, 0)).starts == (0,)
    # training sees whole 10.24 s clips too
    wave = np.zeros(16_000 * 12, dtype=np.float32)
    wave[16_000 * 9 : 16_000 * 10] = 0.5
    sf.write(tmp_path / "late.wav", wave, 16_000)
    from sonicvision.server.train.adapter import Clip

    audio, active = load_clip(Clip(tmp_path / "late.wav", "knock", 9.0, 10.0), c.mel, 1024)
    assert audio.shape == (1024 * 160,) and active.sum() == 100 and audio[150_000] != 0


# ---- B3: Tango's own VAE and vocoder --------------------------------------------------------


def test_tango_vae_and_vocoder_load_from_its_own_files(folders):
    folder = folders["tango"]
    assert not (folder / "vae").exists() and not (folder / "vocoder").exists()
    state = torch.load(folder / "pytorch_model_vae.bin", weights_only=True)
    assert "encoder.down.0.block.0.conv1.weight" in state  # audioldm names
    assert "encoder.mid.attn_1.q.weight" in state and "vocoder.ups.0.weight" in state
    c = load_ldm(folder)
    assert c.vae.config.scaling_factor == pytest.approx(0.9227914214134216)  # vae_config.json
    assert c.vae.config.latent_channels == 8 and c.vae_scale_factor == 4
    assert list(c.vocoder.config.upsample_rates) == [5, 4, 2, 2, 2]
    # every tensor arrived where it belongs: Tango's names -> diffusers' -> the module
    ours = c.vae.state_dict()
    back = ldm_vae_state(c.vae)
    assert set(back) == {k for k in state if not k.startswith("vocoder.")}
    assert all(torch.equal(back[k], state[k]) for k in back)
    assert torch.equal(c.vocoder.state_dict()["upsampler.0.weight"], state["vocoder.ups.0.weight"])
    converted = convert_ldm_vae_checkpoint(back, tango_vae_config(read(folder, "vae_config.json")))
    assert converted.keys() == ours.keys()


# ---- end to end through the CLI -------------------------------------------------------------


def _cut(folder: Path) -> Path:
    spec = SceneSpec(64, 48, 25, 40, objects=[ObjectSpec("fall", 3, 14)], background="gradient")
    render_scene(spec, folder / "drop.mp4")
    return one_clip_cut(folder, "drop.mp4", 40)


@pytest.mark.parametrize("layout", ["audioldm", "tango"])
def test_foley_renders_with_each_published_layout(layout, folders, tmp_path, capsys):
    components = load_ldm(folders[layout])
    TimeControlAdapter.from_unet(components.unet).save_pretrained(tmp_path / "adapter")
    cut = _cut(tmp_path)
    spec = f"ldm:{folders[layout]},adapter={tmp_path / 'adapter'},steps=2,device=cpu"
    code = main(["foley", str(cut), "-o", str(tmp_path / "out.otio"), "--generator", spec])
    assert code == 0, capsys.readouterr().err
    wavs = sorted((tmp_path / "out_audio").glob("*.wav"))
    assert wavs
    audio, rate = sf.read(wavs[0])
    assert rate == 48_000 and np.isfinite(audio).all()
    result = otio.adapters.read_from_file(str(tmp_path / "out.otio"))
    assert any(t.name == "SV On-screen Foley" for t in result.audio_tracks())


def test_train_adapter_on_tango_validates_past_a_step(folders, tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    rows = []
    for i, (start, end) in enumerate([(1.0, 1.5), (4.0, 6.0), (7.5, 8.0)]):
        t = np.arange(int(10.24 * 16_000)) / 16_000
        y = np.where((t >= start) & (t < end), np.sin(2 * np.pi * (300 + 200 * i) * t), 0.0)
        sf.write(data / f"c{i}.wav", 0.5 * y, 16_000)
        rows.append({"audio": f"c{i}.wav", "caption": "metal clang", "start": start, "end": end})
    (data / "manifest.json").write_text(json.dumps(rows))
    lines: list[str] = []
    options = TrainOptions(
        base=folders["tango"],
        data=data,
        out=tmp_path / "ckpt",
        batch_size=1,
        max_steps=2,
        validate_every=1,
        val_count=1,
        val_steps=2,
        device="cpu",
    )
    result = train_adapter(options, report=lines.append)
    assert result.step == 2 and [s for s, _ in result.val_iou] == [1, 2]
    assert all(0.0 <= iou <= 1.0 for _, iou in result.val_iou)
    assert any("validation IoU" in line for line in lines)


# ---- the VLMs: Qwen2.5-VL-3B-Instruct (a fine-tune's files), SmolVLM-256M-Instruct ----------


@pytest.fixture(scope="module")
def vlm_folders(tmp_path_factory) -> dict[str, Path]:
    from sonicvision.server.testing.published import save_qwen25_vl, save_smolvlm

    root = tmp_path_factory.mktemp("vlms")
    return {
        "qwen": save_qwen25_vl(FIXTURES, root / "qwen2.5-vl-ft"),
        "smolvlm": save_smolvlm(FIXTURES, root / "smolvlm-256m"),
    }


def _frames() -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 255, (252, 448, 3), dtype=np.uint8) for _ in range(4)]


def test_qwen_fine_tune_naming_qwen2_5_vl_image_processor_loads(vlm_folders):
    from transformers import AutoProcessor

    from sonicvision.server.models.vlm import LocalVLM

    folder = vlm_folders["qwen"]
    assert read(folder, "preprocessor_config.json")["image_processor_type"] == (
        "Qwen2_5_VLImageProcessor"
    )
    with pytest.raises(ValueError, match="Unrecognized image processor"):
        AutoProcessor.from_pretrained(folder, local_files_only=True)  # what the describer hit
    vlm = LocalVLM.load(str(folder), max_new_tokens=2)
    image = vlm.processor.image_processor
    assert type(image).__name__ == "Qwen2VLImageProcessor"
    assert (image.size.longest_edge, image.size.shortest_edge) == (12845056, 3136)  # its file
    inputs = vlm.prepare([_conversation()], [_frames()])
    # 448 x 252 frames in 28 px merged patches: 16 x 9 = 144 image tokens a frame
    assert int((inputs["input_ids"] == 151655).sum()) == 4 * 144


def test_smolvlm_frames_are_one_image_each_not_13_tiles(vlm_folders):
    from sonicvision.server.models.vlm import LocalVLM

    vlm = LocalVLM.load(str(vlm_folders["smolvlm"]), max_new_tokens=2)
    processor = vlm.processor
    assert processor.image_processor.size == {"longest_edge": 2048}  # as published
    text = vlm.render([_conversation()])
    images = [[Image.fromarray(f) for f in _frames()]]
    tiled = processor(text=text, images=images, return_tensors="pt")
    assert tiled["pixel_values"].shape[1] == 4 * 13  # the old way: 52 vision passes a shot
    assert int((tiled["input_ids"] == 49190).sum()) == 4 * 13 * 64
    inputs = vlm.prepare([_conversation()], [_frames()])
    assert tuple(inputs["pixel_values"].shape[1:]) == (4, 3, 512, 512)  # one 512 px image each
    assert int((inputs["input_ids"] == 49190).sum()) == 4 * 64


def _conversation():
    from sonicvision.server.describe.vlm import conversation

    return conversation(4)


@pytest.mark.parametrize("family", ["qwen", "smolvlm"])
def test_describer_vlm_folder_through_the_cli(family, vlm_folders, tmp_path, capsys):
    cut = _cut(tmp_path)
    spec = f"vlm:{vlm_folders[family]},max_new_tokens=4"
    code = main(["analyze", str(cut), "-o", str(tmp_path / "cues.otio"), "--describer", spec])
    assert code == 0, capsys.readouterr().err
    cues = otio.adapters.read_from_file(str(tmp_path / "cues.otio"))
    sources = [
        m.metadata["sonicvision"]["cue"].get("text_source")
        for m in cues.tracks.markers
        if "cue" in m.metadata.get("sonicvision", {})
    ]
    assert sources and set(sources) <= {"vlm", "vlm-fallback"}
