"""Progress on a terminal, silence elsewhere.

Long operations (import, simulate, projection catch-up, export, verify) report
progress through one :class:`Progress`; it draws a bar on stderr only when
stderr is a terminal, so logs, pipes and CI output stay clean.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TextIO

__all__ = ["Progress"]


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
        self._started = time.monotonic()
        self._drawn = 0.0

    def advance(self, units: int = 1) -> None:
        self.done += units
        if self.enabled and time.monotonic() - self._drawn >= self.every:
            self._draw()

    def _draw(self) -> None:
        self._drawn = time.monotonic()
        elapsed = max(self._drawn - self._started, 1e-9)
        rate = self.done / elapsed
        if self.total:
            share = min(self.done / self.total, 1.0)
            bar = "#" * int(share * 30)
            text = f"\r{self.label} [{bar:<30}] {self.done:,}/{self.total:,} ({rate:,.0f}/s)"
        else:
            text = f"\r{self.label} {self.done:,} ({rate:,.0f}/s)"
        self.stream.write(text)
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self.enabled:
            self._draw()
            self.stream.write("\n")
            self.stream.flush()
