"""Progress of a run on stderr: a tqdm bar on a terminal, a plain line every few percent elsewhere (CI logs)."""

from __future__ import annotations

import sys
import time
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback


class ProgressCallback(BaseCallback):
    """Progress over the whole run, the recipe's warm-up included (SB3's own bar restarts at each ``learn``).

    :param label: shown before the bar
    :param total: env steps of the whole run
    :param every: when stderr is not a terminal, print a line each time this fraction of the run is done
    """

    def __init__(self, label: str, total: int, every: float = 0.05) -> None:
        super().__init__()
        self.label, self.total, self.every = label, max(int(total), 1), every
        self._bar: Any = None
        self._next_line = 0.0
        self._start = time.perf_counter()
        self._shown = 0

    def _on_training_start(self) -> None:
        if self._bar is None and sys.stderr.isatty():
            from tqdm.auto import tqdm

            self._bar = tqdm(total=self.total, desc=f"  {self.label}", unit="step", file=sys.stderr, leave=True)

    def _on_step(self) -> bool:
        done = min(self.num_timesteps, self.total)
        if self._bar is not None:
            self._bar.update(done - self._shown)
        elif done / self.total >= self._next_line:
            elapsed = time.perf_counter() - self._start
            sys.stderr.write(f"  {self.label}: {done}/{self.total} steps ({done / self.total:.0%}, {elapsed:.0f} s)\n")
            sys.stderr.flush()
            self._next_line = (int(done / self.total / self.every) + 1) * self.every
        self._shown = done
        return True

    def _on_training_end(self) -> None:
        if self._bar is not None and self.num_timesteps >= self.total:
            self._bar.close()
            self._bar = None
