"""Small fast objects: contacts the optical flow cannot see.

A thrown nut, a falling apple, a stone swung down: a few percent of the frame wide, they move
more than their own size between frames, where dense flow (built coarse to fine) loses them.
They are found here at the analysis size instead, as blobs of change with the camera's motion
taken out, and tracked from frame to frame:

* a **mover** at frame ``t`` differs from both frame ``t - 1`` and frame ``t + 1`` (each seen
  through the camera's motion): three-frame differencing, which keeps the object where it is
  at ``t`` and drops the places it left or will reach;
* a **settled** blob differs from frame ``t - 1`` but not from ``t + 1``: something arrived
  there and stays (or the background a mover uncovered: the tracker tells them apart, a
  settled blob counts only where a track was heading).

A **contact** is a track that flew on a steady path (two steps alike in direction and speed,
each longer than the object is wide) and then, at frame ``t``, turned abruptly (lost most of
its speed along the path: a bounce, a deflection) or came to rest where it was heading. ``t``
is the frame the object is at the turning point: the first frame of visible contact.

A fast object can also vanish, where it was heading, into a larger region that changes on
that frame (a head it strikes, moving with the blow): no blob of its own, and often no long
flight either (thrown in from the frame's edge, two frames in view). That is a **struck**
contact on the frame it would have been there (see ``_struck`` for what it must show).

"A frame" above is one sample: footage faster than 30 fps is sampled every ``stride(rate)``-th
frame (each phase tracked on its own, their contacts merged), so a thing moves as far between
samples at 60 fps as between frames at 30 (see ``_TRACK_RATE``).

What this does not claim: that the track is a single object (two look-alikes can swap), nor
anything about slow or large motion (the flow's job). A wing tip beating back and forth also
"turns abruptly": tracks that reverse more than once within half a second are periodic and
rejected, as the flow's rule rejects flaps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from functools import partial

import cv2
import numpy as np

logger = logging.getLogger(__name__)

_LEVEL = 14.0  # least grey-level change that counts (8-bit)
_MAX_BLOBS = 16  # per frame, the largest kept: busy pictures give many small flickers
_MIN_AREA = 0.00025  # of the frame (9 px at 256x144)
# Of the frame: larger is not a small object (the flow sees it, unless it is fast too). A nut
# thrown at Bunny's head close to the camera (4206) is 0.021 as it comes in; from 0.03 to 0.1
# Big Buck Bunny's cues and the live clips' are the same.
_MAX_AREA = 0.04
_MAX_SIDE = 0.25  # of the frame's width / height
# A flight: this many steps before the contact, alike, each longer than _FAST times the
# object's size (faster than the flow can follow; a limb or a flicker seldom keeps it up).
_FLIGHT = 3
_FAST = 1.5
_APART = 3.5  # the change around a small object: where it was, is and goes, a little more
_COARSE = 4  # pixels per cell of the changed regions' map
# Small objects are tracked at most at this rate. Three-frame differencing needs an object
# apart from itself from frame to frame, and at 50 or 60 fps a nut that moves 1.5 of its
# sizes a frame at 24 fps moves 0.6: faster footage is sampled every ``stride(rate)``-th
# frame, each phase tracked alone (a generated 5%-wide fall at 50 or 60 fps went unfound).
_TRACK_RATE = 30.5  # 29.97 and 30 fps keep every frame
# A struck object: faster than this many times its size a frame, vanishing into a changed
# region this many times its area.
_STRUCK_FAST = 2.0
_STRUCK_REGION = _APART  # more than a lone object changes (see _APART)
_STRUCK_STEP = 5.0  # a flight of one step: at most this many sizes long
# A struck object stays in view: where it would be, its centre at least this many of its
# sizes inside the frame (most of it in view; a pear striking a head at the top edge, 4298).
_IN_VIEW = 0.5
# A struck thing that moved already: the change there grows this much (see _still_before).
_STRUCK_GROWTH = 2.0
# ... and at least this wide (of the frame's width). A struck object shows no contact of its
# own, it only vanishes, and a speck vanishes as often as a flicker does (defocused leaves
# in the wind, noise): Big Buck Bunny's false ones were 0.014-0.025 wide, its nuts 0.055-0.1.
_STRUCK_SIZE = 0.03


@dataclass(frozen=True)
class Blob:
    """One changed region of a frame, in pixels at analysis size."""

    x: float
    y: float
    area: float
    level: float  # mean grey level of the frame over the blob
    # How much the picture varies (grey levels' standard deviation) around the blob, one
    # size each side, over what did not change, the frame before (camera-aligned): a flat
    # ground there is empty space, nothing to strike.
    ground: float = 255.0

    @property
    def size(self) -> float:
        return float(np.sqrt(self.area))


@dataclass(frozen=True)
class Blobs:
    """What a frame shows of small objects: movers and settled blobs (see the module), and
    a coarse map of how large the changed region covering each place is."""

    movers: tuple[Blob, ...] = ()
    settled: tuple[Blob, ...] = ()
    # (h // _COARSE, w // _COARSE) float32: area (pixels at analysis size) of the changed
    # region over each cell, its largest; None: not measured.
    extent: np.ndarray | None = None

    def region_at(self, x: float, y: float, reach: float) -> float:
        """The largest changed region within ``reach`` pixels of (x, y), in pixels."""
        if self.extent is None:
            return 0.0
        h, w = self.extent.shape
        c0, c1 = int((x - reach) // _COARSE), int((x + reach) // _COARSE) + 1
        r0, r1 = int((y - reach) // _COARSE), int((y + reach) // _COARSE) + 1
        cells = self.extent[max(0, r0) : min(h, r1), max(0, c0) : min(w, c1)]
        return float(cells.max()) if cells.size else 0.0


NONE = Blobs()


@dataclass(frozen=True)
class Contact:
    """A contact of a tracked small object at frame ``t`` (index in the shot)."""

    t: int
    confidence: float
    x: float  # where, fractions of the frame
    y: float
    kind: str  # "bounce" or "stop"
    periodic: bool  # the track reversed more than once within half a second
    speed: float = 0.0  # arrival speed, frame widths per second
    size: float = 0.0  # the object's size (square root of its area), of the frame's width
    ground: float = 255.0  # how much the picture varies where it met (see Blob.ground)


def find_blobs(
    prev: np.ndarray,
    cur: np.ndarray,
    nxt: np.ndarray,
    back: np.ndarray,
    fwd: np.ndarray,
) -> Blobs:
    """Blobs of frame ``cur`` (grey, analysis size). ``back`` / ``fwd``: the camera's 2x3
    models taking a pixel of ``cur`` to where it is in ``prev`` / ``nxt``."""
    h, w = cur.shape
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    seen_prev = cv2.warpAffine(prev, back, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    seen_next = cv2.warpAffine(nxt, fwd, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    d_prev = cv2.absdiff(cur, seen_prev)
    d_next = cv2.absdiff(cur, seen_next)
    margin = 1 + int(np.ceil(max(_shift(back, w, h), _shift(fwd, w, h))))
    came = above_noise(d_prev, margin)
    stays = above_noise(d_next, margin)
    # A small object is a thing apart: the change around it (where it was, is and will be)
    # is small too. A piece of a larger moving body or of flickering foliage is not.
    whole = cv2.morphologyEx((came | stays).view(np.uint8), cv2.MORPH_CLOSE, _KERNEL)
    _, around, stats, _ = cv2.connectedComponentsWithStats(whole, connectivity=8)
    extent = stats[:, cv2.CC_STAT_AREA]
    still = (seen_prev, came | stays)
    movers = _blobs(came & stays, cur, still, around, extent)
    settled = _blobs(came & ~stays, cur, still, around, extent)
    return Blobs(movers, settled, _extent_map(around, extent))


def _extent_map(around: np.ndarray, extent: np.ndarray) -> np.ndarray | None:
    """Each coarse cell's largest changed region (its area in pixels; 0: unchanged)."""
    h, w = around.shape
    ch, cw = h // _COARSE, w // _COARSE
    if not ch or not cw:
        return None
    sizes = extent.astype(np.float32)
    sizes[0] = 0.0  # label 0: the unchanged background
    region = sizes[around[: ch * _COARSE, : cw * _COARSE]]
    # Each cell's largest: a dilation anchored at the cell's corner, read at the corners
    # (numpy's max over a 4-d reshape is several times slower, on every frame).
    region = cv2.dilate(region, _CELL, anchor=(0, 0), borderType=cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(region[::_COARSE, ::_COARSE])


def _shift(model: np.ndarray, w: int, h: int) -> float:
    """The largest camera displacement over the frame's corners, pixels."""
    corners = np.array([[0, 0, 1], [w, 0, 1], [0, h, 1], [w, h, 1]], dtype=np.float64)
    moved = corners @ model.T
    return float(np.abs(moved - corners[:, :2]).max())


def above_noise(diff: np.ndarray, margin: int, level: float = _LEVEL) -> np.ndarray:
    """Where a difference image ``diff`` (8-bit) stands out of the picture's noise by at
    least ``level``, leaving out ``margin`` pixels at the edges (where the camera brings in
    new content)."""
    noise = _median(diff[::2, ::2])
    out = diff > max(level, 4.0 * noise + level / 2)
    out[:margin] = out[-margin:] = False
    out[:, :margin] = out[:, -margin:] = False
    return out


def _median(values: np.ndarray) -> float:
    """``np.median`` of 8-bit values, read off their histogram (a sort is several times
    slower, on every frame)."""
    if values.dtype != np.uint8 or not values.size:
        return float(np.median(values))
    below = np.cumsum(np.bincount(values.ravel(), minlength=256))
    n = values.size
    lo, hi = np.searchsorted(below, [(n - 1) // 2 + 1, n // 2 + 1])
    return (float(lo) + float(hi)) / 2.0


def _blobs(
    mask: np.ndarray,
    gray: np.ndarray,
    still: tuple[np.ndarray, np.ndarray],
    around: np.ndarray,
    extent: np.ndarray,
) -> tuple[Blob, ...]:
    """The blobs of ``mask`` that are small things apart. ``still``: the frame before, and
    where anything changed (to read the ground around each blob, see ``Blob.ground``)."""
    h, w = gray.shape
    mask = cv2.morphologyEx(mask.view(np.uint8), cv2.MORPH_CLOSE, _KERNEL)
    _, labels, stats, centroids = cv2.connectedComponentsWithStats(mask, connectivity=8)
    least, most = _MIN_AREA * w * h, _MAX_AREA * w * h
    bws, bhs = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    areas = stats[:, cv2.CC_STAT_AREA]
    small = (areas >= least) & (areas <= most) & (bws <= _MAX_SIDE * w) & (bhs <= _MAX_SIDE * h)
    # Not a thin stroke or an outline: an edge of something larger.
    small &= areas >= 0.3 * bws * bhs
    small[0] = False  # label 0: what did not change
    out = []
    for k in np.flatnonzero(small):
        x0, y0, bw, bh, area = stats[k]
        inside = labels[y0 : y0 + bh, x0 : x0 + bw] == k
        whole = around[y0 : y0 + bh, x0 : x0 + bw][inside]
        if extent[int(np.bincount(whole).argmax())] > _APART * area:
            continue
        level = float(gray[y0 : y0 + bh, x0 : x0 + bw][inside].mean())
        x, y = float(centroids[k][0]), float(centroids[k][1])
        ground = _ground(still, x0, y0, bw, bh, int(np.ceil(np.sqrt(area))))
        out.append(Blob(x, y, float(area), level, ground))
    out.sort(key=lambda b: -b.area)
    return tuple(out[:_MAX_BLOBS])


_KERNEL = np.ones((3, 3), np.uint8)
_CELL = np.ones((_COARSE, _COARSE), np.uint8)


def _ground(
    still: tuple[np.ndarray, np.ndarray], x0: int, y0: int, bw: int, bh: int, pad: int
) -> float:
    """The spread of grey levels over what did not change around a blob's box (``pad``
    pixels each side) in the frame before: the ground it is over, the object left out
    wherever it was or went."""
    before, changed = still
    box = np.s_[max(0, y0 - pad) : y0 + bh + pad, max(0, x0 - pad) : x0 + bw + pad]
    ground = before[box][~changed[box]]
    return float(ground.std()) if ground.size >= bw * bh else 255.0


@dataclass
class _Track:
    points: list[tuple[int, Blob]]  # (frame, blob)

    def end(self) -> int:
        return self.points[-1][0]

    def position(self, k: int) -> np.ndarray:
        b = self.points[k][1]
        return np.array([b.x, b.y])


_LOOK = 40.0  # grey levels: one object's mean level from frame to frame ...
_FLIGHT_LOOK = _LOOK  # ... and over its whole flight


def _alike(a: Blob, b: Blob, entering: bool = False) -> bool:
    """Could ``b`` be ``a`` a frame on? Alike in level and area; ``entering``: ``a`` was at
    the frame's edge, partly in view, so its area says nothing of the object's."""
    if abs(a.level - b.level) >= _LOOK:
        return False
    return entering or 0.33 <= a.area / b.area <= 3.0


def _at_edge(b: Blob, width: int, height: int) -> bool:
    """Is ``b`` within its own size of the frame's edge (likely cut by it)?"""
    return min(b.x, b.y, width - b.x, height - b.y) < b.size


def track(blobs: list[Blobs], width: int, height: int) -> list[_Track]:
    """Movers linked frame to frame: each blob to the track it continues best (nearest to the
    track's predicted place, within reach of its last one), greedily, largest blobs first. A
    track whose first point is at the frame's edge may grow as its object comes into view."""
    tracks: list[_Track] = []
    open_: list[_Track] = []
    for t, frame in enumerate(blobs):
        taken: set[int] = set()
        next_open: list[_Track] = []
        for b in frame.movers:
            best, best_cost = None, np.inf
            for i, tr in enumerate(open_):
                last = tr.points[-1][1]
                entering = len(tr.points) == 1 and _at_edge(last, width, height)
                if i in taken or not _alike(last, b, entering):
                    continue
                p = tr.position(-1)
                v = p - tr.position(-2) if len(tr.points) > 1 else np.zeros(2)
                here = np.array([b.x, b.y])
                reach = max(1.5 * float(np.hypot(*v)), 0.3 * width) + 2 * b.size
                if np.hypot(*(here - p)) > reach:
                    continue
                cost = float(np.hypot(*(here - (p + v))))
                if cost < best_cost:
                    best, best_cost = i, cost
            if best is None:
                tr = _Track([(t, b)])
                tracks.append(tr)
            else:
                taken.add(best)
                tr = open_[best]
                tr.points.append((t, b))
            next_open.append(tr)
        open_ = next_open  # a track missing a frame ends
    return [tr for tr in tracks if len(tr.points) >= 2]


def contacts(blobs: list[Blobs], rate: float, width: int, height: int) -> list[Contact]:
    """Contacts of small fast objects in one shot's frames (see the module's notes)."""
    out: list[Contact] = []
    least = max(1.5, 0.3 / rate * width)  # 0.3 widths/s, and more than the noise of a centroid
    for tr in track(blobs, width, height):
        steps = [tr.position(k + 1) - tr.position(k) for k in range(len(tr.points) - 1)]
        for k in range(_FLIGHT, len(steps)):
            # Approach: steps k-2 and k-1 alike and longer than the object; the turn at point
            # k: the step after it keeps less than 30% of the speed along the path.
            v1, v2, v3 = steps[k - 2], steps[k - 1], steps[k]
            s1, s2 = float(np.hypot(*v1)), float(np.hypot(*v2))
            t, b = tr.points[k]
            if not _flew(tr, steps, blobs, k, max(least, _FAST * b.size)):
                continue
            loss = float(np.hypot(*(v3 - v2))) / s2
            if float(v3 @ v2) / s2 > 0.3 * s2 or loss < 0.6:
                continue
            steady = float(v1 @ v2) / (s1 * s2)
            conf = 0.4 + 0.3 * min(1.0, (loss - 0.6) / 1.0) + 1.5 * (steady - 0.8)
            periodic = _reverses(steps, k, rate)
            x, y, size = b.x / width, b.y / height, b.size / width
            speed = s2 / width * rate
            out.append(Contact(t, _unit(conf), x, y, "bounce", periodic, speed, size, b.ground))
        # A track that ends without its last point being a turn may have stopped there: its
        # object at rest shows as a settled blob one frame on, a step ahead.
        if len(steps) >= _FLIGHT:
            v1, v2 = steps[-2], steps[-1]
            b, last = tr.points[-1][1], tr.position(-1)
            if _flew(tr, steps, blobs, len(steps), max(least, _FAST * b.size)):
                s2 = float(np.hypot(*v2))
                rest = _settled_near(blobs, tr.end() + 1, last + v2, b, 0.75 * s2 + b.size)
                # Not the background it uncovered (a settled blob where it was).
                if rest is not None and np.hypot(rest.x - last[0], rest.y - last[1]) > 0.5 * s2:
                    steady = float(v1 @ v2) / (s2 * float(np.hypot(*v1)))
                    periodic = _reverses(steps, len(steps), rate)
                    x, y = rest.x / width, rest.y / height
                    conf = _unit(0.5 + 1.5 * (steady - 0.8))
                    speed, size = s2 / width * rate, b.size / width
                    t = tr.end() + 1
                    out.append(Contact(t, conf, x, y, "stop", periodic, speed, size, rest.ground))
        # One contact per moment: a bounce or stop found within 2 frames already stands.
        found = [c.t for c in out if c.t >= tr.points[0][0]]
        strike = partial(_struck, blobs=blobs, rate=rate, width=width, height=height, least=least)
        for struck in _struck_along(tr, steps, strike, least):
            if all(abs(struck.t - t) > 2 for t in found):
                out.append(struck)
    out.sort(key=lambda c: c.t)
    return out


def stride(rate: float) -> int:
    """Every how many frames small objects are sampled at ``rate`` (see ``_TRACK_RATE``):
    1 up to 30 fps, 2 at 48 to 60, 4 at 120."""
    return max(1, int(np.ceil(rate / _TRACK_RATE)))


def contacts_sampled(
    blobs: list[Blobs], rate: float, width: int, height: int, every: int
) -> list[Contact]:
    """:func:`contacts` of frames sampled ``every`` frames: each of the ``every`` phases
    tracked on its own (each frame's blobs were found against the frames ``every`` away), the
    contacts back on the shot's frames. Phases that see one contact (within ``every`` frames
    and a tenth of the frame) give it once, from the phase that saw the sharpest turn (the
    most confident; the one whose sample fell on the contact): periodic if any saw it so."""
    if every <= 1:
        return contacts(blobs, rate, width, height)
    seen = [
        replace(c, t=phase + c.t * every)
        for phase in range(every)
        for c in contacts(blobs[phase::every], rate / every, width, height)
    ]
    seen.sort(key=lambda c: (-c.confidence, c.t))
    kept: list[Contact] = []
    for c in seen:
        same = [i for i, k in enumerate(kept) if _same_contact(c, k, every)]
        if not same:
            kept.append(c)
        elif c.periodic:
            kept[same[0]] = replace(kept[same[0]], periodic=True)
    kept.sort(key=lambda c: c.t)
    return kept


def _same_contact(a: Contact, b: Contact, every: int) -> bool:
    return abs(a.t - b.t) < every and abs(a.x - b.x) <= 0.1 and abs(a.y - b.y) <= 0.1


def _struck_along(
    tr: _Track,
    steps: list[np.ndarray],
    strike: Callable[[_Track, list[np.ndarray]], Contact | None],
    least: float,
) -> list[Contact]:
    """Struck contacts (``strike``: ``_struck`` of the shot) at the track's end and wherever
    its path breaks off (two steps unlike in direction or speed, or shorter than ``least``
    pixels a frame): an object that vanishes into what it struck leaves the tracker free to
    link its track on to another blob of the next frame (the nearest within reach: something
    else entirely), so a point where the path turns without a bounce is tried as an end too.
    The same holds at the other end: an object thrown in can be linked on to a track that
    ended nearby, so a break is tried as the start of a flight too."""
    breaks = [k for k in range(1, len(steps)) if not _steady(steps[k - 1], steps[k], least)]
    ends = sorted(set(breaks + [len(tr.points) - 1]))
    out: list[Contact] = []
    for start in _flight_starts(breaks):
        for end in (e for e in ends if e > start):
            c = strike(_Track(tr.points[start : end + 1]), steps[start:end])
            if c is not None and all(c.t != o.t for o in out):
                out.append(c)
    return out


def _flight_starts(breaks: list[int]) -> list[int]:
    """Where a struck object's flight may start on its track: its first point, and each
    point where the path breaks off (see ``_struck_along``)."""
    return [0, *breaks]


def _struck(
    tr: _Track,
    steps: list[np.ndarray],
    blobs: list[Blobs],
    rate: float,
    width: int,
    height: int,
    least: float,
) -> Contact | None:
    """A fast object that vanishes, where it was heading, into a larger region that changes
    (a head it struck, moving with the blow, still the frame before): a contact on the
    frame it would have been there. Its flight may be short (thrown in from the frame's
    edge: two frames in view), so it must be fast (``_STRUCK_FAST`` times its size a
    frame), not fly on (no mover near its path on that frame or the next), and stay in
    view."""
    if not steps:
        return None
    b, last, v = tr.points[-1][1], tr.position(-1), steps[-1]
    s = float(np.hypot(*v))
    if s < max(least, _STRUCK_FAST * b.size) or b.size < _STRUCK_SIZE * width:
        return None
    if len(steps) >= 2 and not _steady(steps[-2], v, max(least, _FAST * b.size)):
        return None
    if not all(_left(tr, blobs, j) for j in range(max(0, len(steps) - 2), len(steps))):
        return None
    if len(steps) < 2:
        # One step is no flight unless it came from outside the view or a mover was where
        # the step points back to, unlinked (two blobs linked mid-frame alone are as often
        # a hand and an ear), and it is no one object when it is much longer than the blob
        # is wide: under any shutter but the fastest, a thing that fast is a streak as long
        # as a good part of its step (two flickers far apart are linked instead: on Big
        # Buck Bunny the false ones stepped 8-15 sizes, the nuts thrown at the bunny's head
        # 2.5).
        before = tr.position(0) - v  # where it was a frame earlier, going as it went
        outside = min(before[0], before[1], width - before[0], height - before[1]) <= 0
        if not outside and not _seen_at(blobs, tr.points[0][0] - 1, before, 0.5 * s + b.size):
            return None
        if s > _STRUCK_STEP * b.size:
            return None
    t = tr.end() + 1
    if t + 1 >= len(blobs) or blobs[t].extent is None:
        return None
    at = last + v
    half = _IN_VIEW * b.size
    inside = half <= at[0] <= width - half and half <= at[1] <= height - half
    if not inside:
        return None  # left the view
    for k, where in ((t, at), (t + 1, at + v)):
        if any(
            np.hypot(m.x - where[0], m.y - where[1]) <= 0.5 * s + m.size for m in blobs[k].movers
        ):
            return None  # flew on
    if _stayed(blobs[t], last, b.size):
        return None
    if blobs[t].region_at(at[0], at[1], 0.5 * s) <= _STRUCK_REGION * b.area:
        return None  # nothing larger there: lost, not stopped
    if not _still_before(blobs[t - 1], blobs[t], at, 0.5 * s, b):
        return None
    x, y = at[0] / width, at[1] / height
    return Contact(t, 0.5, x, y, "struck", False, s / width * rate, b.size / width)


def _stayed(now: Blobs, last: np.ndarray, size: float) -> bool:
    """Is something still changing, as a mover, where the object last was? A thing that
    flew into what it struck left that place (the background it uncovered settles); a
    flicker in defocused foliage keeps changing there (Big Buck Bunny 1780-1781)."""
    return _mover_near(now, last, size)


def _seen_at(blobs: list[Blobs], t: int, where: np.ndarray, reach: float) -> bool:
    """Was a mover at ``where`` (within ``reach``) on frame ``t``? A third point on the
    path, left unlinked (an object coming in at the frame's edge, half in view, looks
    darker or lighter than once it is in)."""
    return t >= 0 and _mover_near(blobs[t], where, reach)


def _mover_near(frame: Blobs, where: np.ndarray, reach: float) -> bool:
    """Is a mover of ``frame`` within ``reach`` pixels of ``where``?"""
    return any(np.hypot(m.x - where[0], m.y - where[1]) <= reach for m in frame.movers)


def _still_before(before: Blobs, now: Blobs, at: np.ndarray, reach: float, like: Blob) -> bool:
    """Was the place an object vanished into still the frame before, or did the change there
    grow ``_STRUCK_GROWTH`` times with the blow? What it met was moving already (a talking
    face, a crowd) otherwise: the object went behind or over it as easily as it struck it. A
    thing struck starts to move with the blow; one still moving from the blow before moves
    much more (Big Buck Bunny's struck heads: 2.3-14 times; what a tracked thing went behind
    without a blow: 0.9-1.4)."""
    was = before.region_at(at[0], at[1], reach)
    if was <= _STRUCK_REGION * like.area:
        return True
    return now.region_at(at[0], at[1], reach) >= _STRUCK_GROWTH * was


def _flew(tr: _Track, steps: list[np.ndarray], blobs: list[Blobs], k: int, least: float) -> bool:
    """Did the track fly up to its point ``k``: its last ``_FLIGHT`` steps alike and each
    longer than ``least`` (see ``_steady``), each leaving the place it started from, one
    object all the way (its level within ``_FLIGHT_LOOK`` over the flight, not only step to step:
    flickers in textured grass, linked across the frame, drift brighter link by link)?"""
    window = range(k - _FLIGHT, k)
    if not all(_steady(steps[j - 1], steps[j], least) for j in window[1:]):
        return False
    levels = [b.level for _, b in tr.points[k - _FLIGHT : k + 1]]
    if max(levels) - min(levels) >= _FLIGHT_LOOK:
        return False
    return all(_left(tr, blobs, j) for j in window)


def _left(tr: _Track, blobs: list[Blobs], j: int) -> bool:
    """Did the object of step ``j`` leave the place it was at? A thing that flies on leaves
    no mover behind (three-frame differencing: where it was, only the background it
    uncovered changes). Something still changing there on the next frame (alike or not: a
    flicker alternates) is a source of change that stays put (a flicker, a sign, a head
    bobbing in a crowd): the track jumped from it to another such place, as it does every
    frame from the same places, and no object flew."""
    (_, was), (t, now) = tr.points[j], tr.points[j + 1]
    for m in blobs[t].movers:
        if m is not now and np.hypot(m.x - was.x, m.y - was.y) <= was.size:
            return False
    return True


def _steady(v1: np.ndarray, v2: np.ndarray, least: float) -> bool:
    """Two steps of a flight: each longer than ``least``, alike in speed and direction."""
    s1, s2 = float(np.hypot(*v1)), float(np.hypot(*v2))
    if min(s1, s2) < max(least, 1e-9) or not 0.5 <= s2 / s1 <= 2.0:  # (a still step: none)
        return False
    return float(v1 @ v2) / (s1 * s2) >= 0.8


def _unit(x: float) -> float:
    return float(np.clip(x, 0.0, 1.0))


def _settled_near(
    blobs: list[Blobs], t: int, where: np.ndarray, like: Blob, reach: float
) -> Blob | None:
    """A settled blob at frame ``t`` within ``reach`` of ``where`` that looks like ``like``."""
    if not 0 <= t < len(blobs):
        return None
    for b in blobs[t].settled:
        if np.hypot(b.x - where[0], b.y - where[1]) <= reach and _alike(b, like):
            return b
    return None


def _reverses(steps: list[np.ndarray], k: int, rate: float) -> bool:
    """Did the track turn back more than once within half a second of point ``k``?"""
    half = max(2, int(round(0.5 * rate)))
    lo, hi = max(0, k - half), min(len(steps), k + half)
    turns = 0
    for a, b in zip(steps[lo:hi], steps[lo + 1 : hi], strict=False):
        if float(a @ b) < 0:
            turns += 1
    return turns >= 2
