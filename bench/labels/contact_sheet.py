"""Contact sheets to check labels by eye: for each frame asked for, a row of its neighbours.

Each row shows frames ``f - before .. f + after`` of the media (0-based picture frames, frame
``n`` at ``n / rate`` after the first), each stamped with its index; the labelled frame is
framed in red. Rows come from seeking to the keyframe before and decoding forward, with each
picture's index taken from its timestamp.

    python bench/labels/contact_sheet.py MEDIA OUT.png 4191 4206 ... [--before 3 --after 3]
    python bench/labels/contact_sheet.py MEDIA OUT.png --labels FILE.json --cls VISIBLE_CONTACT
"""

from __future__ import annotations

import argparse
import json
from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np


def grab(path: Path, wanted: list[int], width: int) -> dict[int, np.ndarray]:
    """The pictures of ``wanted`` frame indices, ``width`` pixels wide, BGR."""
    out: dict[int, np.ndarray] = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = Fraction(stream.average_rate or stream.guessed_rate)
        tb = Fraction(stream.time_base)
        start = stream.start_time or 0
        h = int(round(stream.height * width / stream.width / 2)) * 2
        for target in sorted(set(wanted)):
            if target in out:
                continue
            container.seek(int(start + (Fraction(target) / rate - 1) / tb), stream=stream)
            for frame in container.decode(stream):
                index = round((frame.pts - start) * tb * rate)
                if index in wanted and index not in out:
                    out[index] = frame.to_ndarray(width=width, height=h, format="bgr24")
                if index >= target:
                    break
    return out


def sheet(path: Path, centres: list[int], before: int, after: int, width: int) -> np.ndarray:
    offsets = range(-before, after + 1)
    pictures = grab(path, [c + o for c in centres for o in offsets if c + o >= 0], width)
    some = next(iter(pictures.values()))
    blank = np.zeros_like(some)
    rows = []
    for c in centres:
        tiles = []
        for o in offsets:
            tile = pictures.get(c + o, blank).copy()
            cv2.putText(tile, str(c + o), (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3)
            cv2.putText(
                tile, str(c + o), (3, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (255, 255, 255), 1
            )
            if o == 0:
                cv2.rectangle(tile, (0, 0), (tile.shape[1] - 1, tile.shape[0] - 1), (0, 0, 255), 2)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    return np.vstack(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("media", type=Path)
    ap.add_argument("out", type=Path)
    ap.add_argument("frames", nargs="*", type=int)
    ap.add_argument("--labels", type=Path, help="take the frames from this label file")
    ap.add_argument("--cls", default="VISIBLE_CONTACT", help="label class to show")
    ap.add_argument("--before", type=int, default=3)
    ap.add_argument("--after", type=int, default=3)
    ap.add_argument("--width", type=int, default=200)
    args = ap.parse_args()
    centres = list(args.frames)
    if args.labels:
        events = json.loads(args.labels.read_text())["events"]
        centres += [e["frame"] for e in events if e["class"] == args.cls]
    cv2.imwrite(str(args.out), sheet(args.media, centres, args.before, args.after, args.width))
    print(f"{args.out}: {len(centres)} rows")


if __name__ == "__main__":
    main()
