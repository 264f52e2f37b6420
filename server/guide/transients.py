"""Transients in production sound that are neither speech nor music: where things hit.

The percussive part of the sound (HPSS) rises sharply where something strikes something. A
candidate is a peak of its spectral flux above a noise-adaptive threshold (local median plus
a multiple of the local spread), whose percussive energy rises well above the local
background. Speech and music are percussive too (consonants, note attacks, drums), so:

* a candidate where the harmonic part rises with it (a syllable, a note) is an onset of
  speech or music, unless the transient still stands above what follows it;
* where harmonic sound is present (speech, music) the transient must stand above it;
* inside music (sustained harmonic energy) transients on a regular grid are its beat.

Each transient is placed to the sample on the audio as given: the first sample of the rise
that leads to its peak. Times are seconds from the first sample passed in.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from scipy.ndimage import maximum_filter1d, median_filter, percentile_filter, uniform_filter1d
from scipy.signal import butter, resample_poly, sosfilt

logger = logging.getLogger(__name__)

ANALYSIS_RATE = 24_000
N_FFT = 1024
HOP = 256  # one audio block: 10.7 ms at the analysis rate
_EPS = 1e-10


@dataclass(frozen=True)
class TransientConfig:
    """Thresholds in dB unless named otherwise; windows in seconds."""

    rise_db: float = 9.0  # percussive energy above the local background
    strong_db: float = 25.0  # this far above the background and ...
    strong_broadband: float = 0.85  # ... this broadband: a cue where the picture found none
    min_flux_db: float = 2.0  # mean rise over the percussive part's bands, dB
    spread_k: float = 2.0  # flux at least this many times its local 90th percentile ...
    stand_k: float = 3.3  # ... and this many over speech or music: it stands out of them
    broadband: float = 0.5  # share of bands rising 6 dB at once
    ring_db: float = 2.5  # harmonic part that decays this much in ~0.1 s: a ring ...
    struck: float = 0.6  # ... after a rise this broadband: the struck thing's, not a note
    local_s: float = 1.0  # window of the local statistics (the 90th percentile: three)
    min_gap_s: float = 0.07  # one transient per this much time
    tonal_db: float = 6.0  # harmonic this far above percussive energy: speech or music ...
    voiced_db: float = 15.0  # ... or this far above its own floor (the room's tone)
    note_db: float = 4.0  # the harmonic part rising this much with it: a syllable or a note
    music_fraction: float = 0.75  # tonal for this share of ~3 s: music (sustained harmonics)
    beat_tolerance_s: float = 0.03
    silence_dbfs: float = -70.0  # quieter than this throughout: a silent guide


@dataclass(frozen=True)
class Transient:
    """One transient: where it starts (to the sample) and how it stands out."""

    time_s: float  # first sample of the rise, seconds from the first sample analysed
    sample: int  # the same, in samples at the input rate
    rise_db: float  # peak percussive energy above the local background
    standout: float  # its spectral flux over the local 90th percentile of flux
    broadband: float  # share of bands that rose 6 dB at once
    context: str  # "" (clean), "speech" or "music": what it had to stand above
    strong: bool


@dataclass
class GuideAudio:
    """What the guide audio of one stretch says: its transients, and where it is informative."""

    transients: list[Transient]
    block_s: float
    tonal: np.ndarray  # per block: speech or music present
    music: np.ndarray  # per block: sustained harmonic energy (music)
    silent: bool
    rejected: dict[str, int]  # candidates rejected, by reason
    sample_rate: int = 48_000  # of the audio given, which transients' samples count in

    def clean_at(self, t0: float, t1: float) -> bool:
        """True when the audio between ``t0`` and ``t1`` s is neither silent, speech nor
        music: a sound-making event there would have left a transient."""
        if self.silent or not len(self.tonal):
            return False
        a = max(0, int(t0 / self.block_s))
        b = min(len(self.tonal), int(np.ceil(t1 / self.block_s)) + 1)
        return b > a and not self.tonal[a:b].any()

    @property
    def speech(self) -> np.ndarray:
        return self.tonal & ~self.music


def find_transients(
    audio: np.ndarray, sample_rate: int, config: TransientConfig | None = None
) -> GuideAudio:
    """Transients of ``audio`` (mono float, any rate) that are not speech or music."""
    import librosa  # here: its import costs a second the CLI should not pay

    cfg = config or TransientConfig()
    audio = np.asarray(audio, dtype=np.float32).reshape(-1)
    block_s = HOP / ANALYSIS_RATE
    empty = np.zeros(0, dtype=bool)
    level = (
        10 * np.log10(float(np.mean(audio.astype(np.float64) ** 2)) + _EPS)
        if len(audio)
        else -200.0
    )
    if len(audio) < N_FFT * sample_rate / ANALYSIS_RATE or level < cfg.silence_dbfs:
        return GuideAudio([], block_s, empty, empty, True, {}, sample_rate)
    ratio = Fraction(ANALYSIS_RATE, sample_rate)
    y = resample_poly(audio, ratio.numerator, ratio.denominator).astype(np.float32)
    # 1. Harmonic and percussive parts, as energies per block in dB.
    spec = np.abs(librosa.stft(y, n_fft=N_FFT, hop_length=HOP, center=True))
    harm, perc = hpss(spec, 31)
    freqs = librosa.fft_frequencies(sr=ANALYSIS_RATE, n_fft=N_FFT)
    band = (freqs >= 60) & (freqs <= 11_000)
    voice = (freqs >= 100) & (freqs <= 5_000)
    p_db = 10 * np.log10((perc[band] ** 2).sum(axis=0) + _EPS)
    h_db = 10 * np.log10((harm[voice] ** 2).sum(axis=0) + _EPS)
    p_voice = 10 * np.log10((perc[voice] ** 2).sum(axis=0) + _EPS)
    mel = librosa.feature.melspectrogram(
        S=perc**2, sr=ANALYSIS_RATE, n_mels=40, fmin=60, fmax=11_000
    )
    mel_db = 10 * np.log10(mel + _EPS)
    # The rise into each block and the next (an attack can straddle two) from the three
    # blocks before it.
    before = maximum_filter1d(mel_db, 3, axis=1, origin=1)
    now = maximum_filter1d(mel_db, 2, axis=1, origin=-1)
    gain = np.concatenate([np.zeros((mel_db.shape[0], 1)), now[:, 1:] - before[:, :-1]], axis=1)
    flux = np.maximum(0.0, gain).mean(axis=0)
    wide = (gain >= 6.0).mean(axis=0)
    n = len(flux)
    local = max(3, round(cfg.local_s / block_s)) | 1
    # 2. Where speech or music sounds: harmonic energy well above the percussive (noise and
    # room tone split evenly between the two).
    ratio = h_db - median_filter(p_voice, 31, mode="nearest")
    voiced = h_db - float(np.percentile(h_db, 10)) >= cfg.voiced_db  # well above room tone
    harmonic = uniform_filter1d((ratio >= cfg.tonal_db).astype(float), 9) > 0.3
    tonal = harmonic | (uniform_filter1d(voiced.astype(float), 9) > 0.3)
    long = max(3, round(3.0 / block_s)) | 1
    # Music holds its harmonics; speech comes and goes with syllables.
    music = tonal & (uniform_filter1d(harmonic.astype(float), long) >= cfg.music_fraction)
    # 3. Candidates: flux peaks well above the local run of flux, broadband (most bands rise
    # at once: a hit; a consonant or a note rises in some), percussive energy above the
    # local background.
    busy = percentile_filter(flux, 90, 3 * local, mode="nearest")
    background = percentile_filter(p_db, 20, local, mode="nearest")
    peak_p = maximum_filter1d(p_db, 3, origin=-1)  # over this block and the next two
    gap = max(1, round(cfg.min_gap_s / block_s))
    is_peak = flux == maximum_filter1d(flux, 2 * gap + 1)
    rise = peak_p - background
    # Sound must be there before a rise: out of digital silence (a stream that starts late,
    # a gap) every start would be a transient.
    block_rms = np.sqrt(
        np.abs(uniform_filter1d(y.astype(np.float64) ** 2, HOP))[::HOP][: len(flux)]
    )
    sounding = np.concatenate([block_rms, np.zeros(max(0, len(flux) - len(block_rms)))]) > 1e-5
    count = np.concatenate([[0], np.cumsum(sounding)])
    heard_before = np.zeros(n, dtype=bool)
    heard_before[4:] = count[4:n] - count[: n - 4] == 4  # the four blocks before each
    candidates = np.flatnonzero(
        is_peak
        & heard_before
        & (flux >= np.maximum(cfg.min_flux_db, cfg.spread_k * busy))
        & (wide >= cfg.broadband)
        & (rise >= cfg.rise_db)
    )
    rejected = {"speech or music onset": 0, "under speech or music": 0, "music beat": 0}
    kept: list[tuple[int, str]] = []
    for t in candidates:
        before = h_db[max(0, t - 15) : max(1, t - 2)]
        after = h_db[t + 2 : t + 6]
        late = h_db[t + 6 : t + 12]
        h_before = float(np.median(before)) if len(before) else float(h_db[t])
        h_after = float(np.median(after)) if len(after) else float(h_db[t])
        h_late = float(np.median(late)) if len(late) else h_after
        ahead = slice(max(0, t - 14), max(1, t - 4))  # its own ring is not its context
        context = ("music" if music[ahead].any() else "speech") if tonal[ahead].any() else ""
        # Harmonic sound that starts with it and holds (a vowel, a note), where a struck
        # thing's ring dies away.
        rings = h_after - h_late >= cfg.ring_db and wide[t] >= cfg.struck
        starts = h_after - h_before >= cfg.note_db
        # Out of quiet into speech or music within 0.2 s: a consonant before its vowel.
        follows = (not context and tonal[t + 2 : t + 20].mean() >= 0.3) or (
            h_after >= h_before - 1 and h_late - h_before >= cfg.note_db + 2
        )
        if (starts or follows) and not rings:
            rejected["speech or music onset"] += 1
            continue
        if context and flux[t] < cfg.stand_k * busy[t]:
            rejected["under speech or music"] += 1
            continue
        kept.append((int(t), context))
    beats = _on_a_beat([t * block_s for t, c in kept if c == "music"], cfg.beat_tolerance_s)
    found: list[Transient] = []
    for t, context in kept:
        if context == "music" and t * block_s in beats:
            rejected["music beat"] += 1
            continue
        sample = _attack_sample(audio, sample_rate, t * HOP / ANALYSIS_RATE)
        strong = bool(rise[t] >= cfg.strong_db and wide[t] >= cfg.strong_broadband)
        standout = float(flux[t] / max(busy[t], cfg.min_flux_db / cfg.spread_k))
        found.append(
            Transient(
                sample / sample_rate,
                sample,
                float(rise[t]),
                standout,
                float(wide[t]),
                context,
                strong,
            )
        )
    logger.debug("%d transients from %d candidates (%s)", len(found), len(candidates), rejected)
    return GuideAudio(found, block_s, tonal[:n], music[:n], False, rejected, sample_rate)


def hpss(spec: np.ndarray, kernel: int) -> tuple[np.ndarray, np.ndarray]:
    """Harmonic and percussive parts of a magnitude spectrogram: ``librosa.decompose.hpss``
    with ``kernel_size=kernel`` and ``margin=1.0``, the same numbers, with its two median
    filters read off sliding windows (scipy's generic rank filter, which it uses, took 90% of
    the guide's time: five times slower)."""
    from librosa.util import softmask

    harm = _median(spec, kernel, axis=1)  # along time
    perc = _median(spec, kernel, axis=0)  # along frequency
    harm_mask = softmask(harm, perc, power=2.0, split_zeros=True)
    perc_mask = softmask(perc, harm, power=2.0, split_zeros=True)
    return spec * harm_mask, spec * perc_mask


def _median(values: np.ndarray, kernel: int, axis: int, block: int = 200_000) -> np.ndarray:
    """Running median of odd length ``kernel`` along ``axis`` of a 2-d array, edges mirrored:
    ``scipy.ndimage.median_filter`` in "reflect" mode. A few lines at a time, about
    ``block`` values of windows each, copied out and sorted in place: small enough to stay
    in the cache (a partition over a larger strided view of the windows was slower than
    scipy's filter on real sound)."""
    if values.shape[axis] < kernel:  # mirrored more than once: numpy and scipy differ there
        size = (1, kernel) if axis == 1 else (kernel, 1)
        return median_filter(values, size=size, mode="reflect")
    lines = np.ascontiguousarray(values if axis == 1 else values.T)
    half = kernel // 2
    padded = np.pad(lines, ((0, 0), (half, half)), mode="symmetric")
    out = np.empty_like(lines)
    rows = max(1, block // (lines.shape[1] * kernel))
    for r in range(0, len(lines), rows):
        windows = sliding_window_view(padded[r : r + rows], kernel, axis=1).copy()
        windows.sort(axis=-1)
        out[r : r + rows] = windows[..., half]
    return out if axis == 1 else np.ascontiguousarray(out.T)


def _on_a_beat(times: list[float], tolerance: float) -> set[float]:
    """Times that sit on a regular grid with at least three others (a beat, not a contact)."""
    on: set[float] = set()
    arr = np.asarray(sorted(times))
    for i, t in enumerate(arr):
        near = arr[(np.abs(arr - t) <= 3.0) & (np.arange(len(arr)) != i)]
        for period in np.abs(near - t):
            if not 0.2 <= period <= 1.5:
                continue
            k = (near - t) / period
            hits = np.abs(k - np.round(k)) * period <= tolerance
            if int(hits.sum()) >= 3:
                on.add(float(t))
                break
    return on


def _attack_sample(audio: np.ndarray, sample_rate: int, near_s: float) -> int:
    """The first sample of the rise into the transient found at ``near_s`` (its block).

    High-passed (the rise of a hit is broadband; rumble is not). A 2 ms envelope finds the
    rise: from its peak within the block's reach back to where it was last below a quarter
    of the way up from the level before. Then the samples themselves: the first one there
    that stands that far above the level before.
    """
    sos = butter(2, 150, btype="highpass", fs=sample_rate, output="sos")
    block = HOP * sample_rate / ANALYSIS_RATE
    lo = max(0, int(near_s * sample_rate - 3 * block))
    hi = min(len(audio), int(near_s * sample_rate + 4 * block))
    pre = max(0, lo - int(0.03 * sample_rate))
    piece = np.abs(sosfilt(sos, audio[pre:hi].astype(np.float64)))
    win = max(1, int(0.002 * sample_rate))
    env = np.sqrt(np.abs(uniform_filter1d(piece**2, win)))
    search = env[lo - pre :]
    if not len(search):
        return int(near_s * sample_rate)
    noise = float(np.median(env[: lo - pre])) if lo > pre else float(search.min())
    top = int(np.argmax(search))
    threshold = noise + (float(search[top]) - noise) / 4
    below = np.flatnonzero(search[: top + 1] < threshold)
    cross = int(below[-1]) + 1 if len(below) else 0
    # The envelope is centred: the rise it sees starts up to half its window earlier.
    first = max(0, cross - win)
    raw = piece[lo - pre + first : lo - pre + cross + win // 2]
    before = piece[: lo - pre]
    loud = np.flatnonzero(raw >= max(threshold, np.percentile(before, 99) if len(before) else 0))
    return lo + first + (int(loud[0]) if len(loud) else cross - first)
