"""Progress on the terminal: one bar per stage, fed by the pipeline's single callback."""

from __future__ import annotations

from tqdm import tqdm


class ProgressBars:
    """One tqdm bar per stage, fed by the pipeline's single progress callback."""

    def __init__(self, enabled: bool = True) -> None:
        self.enabled = enabled
        self._bars: dict[str, tqdm] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        if not self.enabled:
            return
        bar = self._bars.get(stage)
        if bar is None:
            bar = self._bars[stage] = tqdm(total=total, desc=f"{stage:>8}", unit="item", leave=True)
        bar.total = total
        bar.n = done
        bar.refresh()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()
