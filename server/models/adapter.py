"""The time-controllable adapter (paper sec. 3.5, eq. 10): a ControlNet over the audio UNet.

F' and M' are a trainable copy of the frozen UNet's conv_in, time (and class) embedding, down
blocks and mid block. The eq. 9 time condition A_ct, already on the latent grid, enters after
conv_in through a zero 1x1 conv; each of F''s skip features f'_j and M''s output m' leaves
through its own zero 1x1 conv, scaled by ``conditioning_scale`` (2.0 is the paper's best, fig. 6).
The UNet adds them to its decoder skips and mid output when given them as
``down_block_additional_residuals`` / ``mid_block_additional_residual``: that sum is eq. 10.

Why not diffusers' ``ControlNetModel``: its ``from_unet`` cannot copy AudioLDM's UNet (per-block
``cross_attention_dim``, ``simple_projection`` class embedding concatenated to the time
embedding), its forward has no ``encoder_attention_mask`` (Tango masks the FLAN-T5 padding), and
its condition embedding is a strided 3x3 stack for pixel-space hints. Building the copy from
the UNet's own constructor handles every UNet2DConditionModel config these models use.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import torch
from diffusers import UNet2DConditionModel
from diffusers.configuration_utils import ConfigMixin, register_to_config
from diffusers.models.controlnets.controlnet import zero_module
from diffusers.models.modeling_utils import ModelMixin
from diffusers.utils import BaseOutput
from torch import nn

logger = logging.getLogger(__name__)

DEFAULT_CONDITIONING_SCALE = 2.0  # fig. 6: best trade-off of quality and IoU


@dataclass
class TimeControlAdapterOutput(BaseOutput):
    """Residuals for the UNet: one per decoder skip (f'_j), and one for the mid block (m')."""

    down_block_res_samples: tuple[torch.Tensor, ...]
    mid_block_res_sample: torch.Tensor


def unet_config_dict(unet: UNet2DConditionModel) -> dict[str, Any]:
    """The UNet's constructor arguments, without diffusers' private bookkeeping keys."""
    return {k: v for k, v in dict(unet.config).items() if not k.startswith("_")}


def materialize_(module: nn.Module, device: torch.device | str = "cpu") -> nn.Module:
    """Give a module built on the meta device real storage and its default initialisation.

    Building on meta and materialising only the part we keep avoids allocating (and randomly
    initialising, ~10 s on a CPU at Tango's size) the UNet decoder that the adapter discards.
    """
    module.to_empty(device=device)
    with torch.no_grad():
        for sub in module.modules():
            reset = getattr(sub, "reset_parameters", None)
            if callable(reset):
                reset()
    return module


def move(
    module: nn.Module, device: torch.device | str | None = None, dtype: torch.dtype | None = None
) -> nn.Module:
    """``module.to(device, dtype)`` without diffusers' warning about fp32 modules we do not have.

    ``ModelMixin.to`` warns on every dtype cast, even with an empty keep-in-fp32 list.
    """
    return nn.Module.to(module, device=device, dtype=dtype)


def _skip_channels(config: dict[str, Any]) -> list[int]:
    """Channels of the UNet's encoder skips, in the order its down pass emits them."""
    channels = list(config["block_out_channels"])
    layers = config["layers_per_block"]
    layers = [layers] * len(channels) if isinstance(layers, int) else list(layers)
    skips = [channels[0]]  # conv_in output
    for i, ch in enumerate(channels):
        skips += [ch] * layers[i]
        if i < len(channels) - 1:
            skips.append(ch)  # downsampler output
    return skips


def _zero_conv(channels_in: int, channels_out: int) -> nn.Conv2d:
    return zero_module(nn.Conv2d(channels_in, channels_out, kernel_size=1))


class TimeControlAdapter(ModelMixin, ConfigMixin):
    """F' and M' of eq. 10, fed the latent, the timestep, the text and the time condition A_ct."""

    _supports_gradient_checkpointing = True

    @register_to_config
    def __init__(
        self,
        unet_config: dict[str, Any],
        conditioning_channels: int | None = None,
        conditioning_scale: float = DEFAULT_CONDITIONING_SCALE,
    ) -> None:
        super().__init__()
        config = {k: v for k, v in unet_config.items() if not k.startswith("_")}
        if config.get("addition_embed_type") is not None:
            raise ValueError(
                "TimeControlAdapter copies audio UNets (AudioLDM, Tango); addition_embed_type="
                f"{config['addition_embed_type']!r} (SDXL/Kandinsky style) is not supported"
            )
        if config.get("mid_block_type", "UNetMidBlock2DCrossAttn") is None:
            raise ValueError("eq. 10 adds m' to the UNet's middle block: this UNet has none")
        with torch.device("meta"):
            unet = UNet2DConditionModel.from_config(config)
        self.conv_in = unet.conv_in
        self.time_proj = unet.time_proj
        self.time_embedding = unet.time_embedding
        self.class_embedding = unet.class_embedding
        self.encoder_hid_proj = unet.encoder_hid_proj
        self.time_embed_act = unet.time_embed_act
        self.down_blocks = unet.down_blocks
        self.mid_block = unet.mid_block
        del unet  # the decoder half was never allocated
        here = torch.empty(0).device  # the caller's default device (``from_unet``: the UNet's)
        for part in self.children():
            materialize_(part, here)

        first = config["block_out_channels"][0]
        cond_ch = conditioning_channels or config["in_channels"]
        self.condition_in = _zero_conv(cond_ch, first)
        self.zero_down = nn.ModuleList(_zero_conv(c, c) for c in _skip_channels(config))
        last = config["block_out_channels"][-1]
        self.zero_mid = _zero_conv(last, last)

    @classmethod
    def from_unet(
        cls,
        unet: UNet2DConditionModel,
        conditioning_channels: int | None = None,
        conditioning_scale: float = DEFAULT_CONDITIONING_SCALE,
    ) -> TimeControlAdapter:
        """Copy the UNet's config and encoder/mid weights; the zero convs start at zero."""
        with torch.device(unet.device):  # initialise where the copy lands: fast on a GPU
            adapter = cls(
                unet_config=unet_config_dict(unet),
                conditioning_channels=conditioning_channels or unet.config.in_channels,
                conditioning_scale=conditioning_scale,
            )
        for name in (
            "conv_in",
            "time_proj",
            "time_embedding",
            "class_embedding",
            "encoder_hid_proj",
            "down_blocks",
            "mid_block",
        ):
            source = getattr(unet, name)
            if source is not None:
                getattr(adapter, name).load_state_dict(source.state_dict(), strict=True)
        return move(adapter, unet.device, unet.dtype)

    def matches(self, unet: UNet2DConditionModel) -> bool:
        """Whether this adapter was built for a UNet of this architecture."""
        keys = (
            "in_channels",
            "block_out_channels",
            "down_block_types",
            "layers_per_block",
            "cross_attention_dim",
            "class_embed_type",
            "mid_block_type",
        )
        ours, theirs = self.config.unet_config, unet_config_dict(unet)

        def norm(v: Any) -> Any:
            return list(v) if isinstance(v, list | tuple) else v

        return all(norm(ours.get(k)) == norm(theirs.get(k)) for k in keys)

    def _embedding(
        self, sample: torch.Tensor, timestep: torch.Tensor | float | int, class_labels
    ) -> torch.Tensor:
        """The UNet's time (+ class) embedding, computed exactly as the UNet computes it."""
        config = self.config.unet_config
        timesteps = torch.as_tensor(timestep, device=sample.device)
        if timesteps.ndim == 0:
            timesteps = timesteps[None]
        timesteps = timesteps.expand(sample.shape[0])
        emb = self.time_embedding(self.time_proj(timesteps).to(dtype=sample.dtype))
        if self.class_embedding is not None:
            if class_labels is None:
                raise ValueError("this UNet needs class_labels (AudioLDM: the CLAP text embedding)")
            if config.get("class_embed_type") == "timestep":
                class_labels = self.time_proj(class_labels).to(dtype=sample.dtype)
            class_emb = self.class_embedding(class_labels).to(dtype=sample.dtype)
            if config.get("class_embeddings_concat"):
                emb = torch.cat([emb, class_emb], dim=-1)
            else:
                emb = emb + class_emb
        if self.time_embed_act is not None:
            emb = self.time_embed_act(emb)
        return emb

    def forward(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float | int,
        encoder_hidden_states: torch.Tensor | None,
        time_condition: torch.Tensor,
        *,
        encoder_attention_mask: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        conditioning_scale: float | None = None,
        cross_attention_kwargs: dict[str, Any] | None = None,
        return_dict: bool = True,
    ) -> TimeControlAdapterOutput | tuple[tuple[torch.Tensor, ...], torch.Tensor]:
        """Residuals for ``UNet2DConditionModel(down_block_additional_residuals=...,
        mid_block_additional_residual=...)``; ``time_condition`` is A_ct on the latent grid."""
        scale = self.config.conditioning_scale if conditioning_scale is None else conditioning_scale
        if time_condition.shape[-2:] != sample.shape[-2:]:
            raise ValueError(
                f"time condition {tuple(time_condition.shape)} is not on the latent grid "
                f"{tuple(sample.shape)}"
            )
        # The text mask as the UNet uses it: a bias over the text tokens, for the adapter too.
        if encoder_attention_mask is not None:
            encoder_attention_mask = (1 - encoder_attention_mask.to(sample.dtype)) * -10000.0
            encoder_attention_mask = encoder_attention_mask.unsqueeze(1)
        if self.config.unet_config.get("center_input_sample"):
            sample = 2 * sample - 1.0

        # 1. time (and class) embedding; text projection where the UNet has one
        emb = self._embedding(sample, timestep, class_labels)
        if self.encoder_hid_proj is not None and encoder_hidden_states is not None:
            encoder_hidden_states = self.encoder_hid_proj(encoder_hidden_states)

        # 2. the noisy latent, plus A_ct through its zero conv
        hidden = self.conv_in(sample) + self.condition_in(time_condition.to(sample.dtype))

        # 3. F': the encoder copy, keeping every skip feature f'_j
        skips: tuple[torch.Tensor, ...] = (hidden,)
        for block in self.down_blocks:
            if getattr(block, "has_cross_attention", False):
                hidden, res = block(
                    hidden_states=hidden,
                    temb=emb,
                    encoder_hidden_states=encoder_hidden_states,
                    encoder_attention_mask=encoder_attention_mask,
                    cross_attention_kwargs=cross_attention_kwargs,
                )
            else:
                hidden, res = block(hidden_states=hidden, temb=emb)
            skips += tuple(res)

        # 4. M': the middle block copy
        if getattr(self.mid_block, "has_cross_attention", False):
            hidden = self.mid_block(
                hidden,
                emb,
                encoder_hidden_states=encoder_hidden_states,
                encoder_attention_mask=encoder_attention_mask,
                cross_attention_kwargs=cross_attention_kwargs,
            )
        else:
            hidden = self.mid_block(hidden, emb)

        # 5. eq. 10: zero(f'_j) for decoder skip j, zero(m') for the mid output, times the scale
        down = tuple(zero(s) * scale for zero, s in zip(self.zero_down, skips, strict=True))
        mid = self.zero_mid(hidden) * scale
        if not return_dict:
            return down, mid
        return TimeControlAdapterOutput(down_block_res_samples=down, mid_block_res_sample=mid)
