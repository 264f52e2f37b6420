"""Guide audio heard ahead of need: each shot's sound, in a thread, while the picture scan goes on.

The guide needs the shots (each one's sound is heard on its own), and the scan finds them one
by one while the detector's process measures the frames; the scan itself mostly waits for
that process. So as each shot is found (``beside``: a ``ClipWatch`` beside the detector's),
its guide sources start being heard in a thread, and the guide takes what was heard
(``heard``): the same numbers as hearing them after the scan, without its wall time.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from types import TracebackType

import numpy as np
import opentimelineio as otio

from sonicvision.adapters.media import MediaResolver
from sonicvision.events import Shot

from ..shots import ClipWatch
from .audio import read_audio
from .find import GuideFinder, GuideSource
from .transients import GuideAudio, find_transients

logger = logging.getLogger(__name__)

CHUNK_S = 60.0  # a long take is heard in pieces, so its sound is never held whole
MARGIN_S = 3.0  # each piece reads this much more on both sides: local statistics need it


def listen(source: GuideSource, chunk_s: float = CHUNK_S) -> GuideAudio:
    """The transients of a source's sound, read ``chunk_s`` at a time.

    Each piece is analysed with ``MARGIN_S`` of its neighbours' sound around it, and keeps
    what lies in its own stretch; the masks are laid on one grid of blocks from the start.
    """
    start = source.file_time(source.first)
    total = source.count / source.frame_rate
    pieces: list[tuple[float, float, GuideAudio]] = []
    at = 0.0
    while at < total:
        stop = min(total, at + chunk_s)
        lo, hi = max(0.0, at - MARGIN_S), min(total, stop + MARGIN_S)
        audio, rate = read_audio(source.path, start + lo, hi - lo, source.stream)
        pieces.append((at - lo, stop - lo, find_transients(audio, rate)))
        at = stop
    return _join(pieces, total)


def _join(pieces: list[tuple[float, float, GuideAudio]], total: float) -> GuideAudio:
    first = pieces[0][2]
    if len(pieces) == 1 and pieces[0][0] == 0.0:
        return first
    block = first.block_s
    blocks = int(np.ceil(total / block)) + 1
    tonal, music = np.zeros(blocks, bool), np.zeros(blocks, bool)
    found, rejected = [], Counter()
    offset = 0.0  # seconds from the source's start to this piece's own stretch
    for keep_from, keep_to, heard in pieces:
        shift = offset - keep_from  # piece time + shift = source time
        rate = heard.sample_rate
        found += [
            replace(t, time_s=t.time_s + shift, sample=t.sample + round(shift * rate))
            for t in heard.transients
            if keep_from <= t.time_s < keep_to
        ]
        rejected.update(heard.rejected)
        if len(heard.tonal):
            rows = np.arange(
                int(offset / block),
                min(blocks, int(np.ceil((offset + keep_to - keep_from) / block))),
            )
            src = np.clip(
                np.round((rows * block - shift) / block).astype(int), 0, len(heard.tonal) - 1
            )
            tonal[rows], music[rows] = heard.tonal[src], heard.music[src]
        offset += keep_to - keep_from
    silent = all(h.silent for _, _, h in pieces)
    return GuideAudio(found, block, tonal, music, silent, dict(rejected), first.sample_rate)


class Listening:
    """Guide sources heard, or being heard in a thread, for the guide to take (see the
    module). A context manager: leaving it drops what is still waiting to be heard."""

    def __init__(self, chunk_s: float = CHUNK_S) -> None:
        self.chunk_s = chunk_s
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="guide-listen")
        self._heard: dict[GuideSource, Future[GuideAudio]] = {}
        self._lock = threading.Lock()
        self._finder: GuideFinder | None = None

    def __enter__(self) -> Listening:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def ahead(self, source: GuideSource) -> None:
        """Start hearing ``source`` in the thread, unless it is heard already."""
        with self._lock:
            if source not in self._heard:
                self._heard[source] = self._pool.submit(listen, source, self.chunk_s)

    def heard(self, source: GuideSource) -> GuideAudio:
        """The transients of a source's sound, as ``listen`` gives them: what the thread
        heard (waiting for it if it is still at it), else heard now. Raises ``MediaError``
        as ``listen`` does."""
        with self._lock:
            heard = self._heard.pop(source, None)
        return listen(source, self.chunk_s) if heard is None else heard.result()

    def finder(self, timeline: otio.schema.Timeline, resolver: MediaResolver) -> GuideFinder:
        """The run's one finder of guide sources, for the scan and the guide alike: the
        timeline's audio clips are resolved once, not once per picture clip and again after."""
        with self._lock:
            known = self._finder
            if known is None or known.timeline is not timeline or known.resolver is not resolver:
                self._finder = GuideFinder(timeline, resolver)
            return self._finder

    def beside(
        self, clip: ClipWatch, timeline: otio.schema.Timeline, resolver: MediaResolver
    ) -> ClipWatch:
        """``clip`` (the detector's watch of a clip's scan), and each shot's guide sources
        heard ahead as the scan finds the shot."""
        return _Beside(clip, self, self.finder(timeline, resolver))


class _Beside:
    def __init__(self, clip: ClipWatch, listening: Listening, finder: GuideFinder) -> None:
        self.frame = clip.frame
        self._clip, self._listening, self._finder = clip, listening, finder

    def shot(self, shot: Shot, before: int = 0, after: int = 0) -> None:
        self._clip.shot(shot, before, after)
        for source in self._finder.sources(shot):
            self._listening.ahead(source)
