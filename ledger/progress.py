"""Progress on a terminal, silence elsewhere.

Long operations (import, simulate, projection catch-up, export, verify) report
progress through one :class:`Progress`; it draws a ``rich`` progress bar on
stderr only when stderr is a terminal, so logs, pipes and CI output stay clean.

The hot paths call :meth:`Progress.advance` once per event: it adds to a counter
and hands the count to rich at most every ``every`` seconds, so drawing costs
the same at any event rate (and nothing at all off a terminal).
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

from rich.console import Console
from rich.progress import BarColumn, ProgressColumn, Task, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress
from rich.text import Text

__all__ = ["Progress"]


class _CountColumn(ProgressColumn):
    """``done/total (rate/s)``, or ``done (rate/s)`` when the total is unknown."""

    def render(self, task: Task) -> Text:
        done = int(task.completed)
        count = f"{done:,}" if task.total is None else f"{done:,}/{int(task.total):,}"
        rate = task.speed or 0.0
        return Text(f"{count} ({rate:,.0f}/s)")


class Progress:
    """A progress bar for ``total`` units (or a counter when the total is unknown)."""

    def __init__(
        self,
        label: str,
        total: int | None = None,
        *,
        stream: TextIO | None = None,
        every: float = 0.2,
    ) -> None:
        self.label = label
        self.total = total
        self.done = 0
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty()
        self.every = every
        self._drawn = 0.0
        self._bar: RichProgress | None = None
        if self.enabled:
            self._bar = RichProgress(
                TextColumn("{task.description}"),
                BarColumn(),
                _CountColumn(),
                TimeElapsedColumn(),
                console=Console(file=self.stream, highlight=False),
                auto_refresh=False,  # drawn from advance(), at most every ``every`` seconds
                # stdout stays the program's own: `ledger export -o -` writes its bytes there.
                redirect_stdout=False,
                redirect_stderr=False,
            )
            self._task = self._bar.add_task(label, total=total)

    def advance(self, units: int = 1) -> None:
        self.done += units
        if self._bar is not None and time.monotonic() - self._drawn >= self.every:
            self._draw()

    def _draw(self) -> None:
        assert self._bar is not None
        self._drawn = time.monotonic()
        self._bar.update(self._task, completed=self.done, refresh=True)

    def __enter__(self) -> Progress:
        if self._bar is not None:
            self._bar.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._bar is not None:
            self._draw()
            self._bar.stop()
