"""Timing metrics on synthetic tracks whose answers are known by construction."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sonicvision.server import metrics

NTSC = 30000 / 1001


def decaying_bursts(sr: int, times: list[float], total_s: float, seed: int = 0) -> np.ndarray:
    """Noise hits with a 15 ms decay: a drumstick-like attack at each time."""
    rng = np.random.default_rng(seed)
    y = np.zeros(int(total_s * sr))
    t = np.arange(int(0.08 * sr)) / sr
    for start in times:
        i = round(start * sr)
        y[i : i + t.size] += rng.standard_normal(t.size) * np.exp(-t / 0.015)
    return y


def tone_bursts(sr: int, intervals: list[tuple[float, float]], total_s: float, amp: float = 0.5):
    """1 kHz bursts with hard edges, so eq. 7's intervals are exact at 1 ms windows."""
    y = np.zeros(round(total_s * sr))
    for start, end in intervals:
        i, j = round(start * sr), round(end * sr)
        y[i:j] = amp * np.sin(2 * np.pi * 1000 * np.arange(j - i) / sr)
    return y


def assert_intervals(got: list[tuple[float, float]], want: list[tuple[float, float]]) -> None:
    np.testing.assert_allclose(np.reshape(got, (-1, 2)), np.reshape(want, (-1, 2)), atol=1e-9)


def frames(n: int, on: list[int]) -> np.ndarray:
    v = np.zeros(n, dtype=bool)
    v[on] = True
    return v


# --- onset detection ---------------------------------------------------------------------


@pytest.mark.parametrize("sr", [16_000, 48_000])
def test_detects_bursts_within_10ms(sr):
    # Hop is 5 ms (ONSET_HOP_S); backtracking lands at most one hop before the attack.
    times = [0.25, 0.61, 1.037, 1.5, 2.2]
    found, strengths = metrics.detect_onsets(decaying_bursts(sr, times, 3.0), sr)
    assert found.shape == strengths.shape == (5,)
    np.testing.assert_array_less(np.abs(found - times), 0.010)
    assert np.all(found <= np.add(times, 1e-9))  # backtracked to before the attack, never late
    assert np.all((strengths > 0) & (strengths <= 1)) and strengths.max() == 1.0


def test_detects_single_sample_clicks():
    sr = 48_000
    y = np.zeros(2 * sr)
    times = [0.3, 0.9, 1.4]
    for t in times:
        y[round(t * sr)] = 1.0
    found, _ = metrics.detect_onsets(y, sr)
    np.testing.assert_array_less(np.abs(found - times), 0.010)


def test_stereo_is_mixed_down_and_channels_first_is_refused():
    sr = 16_000
    y = decaying_bursts(sr, [0.2, 0.7], 1.0)
    mono, _ = metrics.detect_onsets(y, sr)
    stereo, _ = metrics.detect_onsets(np.stack([y, 0.5 * y], axis=1), sr)
    np.testing.assert_array_equal(mono, stereo)
    with pytest.raises(ValueError, match="channels-first"):
        metrics.detect_onsets(np.stack([y, y]), sr)


@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("n", [0, 10, 48_000])
def test_silence_has_no_onsets_and_no_warnings(n):
    found, strengths = metrics.detect_onsets(np.zeros(n), 48_000)
    assert found.size == 0 and strengths.size == 0


def test_matching_is_one_to_one_closest_first_in_expected_order():
    matches = metrics.match_onsets(found=[1.03, 2.5], expected=[1.08, 1.0, 3.0])
    assert [m.found_s for m in matches] == [None, 1.03, None]  # 1.0 is closer to 1.03
    assert matches[1].error_s == pytest.approx(0.03)
    assert metrics.match_onsets([1.1], [1.0])[0].found_s == 1.1  # tolerance is inclusive


# --- onset accuracy and AP ---------------------------------------------------------------

EXPECTED = [0.5, 1.0, 1.5, 2.0]


@pytest.mark.parametrize(
    ("found", "accuracy"),
    [
        (EXPECTED, 1.0),
        ([t + 0.05 for t in EXPECTED], 1.0),
        ([t + 0.15 for t in EXPECTED], 0.0),  # too late: nothing matches
        (EXPECTED[:3], 0.75),  # one missing
        ([*EXPECTED, 2.5], 0.8),  # one spurious: 4 / max(4, 5)
        ([0.5, 0.52, 1.0, 1.5, 2.0], 0.8),  # a double hit only matches once
        ([], 0.0),
    ],
)
def test_onset_accuracy(found, accuracy):
    assert metrics.onset_accuracy(found, EXPECTED) == pytest.approx(accuracy)


def test_onset_accuracy_of_two_silent_tracks_is_one():
    assert metrics.onset_accuracy([], []) == 1.0
    assert metrics.onset_count_accuracy([], []) == 1.0
    assert metrics.onset_count_accuracy([0.3], []) == 0.0


def test_onset_ap_ranks_by_strength():
    expected = [1.0, 2.0, 3.0]
    perfect = metrics.onset_ap([1.0, 2.0, 3.0], [0.9, 0.8, 0.7], expected)
    # A confident false alarm first: hits 0,1,1,1 -> (1/2 + 2/3 + 3/4) / 3.
    noisy = metrics.onset_ap([0.5, 1.0, 2.0, 3.0], [0.95, 0.9, 0.8, 0.7], expected)
    # The same false alarm ranked last costs nothing.
    weak_noise = metrics.onset_ap([0.5, 1.0, 2.0, 3.0], [0.1, 0.9, 0.8, 0.7], expected)
    missed = metrics.onset_ap([1.0, 2.0], [0.9, 0.8], expected)
    assert perfect == 1.0 and weak_noise == 1.0
    assert noisy == pytest.approx((1 / 2 + 2 / 3 + 3 / 4) / 3)
    assert missed == pytest.approx(2 / 3)
    assert perfect > noisy


def test_onset_ap_edge_cases():
    assert metrics.onset_ap([], [], []) == 1.0
    assert metrics.onset_ap([1.0], [0.5], []) == 0.0
    assert metrics.onset_ap([], [], [1.0]) == 0.0
    with pytest.raises(ValueError, match="strengths"):
        metrics.onset_ap([1.0, 2.0], [0.5], [1.0])


# --- eq. 7-8 activity --------------------------------------------------------------------

# Two tones 10 ms apart (one event), then two 50 ms apart (two events).
BURSTS = [(0.100, 0.130), (0.140, 0.170), (0.300, 0.330), (0.380, 0.410)]


def test_eq7_merges_gaps_within_20ms_only():
    sr = 16_000
    got = metrics.sound_intervals(tone_bursts(sr, BURSTS, 0.5), sr)
    assert_intervals(got, [(0.100, 0.170), (0.300, 0.330), (0.380, 0.410)])
    edge = [(0.1, 0.2), (0.22, 0.3), (0.321, 0.4)]  # 20 ms merges ("within"), 21 ms does not
    got = metrics.sound_intervals(tone_bursts(sr, edge, 0.5), sr)
    assert_intervals(got, [(0.1, 0.3), (0.321, 0.4)])
    unmerged = metrics.sound_intervals(tone_bursts(sr, BURSTS, 0.5), sr, merge_gap_s=0.0)
    assert_intervals(unmerged, BURSTS)


def test_eq7_threshold_relative_and_absolute():
    sr = 16_000
    y = tone_bursts(sr, [(0.1, 0.2)], 0.5, amp=0.01)  # -43 dBFS RMS
    y += tone_bursts(sr, [(0.3, 0.4)], 0.5, amp=0.0001)  # 40 dB below it
    assert_intervals(metrics.sound_intervals(y, sr, -30.0), [(0.1, 0.2)])
    assert_intervals(metrics.sound_intervals(y, sr, -50.0), [(0.1, 0.2), (0.3, 0.4)])
    assert metrics.sound_intervals(y, sr, -40.0, reference="full_scale") == []
    got = metrics.sound_intervals(y, sr, -50.0, reference="full_scale")
    assert_intervals(got, [(0.1, 0.2)])
    with pytest.raises(ValueError, match="reference"):
        metrics.sound_intervals(y, sr, reference="rms")


# Events (0.10-0.17), (0.30-0.33), (0.38-0.41) s in a 0.5 s track, snapped by hand:
# frame i is active when [i/fps, (i+1)/fps) overlaps an event; a partial last frame counts.
@pytest.mark.parametrize(
    ("fps", "n", "on"),
    [
        (24, 12, [2, 3, 4, 7, 9]),  # frame 8 = [0.333, 0.375) falls in the 50 ms gap
        (25, 13, [2, 3, 4, 7, 8, 9, 10]),  # no 40 ms frame fits inside the gap
        (NTSC, 15, [2, 3, 4, 5, 8, 9, 11, 12]),  # frame 2 ends at 0.1001 s, so 0.1 is in it
        (30, 15, [3, 4, 5, 9, 11, 12]),  # 0.1 s is exactly frame 3's start
    ],
)
def test_eq8_frames_snapped(fps, n, on):
    sr = 16_000
    got = metrics.activity_from_audio(tone_bursts(sr, BURSTS, 0.5), sr, fps)
    np.testing.assert_array_equal(got, frames(n, on))
    merged = [(0.100, 0.170), (0.300, 0.330), (0.380, 0.410)]
    np.testing.assert_array_equal(metrics.activity_from_intervals(merged, 0.5, fps), got)


def test_activity_from_intervals_edges():
    # Exact frame boundaries do not spill; an instant marks its frame; the track clips.
    np.testing.assert_array_equal(
        metrics.activity_from_intervals([(0.04, 0.08)], 0.2, 25), frames(5, [1])
    )
    np.testing.assert_array_equal(
        metrics.activity_from_intervals([(0.13, 0.13), (0.19, 9.0), (5.0, 6.0)], 0.2, 25),
        frames(5, [3, 4]),
    )
    with pytest.raises(ValueError, match="ends before"):
        metrics.activity_from_intervals([(0.1, 0.05)], 0.2, 25)


@pytest.mark.parametrize("fps", [24, 25, NTSC, 30])
def test_an_event_of_exactly_frame_i_marks_only_frame_i(fps):
    # i / fps * fps is not always i in floating point (e.g. 29 at 25 fps, 61 at 29.97).
    for i in range(200):
        got = metrics.activity_from_intervals([(i / fps, (i + 1) / fps)], 200 / fps, fps)
        assert np.flatnonzero(got).tolist() == [i]


def test_activity_duration_overrides_audio_length():
    sr = 16_000
    y = tone_bursts(sr, [(0.1, 0.2)], 0.3)
    assert metrics.activity_from_audio(y, sr, 25, duration_s=0.4).shape == (10,)


def test_iou_and_time_accuracy_by_hand():
    a = np.array([1, 1, 0, 0, 1], dtype=bool)
    b = np.array([0, 1, 1, 0, 1], dtype=bool)
    assert metrics.activity_iou(a, b) == pytest.approx(2 / 4)
    assert metrics.time_accuracy(a, b) == pytest.approx(3 / 5)
    assert metrics.activity_iou(a, a) == 1.0 and metrics.time_accuracy(a, ~a) == 0.0
    silent = np.zeros(5, dtype=bool)
    assert metrics.activity_iou(silent, silent) == 1.0
    assert metrics.activity_iou(a, silent) == 0.0
    assert metrics.time_accuracy(np.zeros(0, bool), np.zeros(0, bool)) == 1.0
    with pytest.raises(ValueError, match="shape"):
        metrics.activity_iou(a, b[:4])


@pytest.mark.filterwarnings("error")
def test_silent_track_activity():
    assert not metrics.activity_from_audio(np.zeros(16_000), 16_000, 24).any()
    assert metrics.sound_intervals(np.zeros(0), 16_000) == []


# --- one track ---------------------------------------------------------------------------


def noise_blocks(sr: int, starts: list[float], length_s: float, total_s: float) -> np.ndarray:
    rng = np.random.default_rng(1)
    y = np.zeros(round(total_s * sr))
    for s in starts:
        i = round(s * sr)
        n = round(length_s * sr)
        y[i : i + n] = rng.uniform(-0.5, 0.5, n)
    return y


def test_evaluate_track_on_time_and_late():
    sr, fps, total = 16_000, 25, 2.0
    starts = [0.2, 0.8, 1.4]
    intervals = [(s, s + 0.2) for s in starts]
    on_time = metrics.evaluate_track(
        noise_blocks(sr, starts, 0.2, total), sr, starts, intervals, fps, total
    )
    assert (on_time.onset_acc, on_time.onset_ap, on_time.time_acc, on_time.iou) == (1, 1, 1, 1)
    assert on_time.n_expected == on_time.n_found == 3 and on_time.onset_count_acc == 1.0

    late = metrics.evaluate_track(
        noise_blocks(sr, [s + 0.2 for s in starts], 0.2, total), sr, starts, intervals, fps, total
    )
    assert late.onset_acc == 0.0 and late.onset_ap == 0.0
    assert late.iou == 0.0 and late.time_acc == pytest.approx(1 - 30 / 50)
    report = json.loads(json.dumps(late.to_dict()))
    assert report["matches"][0] == {"expected_s": 0.2, "found_s": None, "error_s": None}


def test_evaluate_silent_track():
    report = metrics.evaluate_track(np.zeros(16_000), 16_000, [0.5], [(0.5, 0.6)], 24, 1.0)
    assert (report.onset_acc, report.onset_ap, report.iou, report.n_found) == (0, 0, 0, 0)
    nothing = metrics.evaluate_track(np.zeros(16_000), 16_000, [], [], 24, 1.0)
    assert (nothing.onset_acc, nothing.onset_ap, nothing.time_acc, nothing.iou) == (1, 1, 1, 1)
