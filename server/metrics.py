"""Timing metrics of the paper's tables 2-5: onset accuracy and AP, time accuracy and IoU.

They compare a rendered track with the events it was asked to follow, so that a change to
the detector, the adapter or placement shows up as a number. None of them needs a model.

Conventions: audio is float (samples,) or (samples, channels), as soundfile reads it; times
are seconds from the start of the track; activity vectors hold one bool per video frame,
frame ``i`` spanning ``[i / fps, (i + 1) / fps)``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

import librosa
import numpy as np

logger = logging.getLogger(__name__)

SILENCE_DBFS = -100.0
"""Below this level (dB re full scale) a track or window counts as silent, whatever the mode."""

ONSET_HOP_S = 0.005
"""Onset envelope hop. librosa's default (512 at 22.05 kHz, 23 ms) is coarser than we need."""

ONSET_WINDOW_S = 0.04
"""Shortest STFT window for the onset envelope; rounded up to a power of two in samples."""

ACTIVITY_HOP_S = 0.001
"""Energy window for eq. 7: non-overlapping, so interval edges are exact to 1 ms."""

_FRAME_EPS = 1e-6  # in frames: keeps float noise at a frame boundary from spilling over


class OnsetMatch(NamedTuple):
    """One expected onset and the detection paired with it (``None`` when missed)."""

    expected_s: float
    found_s: float | None
    error_s: float | None  # found - expected; negative means early


# --- onsets ------------------------------------------------------------------------------


def _mono(audio: np.ndarray) -> np.ndarray:
    """Mix down to mono float64; we score timing, which channel a sound sits in is irrelevant."""
    audio = np.asarray(audio, dtype=np.float64)
    if audio.ndim == 1:
        return audio
    if audio.ndim != 2:
        raise ValueError(f"audio must be (samples,) or (samples, channels), got {audio.shape}")
    if audio.shape[1] > audio.shape[0]:
        raise ValueError(f"audio {audio.shape} looks channels-first; pass (samples, channels)")
    return audio.mean(axis=1)


def _is_silent(peak: float) -> bool:
    return peak <= 10.0 ** (SILENCE_DBFS / 20.0)


def detect_onsets(
    audio: np.ndarray,
    sample_rate: int,
    delta: float = 0.3,
    *,
    backtrack: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """Onset times (s) and strengths in [0, 1]: librosa peak picking with CondFoleyGen's delta.

    The envelope is librosa's mel spectral flux at a 5 ms hop (``ONSET_HOP_S``), min-max
    normalised so that ``delta`` means what it means in ``librosa.onset.onset_detect``. The
    strength of an onset is the envelope at its peak; with ``backtrack`` the time is moved back
    to the preceding envelope minimum, i.e. up to one hop before the attack.
    CondFoleyGen used librosa's default hop; ours is finer. Silence gives empty arrays.
    """
    empty = (np.zeros(0), np.zeros(0))
    y = _mono(audio)
    peak = float(np.max(np.abs(y))) if y.size else 0.0
    if _is_silent(peak):
        return empty
    y = y / peak
    hop = max(1, round(sample_rate * ONSET_HOP_S))
    n_fft = 2 ** math.ceil(math.log2(sample_rate * ONSET_WINDOW_S))
    if y.size < n_fft:
        y = np.pad(y, (0, n_fft - y.size))
    env = librosa.onset.onset_strength(y=y, sr=sample_rate, hop_length=hop, n_fft=n_fft, n_mels=64)
    span = float(env.max() - env.min())
    if span <= 0.0:
        return empty
    env = (env - env.min()) / span
    peaks = librosa.onset.onset_detect(
        onset_envelope=env,
        sr=sample_rate,
        hop_length=hop,
        delta=delta,
        backtrack=False,
        normalize=False,
        units="frames",
    )
    strengths = env[peaks].astype(np.float64)
    frames = librosa.onset.onset_backtrack(peaks, env) if backtrack else peaks
    times = np.asarray(frames, dtype=np.float64) * hop / sample_rate
    return times, strengths


def match_onsets(
    found: Sequence[float] | np.ndarray,
    expected: Sequence[float] | np.ndarray,
    tolerance: float = 0.1,
) -> list[OnsetMatch]:
    """Pair each expected onset with at most one detection, closest pairs first.

    Greedy on ascending distance, one-to-one, only pairs within ``tolerance`` (inclusive).
    The result follows the order of ``expected``.
    """
    found = np.asarray(found, dtype=np.float64).ravel()
    expected = np.asarray(expected, dtype=np.float64).ravel()
    pairs = sorted(
        (abs(f - e), i, j)
        for i, e in enumerate(expected)
        for j, f in enumerate(found)
        if abs(f - e) <= tolerance + 1e-12
    )
    paired: dict[int, int] = {}
    used: set[int] = set()
    for _, i, j in pairs:
        if i not in paired and j not in used:
            paired[i] = j
            used.add(j)
    matches = []
    for i, e in enumerate(expected):
        if i in paired:
            f = float(found[paired[i]])
            matches.append(OnsetMatch(float(e), f, f - float(e)))
        else:
            matches.append(OnsetMatch(float(e), None, None))
    return matches


def onset_accuracy(
    found: Sequence[float] | np.ndarray,
    expected: Sequence[float] | np.ndarray,
    tolerance: float = 0.1,
) -> float:
    """matched / max(n_expected, n_found): right onsets at the right times, nothing extra.

    CondFoleyGen's "# onset acc." scores a clip 1 when its onset count equals the target's
    (see ``onset_count_accuracy``); this variant also asks each onset to land within
    ``tolerance`` and gives partial credit, while spurious onsets still count against it.
    Both empty is 1.0.
    """
    n_expected, n_found = len(expected), len(found)
    if n_expected == 0 and n_found == 0:
        return 1.0
    matched = sum(m.found_s is not None for m in match_onsets(found, expected, tolerance))
    return matched / max(n_expected, n_found)


def onset_count_accuracy(
    found: Sequence[float] | np.ndarray, expected: Sequence[float] | np.ndarray
) -> float:
    """1.0 when the number of onsets is right, else 0.0: CondFoleyGen's per-clip "# onset acc."."""
    return float(len(found) == len(expected))


def onset_ap(
    found_times: Sequence[float] | np.ndarray,
    found_strengths: Sequence[float] | np.ndarray,
    expected: Sequence[float] | np.ndarray,
    tolerance: float = 0.1,
) -> float:
    """Average precision of detections ranked by strength; a hit is within ``tolerance``.

    As in object detection: in descending strength, each detection takes the nearest
    still-unclaimed expected onset within tolerance (true positive) or is a false positive;
    AP = sum over true positives of precision@k, divided by n_expected, so missed onsets
    lower it too. No expected onsets: 1.0 when nothing was found, else 0.0.
    """
    times = np.asarray(found_times, dtype=np.float64).ravel()
    strengths = np.asarray(found_strengths, dtype=np.float64).ravel()
    expected = np.asarray(expected, dtype=np.float64).ravel()
    if times.shape != strengths.shape:
        raise ValueError(f"{times.size} onset times but {strengths.size} strengths")
    if expected.size == 0:
        return 1.0 if times.size == 0 else 0.0
    claimed = np.zeros(expected.size, dtype=bool)
    hits = np.zeros(times.size)
    for k, j in enumerate(np.argsort(-strengths, kind="stable")):
        distance = np.where(claimed, np.inf, np.abs(expected - times[j]))
        i = int(np.argmin(distance))
        if distance[i] <= tolerance + 1e-12:
            claimed[i] = True
            hits[k] = 1.0
    precision = np.cumsum(hits) / np.arange(1, hits.size + 1)
    return float(np.sum(precision * hits) / expected.size)


# --- activity (eq. 7-8) ------------------------------------------------------------------


def sound_intervals(
    audio: np.ndarray,
    sample_rate: int,
    threshold_db: float = -40.0,
    *,
    reference: Literal["peak", "full_scale"] = "peak",
    merge_gap_s: float = 0.02,
    hop_s: float = ACTIVITY_HOP_S,
) -> list[tuple[float, float]]:
    """Eq. 7, P(a): (start, end) of sound where window energy reaches threshold x.

    Energy is RMS over non-overlapping ``hop_s`` windows; a window is sounding when its level
    is at least ``threshold_db`` (relative to the loudest window for ``"peak"``, dBFS for
    ``"full_scale"``) and above ``SILENCE_DBFS``. Runs separated by a gap of at most
    ``merge_gap_s`` are one event, as in the paper.
    """
    if reference not in ("peak", "full_scale"):
        raise ValueError(f"reference must be 'peak' or 'full_scale', got {reference!r}")
    y = _mono(audio)
    duration = y.size / sample_rate
    hop = max(1, round(hop_s * sample_rate))
    n_windows = math.ceil(y.size / hop)
    if n_windows == 0:
        return []
    y = np.pad(y, (0, n_windows * hop - y.size))
    rms = np.sqrt(np.mean(y.reshape(n_windows, hop) ** 2, axis=1))
    with np.errstate(divide="ignore"):
        level = 20.0 * np.log10(rms)
    threshold = threshold_db + (float(level.max()) if reference == "peak" else 0.0)
    active = (level >= threshold) & (level > SILENCE_DBFS)

    edges = np.diff(np.concatenate(([0], active.astype(np.int8), [0])))
    starts, stops = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)  # stop exclusive
    merged: list[list[int]] = []
    for start, stop in zip(starts, stops, strict=True):
        if merged and (start - merged[-1][1]) * hop / sample_rate <= merge_gap_s + 1e-9:
            merged[-1][1] = stop
        else:
            merged.append([start, stop])
    return [
        (float(start * hop / sample_rate), float(min(stop * hop / sample_rate, duration)))
        for start, stop in merged
    ]


def _frame_count(duration_s: float, frame_rate: float) -> int:
    """Frames covering ``duration_s``; a partial last frame counts as a frame."""
    if frame_rate <= 0 or duration_s < 0:
        raise ValueError(f"need frame_rate > 0 and duration_s >= 0, got {frame_rate}, {duration_s}")
    return max(0, math.ceil(duration_s * frame_rate - _FRAME_EPS))


def activity_from_intervals(
    intervals_s: Sequence[tuple[float, float]],
    duration_s: float,
    frame_rate: float,
) -> np.ndarray:
    """Eq. 8 snapped to video frames: a frame is active if any interval overlaps it.

    Overlap rather than frame centre, so a 5 ms click still marks its frame; an instant
    (start == end) marks the frame it falls in. Intervals are clipped to the track.
    """
    n_frames = _frame_count(duration_s, frame_rate)
    activity = np.zeros(n_frames, dtype=bool)
    for start, end in intervals_s:
        if end < start:
            raise ValueError(f"interval ends before it starts: ({start}, {end})")
        first = max(0, math.floor(start * frame_rate + _FRAME_EPS))
        last = max(first, math.ceil(end * frame_rate - _FRAME_EPS) - 1)
        if first < n_frames and end >= 0:
            activity[first : min(last, n_frames - 1) + 1] = True
    return activity


def activity_from_audio(
    audio: np.ndarray,
    sample_rate: int,
    frame_rate: float,
    threshold_db: float = -40.0,
    *,
    reference: Literal["peak", "full_scale"] = "peak",
    merge_gap_s: float = 0.02,
    duration_s: float | None = None,
) -> np.ndarray:
    """The paper's label V_ct of a track: eq. 7 at 1 ms, merged, then snapped to frames.

    Merging before snapping matters: a 10 ms gap never spans a frame, but deciding per frame
    would let the threshold split one event in two. ``duration_s`` (default: the audio's
    length) fixes the frame count, so the vector lines up with the expected one.
    """
    intervals = sound_intervals(
        audio, sample_rate, threshold_db, reference=reference, merge_gap_s=merge_gap_s
    )
    if duration_s is None:
        duration_s = _mono(audio).size / sample_rate
    return activity_from_intervals(intervals, duration_s, frame_rate)


def _check_pair(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"activity vectors differ in shape: {a.shape} vs {b.shape}")
    return a, b


def activity_iou(a: np.ndarray, b: np.ndarray) -> float:
    """|a AND b| / |a OR b| over frames; two silent tracks agree fully (1.0)."""
    a, b = _check_pair(a, b)
    union = int(np.count_nonzero(a | b))
    return 1.0 if union == 0 else int(np.count_nonzero(a & b)) / union


def time_accuracy(a: np.ndarray, b: np.ndarray) -> float:
    """Fraction of frames where the two vectors agree (sound or silence); empty is 1.0."""
    a, b = _check_pair(a, b)
    return 1.0 if a.size == 0 else float(np.mean(a == b))


# --- one track ---------------------------------------------------------------------------


@dataclass
class TimingReport:
    """All timing metrics of one rendered track against the events it should follow."""

    onset_acc: float
    onset_ap: float
    time_acc: float
    iou: float
    n_expected: int
    n_found: int
    matches: list[OnsetMatch] = field(default_factory=list)
    onset_count_acc: float = 0.0

    def to_dict(self) -> dict:
        """Plain JSON-ready types, for the CLI's ``eval`` output and job results."""
        return {
            "onset_acc": float(self.onset_acc),
            "onset_ap": float(self.onset_ap),
            "time_acc": float(self.time_acc),
            "iou": float(self.iou),
            "n_expected": int(self.n_expected),
            "n_found": int(self.n_found),
            "onset_count_acc": float(self.onset_count_acc),
            "matches": [m._asdict() for m in self.matches],
        }


def evaluate_track(
    audio: np.ndarray,
    sample_rate: int,
    expected_onsets_s: Sequence[float],
    expected_intervals_s: Sequence[tuple[float, float]],
    frame_rate: float,
    duration_s: float,
    *,
    tolerance: float = 0.1,
    delta: float = 0.3,
    threshold_db: float = -40.0,
    reference: Literal["peak", "full_scale"] = "peak",
) -> TimingReport:
    """Score a rendered track: detected onsets vs expected, eq. 7-8 activity vs intervals."""
    times, strengths = detect_onsets(audio, sample_rate, delta)
    expected = np.asarray(expected_onsets_s, dtype=np.float64)
    found_activity = activity_from_audio(
        audio, sample_rate, frame_rate, threshold_db, reference=reference, duration_s=duration_s
    )
    expected_activity = activity_from_intervals(expected_intervals_s, duration_s, frame_rate)
    return TimingReport(
        onset_acc=onset_accuracy(times, expected, tolerance),
        onset_ap=onset_ap(times, strengths, expected, tolerance),
        time_acc=time_accuracy(found_activity, expected_activity),
        iou=activity_iou(found_activity, expected_activity),
        n_expected=int(expected.size),
        n_found=int(times.size),
        matches=match_onsets(times, expected, tolerance),
        onset_count_acc=onset_count_accuracy(times, expected),
    )
