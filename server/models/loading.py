"""Load the base text-to-audio LDM from a local folder: AudioLDM (diffusers format) or Tango.

Nothing is downloaded: every ``from_pretrained`` runs with ``local_files_only=True``, and a
missing folder or file is a ConfigError naming what is missing and the command that fetches it.
Tango's weights are CC BY-NC-ND: we ship loaders, never weights.

Folder layouts
--------------

AudioLDM, as ``huggingface-cli download cvssp/audioldm-s-full-v2 --local-dir DIR`` leaves it
(any diffusers AudioLDMPipeline checkpoint: audioldm-s-full-v2, audioldm-m-full, audioldm-l-full)::

    DIR/model_index.json          "_class_name": "AudioLDMPipeline"
    DIR/unet/                     UNet2DConditionModel (config.json + weights)
    DIR/vae/                      AutoencoderKL, 64-mel input, 8 latent channels
    DIR/vocoder/                  SpeechT5HifiGan, 16 kHz, hop 160
    DIR/text_encoder/             ClapTextModelWithProjection
    DIR/tokenizer/                RobertaTokenizer(Fast)
    DIR/scheduler/                scheduler_config.json (the training noise schedule)

Tango (declare-lab/tango, tango-full-ft-audiocaps, ...: the paper's base model), as
``huggingface-cli download declare-lab/tango --local-dir DIR`` leaves it, plus FLAN-T5::

    DIR/main_config.json          Tango's config (text encoder, scheduler, UNet config path)
    DIR/pytorch_model_main.bin    Tango's checkpoint; its "unet.*" weights are used
    DIR/vae_config.json           Tango's own VAE (AudioLDM's architecture, audioldm key names,
    DIR/pytorch_model_vae.bin     scale_factor 0.9227914 in vae_config.json); the same file
                                  holds Tango's HiFi-GAN ("vocoder.*"), as Tango loads it
    DIR/text_encoder/             google/flan-t5-large: config.json, weights and tokenizer files

    optional, each replacing the one above: DIR/unet/ (config.json + diffusers weights; without
    it the UNet config is Tango's configs/diffusion_model_config.json, kept here verbatim as
    TANGO_UNET_CONFIG, or DIR/configs/diffusion_model_config.json when present), DIR/vae/ and
    DIR/vocoder/ (diffusers / transformers folders), DIR/tokenizer/, DIR/scheduler/ (default:
    Stable Diffusion 2.1's schedule, v-prediction, scaled-linear betas, which Tango trained with).

Tango's window is 1024 mel frames (10.24 s): its ``AudioDiffusion.prepare_latents`` hard-codes
(8, 256, 16) latents, i.e. 256 latent frames times the VAE's factor 4, and its training crops
every clip to AudioLDM's ``target_length`` 1024. The ``sample_size`` of [32, 2] in its published
UNet config is a leftover Tango never reads, so the window never comes from it.

Fetch Tango with ``huggingface-cli download declare-lab/tango --local-dir DIR`` and
``huggingface-cli download google/flan-t5-large --local-dir DIR/text_encoder``.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import torch
from diffusers import AutoencoderKL, UNet2DConditionModel
from diffusers.loaders.single_file_utils import convert_ldm_vae_checkpoint
from transformers import (
    AutoTokenizer,
    ClapTextModelWithProjection,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    SpeechT5HifiGan,
    SpeechT5HifiGanConfig,
    T5EncoderModel,
)

from sonicvision.errors import ConfigError

from .adapter import TimeControlAdapter, move
from .time_condition import MelSpec

logger = logging.getLogger(__name__)

TextInput = Literal["cross_attention", "class_labels"]

# stabilityai/stable-diffusion-2-1 scheduler/scheduler_config.json: Tango's main_config.json
# names that repo as its scheduler, so this is the noise schedule Tango was trained with.
TANGO_SCHEDULER_CONFIG: dict[str, Any] = {
    "num_train_timesteps": 1000,
    "beta_start": 0.00085,
    "beta_end": 0.012,
    "beta_schedule": "scaled_linear",
    "prediction_type": "v_prediction",
    "clip_sample": False,
    "set_alpha_to_one": False,
    "steps_offset": 1,
}

# Tango's models.py, AudioDiffusion.prepare_latents: shape = (batch, channels, 256, 16); 256
# latent frames x the VAE's factor 4 = 1024 mel frames = 10.24 s at 100 frames/s.
TANGO_WINDOW_FRAMES = 1024

# github.com/declare-lab/tango configs/diffusion_model_config.json, verbatim (the file
# main_config.json names as unet_model_config_path; the HF repo does not carry it).
TANGO_UNET_CONFIG: dict[str, Any] = {
    "act_fn": "silu",
    "attention_head_dim": [5, 10, 20, 20],
    "block_out_channels": [320, 640, 1280, 1280],
    "center_input_sample": False,
    "cross_attention_dim": 1024,
    "down_block_types": [
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "CrossAttnDownBlock2D",
        "DownBlock2D",
    ],
    "downsample_padding": 1,
    "dual_cross_attention": False,
    "flip_sin_to_cos": True,
    "freq_shift": 0,
    "in_channels": 8,
    "layers_per_block": 2,
    "mid_block_scale_factor": 1,
    "norm_eps": 1e-05,
    "norm_num_groups": 32,
    "num_class_embeds": None,
    "only_cross_attention": False,
    "out_channels": 8,
    "sample_size": [32, 2],  # never read by Tango: see TANGO_WINDOW_FRAMES
    "up_block_types": [
        "UpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
        "CrossAttnUpBlock2D",
    ],
    "use_linear_projection": True,
    "upcast_attention": True,
}

# Tango's audioldm/hifigan/utilities.py HIFIGAN_16K_64 (hard-coded there, no file in the HF
# repo), as SpeechT5HifiGan's config. ``upsample_initial_channel`` is read off the weights.
TANGO_VOCODER_CONFIG: dict[str, Any] = {
    "model_in_dim": 64,
    "sampling_rate": 16000,
    "upsample_rates": [5, 4, 2, 2, 2],
    "upsample_kernel_sizes": [16, 16, 8, 4, 4],
    "resblock_kernel_sizes": [3, 7, 11],
    "resblock_dilation_sizes": [[1, 3, 5], [1, 3, 5], [1, 3, 5]],
    "normalize_before": False,
}

AUDIOLDM_FETCH = "huggingface-cli download cvssp/audioldm-s-full-v2 --local-dir DIR"
TANGO_FETCH = (
    "huggingface-cli download declare-lab/tango --local-dir DIR and "
    "huggingface-cli download google/flan-t5-large --local-dir DIR/text_encoder"
)


@dataclass
class LDMComponents:
    """The frozen base model: text encoder, UNet, VAE (E_a and decoder), vocoder, schedule."""

    variant: str
    path: Path
    unet: UNet2DConditionModel
    vae: AutoencoderKL
    vocoder: SpeechT5HifiGan
    text_encoder: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    scheduler_config: dict[str, Any]
    text_input: TextInput  # Tango: FLAN-T5 states by cross-attention; AudioLDM: CLAP as class
    window: int = 0  # mel frames of the native window; 0: the UNet's sample_size x VAE factor

    @property
    def mel(self) -> MelSpec:
        return MelSpec.from_vocoder(self.vocoder.config)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def window_frames(self) -> int:
        """Mel frames of the model's native window: Tango's fixed 1024 (10.24 s), else, as
        diffusers' AudioLDMPipeline defaults it, the UNet's sample_size x the VAE's factor
        (cvssp/audioldm-s-full-v2: 128 x 4 = 512 frames, 5.12 s)."""
        if self.window:
            return self.window
        size = self.unet.config.sample_size
        height = size[0] if isinstance(size, list | tuple) else size
        return int(height) * self.vae_scale_factor

    @property
    def frame_multiple(self) -> int:
        """Mel frames must be a multiple of this for the VAE and the UNet's downsampling."""
        downs = len(self.unet.config.block_out_channels) - 1
        return self.vae_scale_factor * 2**downs

    @torch.no_grad()
    def encode_text(
        self, texts: list[str], pad_to: int = 0
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """FLAN-T5 states + padding mask (Tango), or the unit-norm CLAP embedding (AudioLDM).

        ``pad_to`` pads T5 tokens to a length, so the empty prompt of classifier-free
        guidance lines up with the prompts (as Tango's ``encode_text_classifier_free`` does).
        """
        device = self.text_encoder.device
        if self.text_input == "cross_attention":
            tokens = self.tokenizer(
                texts,
                padding="max_length" if pad_to else True,
                max_length=pad_to or self.tokenizer.model_max_length,
                truncation=True,
                return_tensors="pt",
            ).to(device)
            states = self.text_encoder(
                input_ids=tokens.input_ids, attention_mask=tokens.attention_mask
            ).last_hidden_state
            return states.float(), tokens.attention_mask.bool()
        tokens = self.tokenizer(
            texts,
            padding="max_length",
            max_length=self.tokenizer.model_max_length,
            truncation=True,
            return_tensors="pt",
        ).to(device)
        embeds = self.text_encoder(
            input_ids=tokens.input_ids, attention_mask=tokens.attention_mask
        ).text_embeds
        return torch.nn.functional.normalize(embeds.float(), dim=-1), None

    def text_kwargs(self, embeds: torch.Tensor, mask: torch.Tensor | None) -> dict[str, Any]:
        """How this UNet (and its adapter) take the text: cross-attention or class labels."""
        if self.text_input == "cross_attention":
            return {"encoder_hidden_states": embeds, "encoder_attention_mask": mask}
        return {"encoder_hidden_states": None, "class_labels": embeds}

    def freeze(self) -> LDMComponents:
        """The base never trains (sec. 3.5: "all Tango's elements are kept frozen")."""
        for module in self.modules():
            module.requires_grad_(False)
            module.eval()
        return self

    def modules(self) -> list[torch.nn.Module]:
        return [self.text_encoder, self.unet, self.vae, self.vocoder]

    def to(self, device: torch.device | str) -> LDMComponents:
        for module in self.modules():
            move(module, device)
        return self


@dataclass(frozen=True)
class Variant:
    """One base-model family: its folder layout, how the UNet reads text, how to fetch it."""

    name: str
    text_input: TextInput
    fetch: str
    load: Callable[[Path], LDMComponents]


def _require(path: Path, parts: dict[str, str], variant: str, fetch: str) -> None:
    missing = [f"{name} ({what})" for name, what in parts.items() if not (path / name).exists()]
    if missing:
        raise ConfigError(
            f"{variant} model folder lacks {', '.join(missing)}; get it with: {fetch}", path=path
        )


def _load(what: str, folder: Path, fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except (OSError, ValueError, RuntimeError, KeyError) as exc:
        raise ConfigError(f"cannot load the {what}: {exc}", path=folder) from exc


def _read_json(path: Path) -> dict[str, Any]:
    try:
        return json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read {path.name}: {exc}", path=path) from exc


def _common(path: Path) -> tuple[AutoencoderKL, SpeechT5HifiGan]:
    vae = _load(
        "VAE",
        path / "vae",
        lambda: AutoencoderKL.from_pretrained(path / "vae", local_files_only=True),
    )
    vocoder = _load(
        "vocoder",
        path / "vocoder",
        lambda: SpeechT5HifiGan.from_pretrained(path / "vocoder", local_files_only=True),
    )
    return vae, vocoder


def load_audioldm(path: Path) -> LDMComponents:
    """A diffusers AudioLDMPipeline folder; its CLAP text embedding enters as class labels."""
    _require(
        path,
        {
            "model_index.json": "pipeline index",
            "unet": "UNet",
            "vae": "VAE",
            "vocoder": "HiFi-GAN vocoder",
            "text_encoder": "CLAP text encoder",
            "tokenizer": "tokenizer",
            "scheduler/scheduler_config.json": "noise schedule",
        },
        "AudioLDM",
        AUDIOLDM_FETCH,
    )
    index = _read_json(path / "model_index.json")
    if index.get("_class_name") not in ("AudioLDMPipeline", None):
        raise ConfigError(
            f"model_index.json is a {index.get('_class_name')}, not an AudioLDMPipeline",
            path=path / "model_index.json",
        )
    unet = _load(
        "UNet",
        path / "unet",
        lambda: UNet2DConditionModel.from_pretrained(path / "unet", local_files_only=True),
    )
    vae, vocoder = _common(path)
    text_encoder = _load(
        "CLAP text encoder",
        path / "text_encoder",
        lambda: ClapTextModelWithProjection.from_pretrained(
            path / "text_encoder", local_files_only=True
        ),
    )
    tokenizer = _load(
        "tokenizer",
        path / "tokenizer",
        lambda: AutoTokenizer.from_pretrained(path / "tokenizer", local_files_only=True),
    )
    scheduler = _read_json(path / "scheduler" / "scheduler_config.json")
    return LDMComponents(
        "audioldm", path, unet, vae, vocoder, text_encoder, tokenizer, scheduler, "class_labels"
    )


def _tango_unet_config(path: Path) -> dict[str, Any]:
    """DIR/unet/config.json, else the file main_config.json names, else Tango's published one."""
    for candidate in (path / "unet" / "config.json", _tango_config_path(path)):
        if candidate is not None and candidate.is_file():
            return _read_json(candidate)
    return dict(TANGO_UNET_CONFIG)


def _tango_config_path(path: Path) -> Path | None:
    main = path / "main_config.json"
    if not main.is_file():
        return None
    name = _read_json(main).get("unet_model_config_path")
    return path / name if isinstance(name, str) and name else None


def _tango_unet(path: Path) -> UNet2DConditionModel:
    weights = [
        path / "unet" / name
        for name in ("diffusion_pytorch_model.safetensors", "diffusion_pytorch_model.bin")
    ]
    if any(w.exists() for w in weights):
        return _load(
            "UNet",
            path / "unet",
            lambda: UNet2DConditionModel.from_pretrained(path / "unet", local_files_only=True),
        )
    main = path / "pytorch_model_main.bin"
    if not main.exists():
        raise ConfigError(
            "Tango folder has no UNet weights (pytorch_model_main.bin, or unet/ in diffusers "
            f"format); get them with: {TANGO_FETCH}",
            path=path,
        )
    config = _tango_unet_config(path)

    def build() -> UNet2DConditionModel:
        state = torch.load(main, map_location="cpu", weights_only=True, mmap=True)
        unet_state = {k[len("unet.") :]: v for k, v in state.items() if k.startswith("unet.")}
        if not unet_state:
            raise KeyError("no 'unet.*' weights in pytorch_model_main.bin")
        with torch.device("meta"):
            unet = UNet2DConditionModel.from_config(config)
        unet.load_state_dict(unet_state, strict=True, assign=True)
        return unet

    return _load("UNet", main, build)


def tango_vae_config(config: dict[str, Any]) -> dict[str, Any]:
    """Tango's vae_config.json (audioldm's AutoencoderKL arguments) as diffusers' config.

    audioldm's Encoder/Decoder are the LDM ones: ``ch * ch_mult`` channels, ``num_res_blocks``
    resnets per level, GroupNorm(32), a mid block with attention; ``scale_factor`` is the
    latent scale Tango trained its UNet with.
    """
    dd = config.get("ddconfig") or {}
    if int(config.get("subband", 1)) != 1 or not dd.get("double_z", True):
        raise ValueError("only single-band, double_z audioldm VAEs are supported")
    if int(dd.get("z_channels", 0)) != int(config.get("embed_dim", -1)):
        raise ValueError(
            f"z_channels {dd.get('z_channels')} differs from embed_dim {config.get('embed_dim')}"
        )
    channels = [int(dd["ch"]) * int(m) for m in dd["ch_mult"]]
    return {
        "in_channels": int(dd["in_channels"]),
        "out_channels": int(dd["out_ch"]),
        "down_block_types": ["DownEncoderBlock2D"] * len(channels),
        "up_block_types": ["UpDecoderBlock2D"] * len(channels),
        "block_out_channels": channels,
        "layers_per_block": int(dd["num_res_blocks"]),
        "latent_channels": int(config["embed_dim"]),
        "norm_num_groups": 32,
        "sample_size": int(dd.get("resolution", 256)),
        "scaling_factor": float(config["scale_factor"]),
    }


def tango_vocoder_state(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The ``vocoder.*`` HiFi-GAN weights of Tango's VAE file, with SpeechT5HifiGan's names.

    The same renames as diffusers' convert_original_audioldm_to_diffusers.py: ``ups.i`` are
    ``upsampler.i``; ``mean``/``scale`` (unused without ``normalize_before``) start at 0 / 1.
    """
    voc = {k[len("vocoder.") :]: v for k, v in state.items() if k.startswith("vocoder.")}
    if "conv_pre.weight" not in voc:
        raise KeyError("no 'vocoder.*' HiFi-GAN weights in pytorch_model_vae.bin")
    out = {}
    for key, value in voc.items():
        if key.startswith("ups."):
            key = "upsampler." + key[len("ups.") :]
        out[key] = value
    n_mels = int(TANGO_VOCODER_CONFIG["model_in_dim"])
    out["mean"] = torch.zeros(n_mels)
    out["scale"] = torch.ones(n_mels)
    return out


def _tango_vae_and_vocoder(path: Path) -> tuple[AutoencoderKL, SpeechT5HifiGan]:
    """Tango's own VAE and HiFi-GAN, or diffusers folders vae/ and vocoder/ where present."""
    vae = vocoder = None
    if (path / "vae").is_dir():
        vae = _load(
            "VAE",
            path / "vae",
            lambda: AutoencoderKL.from_pretrained(path / "vae", local_files_only=True),
        )
    if (path / "vocoder").is_dir():
        vocoder = _load(
            "vocoder",
            path / "vocoder",
            lambda: SpeechT5HifiGan.from_pretrained(path / "vocoder", local_files_only=True),
        )
    if vae is not None and vocoder is not None:
        return vae, vocoder
    weights = path / "pytorch_model_vae.bin"
    state = _load(
        "Tango VAE",
        weights,
        lambda: torch.load(weights, map_location="cpu", weights_only=True, mmap=True),
    )
    if vae is None:
        config = tango_vae_config(_read_json(path / "vae_config.json"))

        def build_vae() -> AutoencoderKL:
            ldm = {k: v for k, v in state.items() if not k.startswith("vocoder.")}
            converted = convert_ldm_vae_checkpoint(ldm, config)
            with torch.device("meta"):
                model = AutoencoderKL(**config)
            model.load_state_dict(converted, strict=True, assign=True)
            return model

        vae = _load("Tango VAE", weights, build_vae)
    if vocoder is None:

        def build_vocoder() -> SpeechT5HifiGan:
            voc = tango_vocoder_state(state)
            width = int(voc["conv_pre.weight"].shape[0])
            config = SpeechT5HifiGanConfig(**TANGO_VOCODER_CONFIG, upsample_initial_channel=width)
            with torch.device("meta"):
                model = SpeechT5HifiGan(config)
            model.load_state_dict(voc, strict=True, assign=True)
            return model

        vocoder = _load("Tango vocoder", weights, build_vocoder)
    return vae, vocoder


def load_tango(path: Path) -> LDMComponents:
    """Tango: FLAN-T5 states and their padding mask enter the UNet by cross-attention."""
    parts = {"text_encoder": "FLAN-T5 (google/flan-t5-large)"}
    if not ((path / "vae").is_dir() and (path / "vocoder").is_dir()):
        parts |= {
            "vae_config.json": "Tango's VAE config",
            "pytorch_model_vae.bin": "Tango's VAE and vocoder weights",
        }
    _require(path, parts, "Tango", TANGO_FETCH)
    unet = _tango_unet(path)
    vae, vocoder = _tango_vae_and_vocoder(path)
    text_encoder = _load(
        "FLAN-T5 text encoder",
        path / "text_encoder",
        lambda: T5EncoderModel.from_pretrained(path / "text_encoder", local_files_only=True),
    )
    tok_dir = path / "tokenizer" if (path / "tokenizer").exists() else path / "text_encoder"
    tokenizer = _load(
        "tokenizer", tok_dir, lambda: AutoTokenizer.from_pretrained(tok_dir, local_files_only=True)
    )
    sched_path = path / "scheduler" / "scheduler_config.json"
    scheduler = _read_json(sched_path) if sched_path.exists() else dict(TANGO_SCHEDULER_CONFIG)
    return LDMComponents(
        "tango",
        path,
        unet,
        vae,
        vocoder,
        text_encoder,
        tokenizer,
        scheduler,
        "cross_attention",
        window=TANGO_WINDOW_FRAMES,
    )


VARIANTS: dict[str, Variant] = {
    "audioldm": Variant("audioldm", "class_labels", AUDIOLDM_FETCH, load_audioldm),
    "tango": Variant("tango", "cross_attention", TANGO_FETCH, load_tango),
}


def detect_variant(path: Path) -> str:
    """A diffusers pipeline folder (model_index.json) is AudioLDM; anything else is Tango."""
    return "audioldm" if (path / "model_index.json").exists() else "tango"


def load_ldm(path: str | Path, variant: str | None = None) -> LDMComponents:
    """The frozen base model from a local folder, in float32 on the CPU."""
    path = Path(path).expanduser()
    if variant is not None and variant not in VARIANTS:
        raise ConfigError(
            f"unknown LDM variant {variant!r}; choose from {', '.join(VARIANTS)}", field="variant"
        )
    if not path.is_dir():
        fetch = "; ".join(f"{v.name}: {v.fetch}" for v in VARIANTS.values())
        raise ConfigError(f"model folder not found; get one with: {fetch}", path=path)
    chosen = VARIANTS[variant or detect_variant(path)]
    logger.info("loading %s from %s", chosen.name, path)
    return chosen.load(path).freeze()


def load_adapter(path: str | Path, unet: UNet2DConditionModel) -> TimeControlAdapter:
    """A trained time adapter (``save_pretrained`` folder: config.json + safetensors)."""
    path = Path(path).expanduser()
    if not (path / "config.json").exists():
        raise ConfigError(
            "time adapter checkpoint not found (config.json + diffusion_pytorch_model."
            "safetensors); train one with: sonicvision train adapter --base MODEL --data DIR "
            "--out CKPT",
            path=path,
        )
    adapter = _load(
        "time adapter",
        path,
        lambda: TimeControlAdapter.from_pretrained(path, local_files_only=True),
    )
    if not adapter.matches(unet):
        raise ConfigError(
            "this time adapter was trained for a different base UNet (its unet_config differs)",
            path=path,
        )
    adapter.requires_grad_(False)
    return adapter.eval()
