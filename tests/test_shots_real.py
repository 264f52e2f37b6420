"""Cut detection on real footage (server/shots.py): cuts where the film cuts, none where a
lot changes inside one shot."""

from __future__ import annotations

from pathlib import Path

import pytest

from sonicvision.server.frames import probe
from sonicvision.server.shots import scan_clip

MEDIA = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "media"
BBB = MEDIA / "bbb_first_300s.mp4"


def _cuts(first: int, count: int) -> list[int]:
    info = probe(BBB)
    return [s.first for s in scan_clip(BBB, first, count, info)][1:]


@pytest.mark.parametrize(
    ("first", "count", "what"),
    [
        (6630, 36, "a hand with a stone slams into a close-up (6649-6651)"),
        (7160, 40, "the picture fades to black (7180)"),
    ],
)
def test_a_big_change_inside_one_shot_is_no_cut(first: int, count: int, what: str):
    # A fixed threshold on the frame-to-frame change (ContentDetector at 27) cuts both.
    assert _cuts(first, count) == [], what


def test_a_cut_between_two_like_shots_is_found():
    # Big Buck Bunny 5307: close on Bunny in a green field, cut to him wide in the same field
    # (the fixed threshold missed it); and the labelled cut at 5292 before it.
    assert _cuts(5280, 40) == [5292, 5307]
