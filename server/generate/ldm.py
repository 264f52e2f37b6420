"""The paper's generator: text + T_ct in, time-synchronised audio out (SonicVisionLM sec. 3.5).

A pipeline in the diffusers mould: encode the text (with the empty prompt, for classifier-free
guidance), build the time condition A_ct from T_ct (eq. 9), denoise latents with the frozen
UNet plus the time adapter's residuals (eq. 10), decode the mel with the VAE, vocode it, and
post-process to the project rate. Events of many shots render together in batches, each from
its own seeded noise, so a result does not depend on what it was batched with. Clips longer
than the model's window (10.24 s for Tango) render as overlapping windows, crossfaded.

Spec: ``--generator ldm:DIR[,adapter=DIR][,variant=tango|audioldm][,scheduler=dpm|ddpm|ddim]
[,steps=N][,guidance=G][,scale=S][,dtype=fp32|fp16|bf16][,device=cuda][,batch=N][,offload=1]
[,group=0]``. ``group=0`` gives every event a window of its own.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np
import torch
from diffusers import DDIMScheduler, DDPMScheduler, DPMSolverMultistepScheduler

from sonicvision.errors import ConfigError, RenderError

from ..audio import resample
from ..models.adapter import TimeControlAdapter, move
from ..models.device import torch_device
from ..models.loading import LDMComponents, load_adapter, load_ldm
from ..models.time_condition import (
    activity_to_mel_frames,
    encode_time_condition,
    time_condition_mel,
)
from .base import Generator, RenderedSound, SoundRequest

logger = logging.getLogger(__name__)

SCHEDULERS = {
    # name: (class, extra config, default steps)
    "dpm": (DPMSolverMultistepScheduler, {"algorithm_type": "dpmsolver++"}, 25),
    "ddpm": (DDPMScheduler, {}, 200),  # the paper's sampler (Tango's default)
    "ddim": (DDIMScheduler, {}, 50),
}
DTYPES = {"fp32": torch.float32, "fp16": torch.float16, "bf16": torch.bfloat16}
MAX_PEAK = 0.98
SEED_STRIDE = 1_000_003  # seed of window i of an event: seed + i * SEED_STRIDE


@dataclass(frozen=True)
class Window:
    """One model-window of one event: its text, T_ct on the mel grid, and its own seed."""

    event: int
    index: int
    start_frame: int
    text: str
    active: np.ndarray  # (window_frames,) bool
    seed: int


@dataclass(frozen=True)
class _Plan:
    frames: int  # mel frames the event needs
    starts: tuple[int, ...]  # first mel frame of each window
    active: np.ndarray  # T_ct over max(frames, window) mel frames


class LDMGenerator(Generator):
    """Renders events with a text-to-audio LDM, time-controlled when given an adapter."""

    name = "ldm"

    def __init__(
        self,
        components: LDMComponents,
        adapter: TimeControlAdapter | None = None,
        *,
        scheduler: str = "dpm",
        steps: int | None = None,
        guidance_scale: float = 3.0,
        conditioning_scale: float | None = None,
        dtype: str | torch.dtype = "fp32",
        device: str | torch.device | None = None,
        batch_size: int = 16,
        window_s: float | None = None,
        overlap_s: float = 1.0,
        offload: bool = False,
        vae_slicing: bool = False,
        group: bool = True,
    ) -> None:
        if scheduler not in SCHEDULERS:
            raise ConfigError(
                f"unknown scheduler {scheduler!r}; choose from {', '.join(SCHEDULERS)}",
                field="scheduler",
            )
        self.components = components
        self.adapter = adapter
        self.device = torch_device(device)
        self.dtype = _dtype(dtype, self.device)
        self.scheduler_name = scheduler
        self.steps = int(steps or SCHEDULERS[scheduler][2])
        self.guidance_scale = float(guidance_scale)
        self.conditioning_scale = (
            float(conditioning_scale)
            if conditioning_scale is not None
            else (float(adapter.config.conditioning_scale) if adapter is not None else 0.0)
        )
        self.batch_size = max(1, int(batch_size))
        self.offload = offload and self.device.type != "cpu"
        self.group = group
        self.mel = components.mel
        self.window = self._window_frames(window_s)
        self.overlap = min(self.mel.frames(overlap_s), self.window // 4)
        if self.steps < 1 or not math.isfinite(self.guidance_scale):
            raise ConfigError("steps must be >= 1 and guidance finite", field="steps")

        # The UNet and adapter run in ``dtype``; the text encoder, VAE and vocoder stay in
        # float32 (FLAN-T5 overflows in fp16; they run once per batch, not once per step).
        move(components.unet, dtype=self.dtype)
        if adapter is not None:
            if not adapter.matches(components.unet):
                raise ConfigError("the time adapter was built for another UNet", field="adapter")
            move(adapter, dtype=self.dtype)
        if vae_slicing:
            components.vae.enable_slicing()
        home = "cpu" if self.offload else self.device
        for module in self._modules():
            move(module, home)

    # ---- construction from a spec --------------------------------------------------------

    @classmethod
    def from_spec(cls, arg: str) -> LDMGenerator:
        """``DIR[,adapter=DIR][,key=value...]``, as ``--generator ldm:...`` passes it."""
        path, *pairs = [p.strip() for p in arg.split(",")]
        options: dict[str, str] = {}
        for pair in pairs:
            key, sep, value = pair.partition("=")
            if not sep or key not in _SPEC_KEYS:
                raise ConfigError(
                    f"bad ldm option {pair!r}; options: {', '.join(_SPEC_KEYS)} (key=value)",
                    field="generator",
                )
            options[key] = value
        components = load_ldm(path, options.pop("variant", None))
        adapter = None
        if "adapter" in options:
            adapter = load_adapter(options.pop("adapter"), components.unet)
        else:
            logger.warning(
                "ldm without a time adapter: plain text-to-audio, sounds are not time-aligned"
            )
        kwargs: dict = {}
        try:
            for key, value in options.items():
                name, convert = _SPEC_KEYS[key]
                kwargs[name] = convert(value)
        except ValueError as exc:
            raise ConfigError(f"bad ldm option value: {exc}", field="generator") from exc
        return cls(components, adapter, **kwargs)

    # ---- the Generator interface ---------------------------------------------------------

    def render(self, request: SoundRequest) -> RenderedSound:
        return self.render_batch([request])[0]

    def render_batch(self, requests: Sequence[SoundRequest]) -> list[RenderedSound]:
        """Render many events (of many shots) in batches of model windows.

        Events with the same text that follow each other within one window (footsteps, a
        series of knocks) share that window, as the paper's T_ct does: one caption, one
        active run per event at its own time. Each event's clip is its slice of the window.
        """
        # 1. Check inputs; T_ct on the mel grid; nearby events of one text share a window
        plans = [self._plan(i, r) for i, r in enumerate(requests)]
        windows: list[Window] = []
        where: dict[int, tuple[int, int, int, int]] = {}  # first window, windows, offset, group
        for group in self._groups(requests, plans):
            lead, r, p = group[0], requests[group[0]], plans[group[0]]
            if len(group) == 1:
                where[lead] = (len(windows), len(p.starts), 0, 1)
                windows += [
                    Window(lead, j, start, r.text, p.active[start : start + self.window],
                           _seed(r.seed, j))
                    for j, start in enumerate(p.starts)
                ]  # fmt: skip
                continue
            active = np.zeros(self.window, dtype=bool)
            for i in group:
                offset = self._offset(requests[i], r)
                active[offset : offset + plans[i].frames] |= plans[i].active[: plans[i].frames]
                where[i] = (len(windows), 1, offset, len(group))
            windows.append(Window(lead, 0, 0, r.text, active, _seed(r.seed, 0)))

        # 2.-7. Text, time condition, latents, denoising, VAE, vocoder: one batch at a time
        waves: list[np.ndarray] = []
        for first in range(0, len(windows), self.batch_size):
            chunk = windows[first : first + self.batch_size]
            waves.extend(self(chunk).cpu().numpy())

        # 8. Post-process: stitch windows (or cut an event's slice), resample, find the onset
        out = []
        for i, (request, plan) in enumerate(zip(requests, plans, strict=True)):
            first, n, offset, shared = where[i]
            if shared > 1:
                audio = waves[first][offset * self.mel.hop :]
            else:
                audio = self._stitch(waves[first : first + n], plan.starts)
            out.append(self._finish(request, audio, n, shared))
        return out

    def _groups(self, requests: Sequence[SoundRequest], plans: list[_Plan]) -> list[list[int]]:
        """Indices of requests rendered together: same text, placed (``start_s``), one window
        each, not overlapping, and all inside one window from the first one's start."""
        alone = [
            i
            for i, (r, p) in enumerate(zip(requests, plans, strict=True))
            if not self.group or r.start_s is None or len(p.starts) > 1
        ]
        placed = sorted(
            (i for i in range(len(requests)) if i not in set(alone)),
            key=lambda i: (requests[i].text, requests[i].start_s, i),
        )
        groups: list[list[int]] = [[i] for i in alone]
        current: list[int] = []
        for i in placed:
            r = requests[i]
            if current:
                lead, last = requests[current[0]], requests[current[-1]]
                fits = self._offset(r, lead) + plans[i].frames <= self.window
                if r.text == lead.text and fits and r.start_s >= last.start_s + last.duration_s:
                    current.append(i)
                    continue
                groups.append(current)
            current = [i]
        if current:
            groups.append(current)
        return sorted(groups)

    def _offset(self, request: SoundRequest, lead: SoundRequest) -> int:
        """Mel frames from the group's first event to this one."""
        return round((request.start_s - lead.start_s) * float(self.mel.frame_rate))

    # ---- the pipeline: steps 2-7 for one batch of windows --------------------------------

    @torch.no_grad()
    def __call__(self, windows: Sequence[Window]) -> torch.Tensor:
        """Waveforms (len(windows), window samples) at the model's rate."""
        c = self.components
        guided = self.guidance_scale > 1.0
        batch = len(windows)

        # 2. Encode text: each distinct prompt once; CFG puts the empty prompt first
        texts = list(dict.fromkeys(w.text for w in windows))
        with self._on_device(c.text_encoder):
            cond, cond_mask = c.encode_text(texts)
            if guided:
                pad_to = cond.shape[1] if cond_mask is not None else 0
                uncond, uncond_mask = c.encode_text([""], pad_to=pad_to)
        which = torch.tensor([texts.index(w.text) for w in windows], device=cond.device)
        cond = cond[which]
        cond_mask = cond_mask[which] if cond_mask is not None else None
        if guided:
            cond = torch.cat([uncond.expand(batch, *cond.shape[1:]), cond])
            if cond_mask is not None:
                cond_mask = torch.cat([uncond_mask.expand(batch, -1), cond_mask])
        text_kwargs = c.text_kwargs(
            cond.to(self.device, self.dtype),
            cond_mask.to(self.device) if cond_mask is not None else None,
        )

        # 3. Build the time condition A_ct = E_a(a_c) from T_ct (eq. 9)
        time_cond = None
        if self.adapter is not None:
            a_c = time_condition_mel(np.stack([w.active for w in windows]), self.mel.n_mels)
            with self._on_device(c.vae):
                time_cond = encode_time_condition(c.vae, a_c.to(self.device))
            time_cond = time_cond.to(self.device, self.dtype)
            if guided:
                time_cond = torch.cat([time_cond, time_cond])

        # 4. Prepare latents: each window's noise from its own seeded generator
        scheduler = self._scheduler()
        scheduler.set_timesteps(self.steps, device=self.device)
        factor = c.vae_scale_factor
        shape = (c.unet.config.in_channels, self.window // factor, self.mel.n_mels // factor)
        generators = [torch.Generator("cpu").manual_seed(w.seed) for w in windows]
        latents = torch.stack([torch.randn(shape, generator=g) for g in generators])
        latents = latents.to(self.device, self.dtype) * scheduler.init_noise_sigma
        step_kwargs = (
            {"generator": generators}
            if "generator" in inspect.signature(scheduler.step).parameters
            else {}
        )

        # 5. Denoise with the adapter (classifier-free guidance over text; T_ct in both halves)
        with self._on_device(c.unet, self.adapter):
            for t in scheduler.timesteps:
                x = torch.cat([latents, latents]) if guided else latents
                x = scheduler.scale_model_input(x, t)
                residuals = {}
                if self.adapter is not None:
                    down, mid = self.adapter(
                        x,
                        t,
                        text_kwargs["encoder_hidden_states"],
                        time_cond,
                        encoder_attention_mask=text_kwargs.get("encoder_attention_mask"),
                        class_labels=text_kwargs.get("class_labels"),
                        conditioning_scale=self.conditioning_scale,
                        return_dict=False,
                    )
                    residuals = {
                        "down_block_additional_residuals": down,
                        "mid_block_additional_residual": mid,
                    }
                pred = c.unet(x, t, **text_kwargs, **residuals).sample
                if guided:
                    uncond_pred, text_pred = pred.chunk(2)
                    pred = uncond_pred + self.guidance_scale * (text_pred - uncond_pred)
                latents = scheduler.step(pred, t, latents, **step_kwargs).prev_sample

        # 6. Decode the mel with the VAE
        with self._on_device(c.vae):
            latents = latents.to(c.vae.device, c.vae.dtype) / c.vae.config.scaling_factor
            mel = c.vae.decode(latents).sample

        # 7. Vocode to waveform, cropped to the window as diffusers' AudioLDMPipeline crops it
        # (``audio[:, :original_waveform_length]``): the published HiFi-GAN's transposed convs
        # return hop * frames + 32 samples, not exactly hop * frames.
        with self._on_device(c.vocoder):
            wave = c.vocoder(mel.squeeze(1).to(c.vocoder.device, c.vocoder.dtype))
        return fit_length(wave.float().reshape(batch, -1), self.window * self.mel.hop)

    # ---- helpers -------------------------------------------------------------------------

    def _scheduler(self):
        cls, extra, _ = SCHEDULERS[self.scheduler_name]
        base = DDPMScheduler.from_config(self.components.scheduler_config)
        return cls.from_config(base.config, **extra)

    def _modules(self) -> list[torch.nn.Module]:
        mods = self.components.modules()
        return mods + ([self.adapter] if self.adapter is not None else [])

    @contextmanager
    def _on_device(self, *modules: torch.nn.Module | None) -> Iterator[None]:
        """Model CPU offload: with ``offload``, a module visits the GPU only while it runs."""
        present = [m for m in modules if m is not None]
        if self.offload:
            for m in present:
                move(m, self.device)
        try:
            yield
        finally:
            if self.offload:
                for m in present:
                    move(m, "cpu")
                torch.cuda.empty_cache()

    def _window_frames(self, window_s: float | None) -> int:
        multiple = self.components.frame_multiple
        if window_s is None:
            frames = self.components.window_frames
        else:
            frames = self.mel.frames(window_s)
        frames = math.ceil(frames / multiple) * multiple
        if self.mel.n_mels % self.components.vae_scale_factor:
            raise ConfigError(
                f"{self.mel.n_mels} mel bins do not divide by the VAE's factor "
                f"{self.components.vae_scale_factor}",
                path=self.components.path,
            )
        return frames

    def _plan(self, index: int, request: SoundRequest) -> _Plan:
        """Check a request; where its windows start, and its T_ct on the mel grid."""
        if not request.text.strip():
            raise RenderError(f"event {index} has no text to render", field="text")
        if not (math.isfinite(request.duration_s) and request.duration_s > 0):
            raise RenderError(
                f"cannot render {request.duration_s} s for {request.text!r}", field="duration_s"
            )
        frames = self.mel.frames(request.duration_s)
        span = max(frames, self.window)
        if request.activity is not None:
            if not request.activity_rate > 0:
                raise RenderError(
                    f"activity for {request.text!r} has no rate", field="activity_rate"
                )
            active = activity_to_mel_frames(
                request.activity, request.activity_rate, self.mel.frame_rate, span
            )
        else:
            active = np.zeros(span, dtype=bool)
            active[:frames] = True  # no T_ct: sound for the whole requested duration
        if frames <= self.window:
            starts: tuple[int, ...] = (0,)
        else:
            hop = self.window - self.overlap
            starts = (*range(0, frames - self.window, hop), frames - self.window)
        return _Plan(frames, starts, active)

    def _stitch(self, waves: list[np.ndarray], starts: tuple[int, ...]) -> np.ndarray:
        """Overlapping windows joined with equal-power crossfades (independent noise)."""
        hop = self.mel.hop
        out = np.zeros((starts[-1] + self.window) * hop, dtype=np.float32)
        end = 0
        for wave, start in zip(waves, starts, strict=True):
            first = start * hop
            n_fade = max(0, end - first)
            if n_fade:
                theta = np.linspace(0.0, np.pi / 2, n_fade, dtype=np.float32)
                out[first:end] = out[first:end] * np.cos(theta) + wave[:n_fade] * np.sin(theta)
            out[first + n_fade : first + len(wave)] = wave[n_fade:]
            end = first + len(wave)
        return out

    def _finish(
        self, request: SoundRequest, audio: np.ndarray, windows: int, shared: int = 1
    ) -> RenderedSound:
        sr_model, sr_out = self.mel.sample_rate, int(request.sample_rate)
        audio = audio[: math.ceil(request.duration_s * sr_model)]
        audio = resample(audio[:, None], sr_model, sr_out)[:, 0]
        n_out = round(request.duration_s * sr_out)
        audio = np.pad(audio[:n_out], (0, max(0, n_out - len(audio))))
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > MAX_PEAK:
            audio = audio * (MAX_PEAK / peak)
        onset_s = 0.0
        if not request.continuous and request.activity is not None:
            hits = np.flatnonzero(np.asarray(request.activity, dtype=bool))
            if hits.size:
                onset_s = float(Fraction(int(hits[0])) / Fraction(request.activity_rate))
        c = self.components
        return RenderedSound(
            audio=np.ascontiguousarray(np.repeat(audio[:, None], 2, axis=1), dtype=np.float32),
            sample_rate=sr_out,
            onset_s=onset_s,
            source=f"ldm:{c.variant}:{Path(c.path).name}",
            metadata={
                "model": c.variant,
                "model_sample_rate": sr_model,
                "bandwidth_hz": sr_model / 2,  # the model's band limit, whatever the file rate
                "scheduler": self.scheduler_name,
                "steps": self.steps,
                "guidance_scale": self.guidance_scale,
                "time_control": self.adapter is not None,
                "conditioning_scale": self.conditioning_scale,
                "windows": windows,
                "window_shared_by": shared,  # events rendered in this event's window
                "seed": int(request.seed),
            },
        )


def fit_length(wave: torch.Tensor, samples: int) -> torch.Tensor:
    """(batch, n) waveforms cropped (or, for a vocoder that falls short, zero-padded) to n."""
    if wave.shape[-1] >= samples:
        return wave[..., :samples]
    return torch.nn.functional.pad(wave, (0, samples - wave.shape[-1]))


def _seed(seed: int, window: int) -> int:
    return (int(seed) + window * SEED_STRIDE) % (2**63)


def _dtype(value: str | torch.dtype, device: torch.device) -> torch.dtype:
    if isinstance(value, torch.dtype):
        dtype = value
    elif value in DTYPES:
        dtype = DTYPES[value]
    else:
        raise ConfigError(
            f"unknown dtype {value!r}; choose from {', '.join(DTYPES)}", field="dtype"
        )
    if dtype == torch.float16 and device.type == "cpu":
        raise ConfigError("fp16 needs a GPU; use bf16 or fp32 on the CPU", field="dtype")
    return dtype


def _flag(value: str) -> bool:
    if value.lower() in ("1", "true", "yes", "on"):
        return True
    if value.lower() in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"{value!r} is not a yes/no value")


_SPEC_KEYS: dict = {
    "adapter": ("adapter", str),
    "variant": ("variant", str),
    "scheduler": ("scheduler", str),
    "steps": ("steps", int),
    "guidance": ("guidance_scale", float),
    "scale": ("conditioning_scale", float),
    "dtype": ("dtype", str),
    "device": ("device", str),
    "batch": ("batch_size", int),
    "window": ("window_s", float),
    "offload": ("offload", _flag),
    "group": ("group", _flag),
}
