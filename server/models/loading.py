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

Tango (declare-lab/tango, tango-full-ft-audiocaps, ...: the paper's base model)::

    DIR/unet/config.json          configs/diffusion_model_config.json, github.com/declare-lab/tango
    DIR/unet/diffusion_pytorch_model.safetensors
      or DIR/pytorch_model_main.bin   Tango's own checkpoint; its "unet.*" weights are used
    DIR/vae/                      AudioLDM's AutoencoderKL (Tango uses AudioLDM's VAE, frozen):
                                  copy or link cvssp/audioldm-s-full-v2's vae/
    DIR/vocoder/                  likewise AudioLDM's SpeechT5HifiGan (vocoder/)
    DIR/text_encoder/             FLAN-T5 (google/flan-t5-large): config.json, weights and
                                  tokenizer files (or put the tokenizer in DIR/tokenizer/)
    DIR/scheduler/                optional; default: Stable Diffusion 2.1's schedule
                                  (v-prediction, scaled-linear betas), which Tango trained with

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
from transformers import (
    AutoTokenizer,
    ClapTextModelWithProjection,
    PreTrainedModel,
    PreTrainedTokenizerBase,
    SpeechT5HifiGan,
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

AUDIOLDM_FETCH = "huggingface-cli download cvssp/audioldm-s-full-v2 --local-dir DIR"
TANGO_FETCH = (
    "huggingface-cli download declare-lab/tango --local-dir DIR (UNet weights), Tango's "
    "configs/diffusion_model_config.json as DIR/unet/config.json, "
    "huggingface-cli download google/flan-t5-large --local-dir DIR/text_encoder, and the vae/ "
    "and vocoder/ folders of cvssp/audioldm-s-full-v2"
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

    @property
    def mel(self) -> MelSpec:
        return MelSpec.from_vocoder(self.vocoder.config)

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def window_frames(self) -> int:
        """Mel frames of the model's native window (Tango: 1024 = 10.24 s, from sample_size)."""
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


def _tango_unet(path: Path) -> UNet2DConditionModel:
    config_path = path / "unet" / "config.json"
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
            "Tango folder has no UNet weights (unet/diffusion_pytorch_model.safetensors or "
            f"pytorch_model_main.bin); get them with: {TANGO_FETCH}",
            path=path,
        )
    config = _read_json(config_path)

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


def load_tango(path: Path) -> LDMComponents:
    """Tango: FLAN-T5 states and their padding mask enter the UNet by cross-attention."""
    _require(
        path,
        {
            "unet/config.json": "Tango's diffusion_model_config.json",
            "vae": "AudioLDM's VAE",
            "vocoder": "AudioLDM's HiFi-GAN vocoder",
            "text_encoder": "FLAN-T5",
        },
        "Tango",
        TANGO_FETCH,
    )
    unet = _tango_unet(path)
    vae, vocoder = _common(path)
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
        "tango", path, unet, vae, vocoder, text_encoder, tokenizer, scheduler, "cross_attention"
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
