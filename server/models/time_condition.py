"""Eq. 9: the audio time-condition embedding A_ct = E_a(max(mel(a_c), T_ct)) on the latent grid.

Sec. 3.5 builds a_c as a mel-shaped tensor of zeros whose mel channels are filled with the
(normalised) mel's maximum at the frames where T_ct is 1, and encodes it with the audio VAE's
encoder E_a. Training has the clip's audio; inference has only T_ct. The mel is normalised to
[0, 1] per clip, so its maximum is 1 in both cases and the adapter sees the same tensor in
training and in use. T_ct arrives at the video frame rate and is resampled to the mel frame
rate (100 fps for AudioLDM/Tango) on exact rational frame times.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

import librosa
import numpy as np
import torch

LOG_MEL_FLOOR = 1e-5  # AudioLDM/Tango's TacotronSTFT: log(clamp(mel, 1e-5))


def exact_rate(rate: float | Fraction) -> Fraction:
    """A frame rate as a fraction: 23.976... becomes 24000/1001, 25.0 stays 25."""
    return Fraction(rate).limit_denominator(1001)


@dataclass(frozen=True)
class MelSpec:
    """The mel front end the VAE and vocoder were trained on (AudioLDM/Tango: 16 kHz, hop 160,
    64 mels, 1024-point Hann window, 0-8 kHz), read off the vocoder's config."""

    sample_rate: int
    hop: int
    n_mels: int
    n_fft: int
    fmin: float = 0.0

    @property
    def frame_rate(self) -> Fraction:
        return Fraction(self.sample_rate, self.hop)

    @classmethod
    def from_vocoder(cls, config) -> MelSpec:
        """SpeechT5HifiGan's config: its upsampling is the hop; AudioLDM's window is ~6.4 hops."""
        hop = int(np.prod(config.upsample_rates))
        return cls(
            sample_rate=int(config.sampling_rate),
            hop=hop,
            n_mels=int(config.model_in_dim),
            n_fft=2 ** math.ceil(math.log2(6 * hop)),
        )

    def frames(self, seconds: float) -> int:
        """Mel frames that cover ``seconds``."""
        return max(1, math.ceil(seconds * self.frame_rate - 1e-9))


def log_mel(waveform: torch.Tensor, spec: MelSpec, n_frames: int) -> torch.Tensor:
    """mel(a): TacotronSTFT's log-magnitude mel, (batch, n_frames, n_mels), cropped or padded.

    Reflect-padded Hann STFT, Slaney mel filters from 0 Hz to Nyquist, natural log floored at
    1e-5: the front end AudioLDM's VAE and HiFi-GAN were trained on. Padding is log silence.
    """
    waveform = waveform.float()
    window = torch.hann_window(spec.n_fft, device=waveform.device)
    stft = torch.stft(
        waveform,
        n_fft=spec.n_fft,
        hop_length=spec.hop,
        win_length=spec.n_fft,
        window=window,
        center=True,
        pad_mode="reflect",
        return_complex=True,
    )
    basis = librosa.filters.mel(
        sr=spec.sample_rate, n_fft=spec.n_fft, n_mels=spec.n_mels, fmin=spec.fmin
    )
    mel = torch.from_numpy(basis).to(waveform.device) @ stft.abs()
    mel = torch.log(torch.clamp(mel, min=LOG_MEL_FLOOR)).transpose(1, 2)
    if mel.shape[1] >= n_frames:
        return mel[:, :n_frames]
    pad = torch.full(
        (mel.shape[0], n_frames - mel.shape[1], spec.n_mels),
        math.log(LOG_MEL_FLOOR),
        device=mel.device,
    )
    return torch.cat([mel, pad], dim=1)


def normalise_mel(mel: torch.Tensor) -> torch.Tensor:
    """The paper's normalised mel: each clip min-max scaled to [0, 1] (constant clips to 0)."""
    flat = mel.flatten(1)
    low = flat.min(dim=1).values.view(-1, *([1] * (mel.dim() - 1)))
    high = flat.max(dim=1).values.view(-1, *([1] * (mel.dim() - 1)))
    return torch.where(high > low, (mel - low) / (high - low).clamp_min(1e-12), 0.0)


def activity_to_mel_frames(
    activity: Sequence[bool] | np.ndarray,
    activity_rate: float | Fraction,
    mel_rate: float | Fraction,
    n_frames: int,
    first_frame: int = 0,
) -> np.ndarray:
    """T_ct resampled from video frames to mel frames ``first_frame .. first_frame + n_frames``.

    Mel frame k is active when its centre, (k + 1/2) / mel_rate, lies in an active video frame
    [i / fps, (i + 1) / fps): computed in integers, so 23.976 fps does not drift over an hour.
    Frames past the end of ``activity`` are inactive.
    """
    act = np.asarray(activity, dtype=bool).ravel()
    fps, mel = exact_rate(activity_rate), Fraction(mel_rate)
    if fps <= 0 or mel <= 0:
        raise ValueError(f"frame rates must be positive, got {activity_rate} and {mel_rate}")
    k = np.arange(first_frame, first_frame + n_frames, dtype=np.int64)
    # i = floor((2k + 1) / (2 mel) * fps) with both rates as fractions
    video = ((2 * k + 1) * fps.numerator * mel.denominator) // (2 * mel.numerator * fps.denominator)
    out = np.zeros(n_frames, dtype=bool)
    inside = (video >= 0) & (video < act.size)
    out[inside] = act[video[inside]]
    return out


def intervals_to_mel_frames(
    intervals_s: Sequence[tuple[float, float]], mel_rate: float | Fraction, n_frames: int
) -> np.ndarray:
    """T_ct from labelled (start, end) seconds: frames whose centre lies in [start, end).

    An interval too short to hold a frame centre still marks the frame it starts in, so a
    labelled click is never lost.
    """
    rate = float(mel_rate)
    centres = (np.arange(n_frames) + 0.5) / rate
    out = np.zeros(n_frames, dtype=bool)
    for start, end in intervals_s:
        if end < start:
            raise ValueError(f"interval ends before it starts: ({start}, {end})")
        hit = (centres >= start) & (centres < end)
        if not hit.any() and 0 <= start * rate < n_frames:
            hit[int(start * rate)] = True
        out |= hit
    return out


def time_condition_mel(
    active: np.ndarray | torch.Tensor, n_mels: int, value: float | torch.Tensor = 1.0
) -> torch.Tensor:
    """a_c of eq. 9: (batch, 1, frames, n_mels), 0 where T_ct is 0, ``value`` (the normalised
    mel's maximum) in every mel channel where it is 1. ``active`` is (batch, frames) bool."""
    active = torch.as_tensor(np.asarray(active) if not torch.is_tensor(active) else active)
    if active.dim() == 1:
        active = active[None]
    value = torch.as_tensor(value, dtype=torch.float32).reshape(-1, 1, 1, 1)
    mask = active.to(torch.float32)[:, None, :, None].expand(-1, 1, -1, n_mels)
    return mask * value.to(mask.device)


@torch.no_grad()
def encode_time_condition(vae, a_c: torch.Tensor) -> torch.Tensor:
    """A_ct = E_a(a_c): the VAE posterior's mean, scaled like the latents the UNet denoises."""
    a_c = a_c.to(device=vae.device, dtype=vae.dtype)
    return vae.encode(a_c).latent_dist.mean * vae.config.scaling_factor
