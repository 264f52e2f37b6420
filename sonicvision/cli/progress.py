"""Progress on the terminal: one bar per stage, fed by the pipeline's single callback."""

from __future__ import annotations

import time

from tqdm import tqdm

UNITS = {"shots": "frame", "render": "sound"}


class ProgressBars:
    """One tqdm bar per stage, fed by the pipeline's single progress callback."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bars: dict[str, tqdm] = {}
        self._shown = 0.0

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self._bars.get(stage)
        if bar is None:
            unit = UNITS.get(stage, "item")
            bar = self._bars[stage] = tqdm(total=total, desc=f"{stage:>8}", unit=unit, leave=True)
        bar.total = total
        bar.n = done
        now = time.monotonic()
        if done in (0, total) or now - self._shown >= 0.1:  # a frame's news need not redraw
            self._shown = now
            bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
