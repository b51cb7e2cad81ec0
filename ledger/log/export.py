"""Writing a live ledger as an export file (docs/format.md, "Export file").

The record format, its writer and its reader are the format's
(ledger.format.exportfile); this module only walks a live Ledger's log and
checkpoints into it, so the independent checks never import it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import IO, TYPE_CHECKING

from ledger.format.exportfile import ExportWriter, trust_record

if TYPE_CHECKING:
    from ledger.store.application import Ledger

__all__ = ["export_ledger"]


def export_ledger(
    ledger: Ledger, out: IO[bytes], *, progress: Callable[[int], None] | None = None
) -> tuple[int, int]:
    """Write the whole ledger to ``out``; return (events, checkpoints) written.

    Reads the log page by page (Ledger.log_entries), so memory stays flat.
    """
    writer = ExportWriter(out)
    writer.header(trust_record(ledger.trust))
    checkpoints = iter(ledger.log_store.checkpoints())
    pending = next(checkpoints, None)
    while pending is not None and pending[0] == 0:
        writer.checkpoint(pending[1])
        pending = next(checkpoints, None)
    for leaf, raw in ledger.log_entries():
        writer.event(leaf.leaf_index, raw)
        while pending is not None and pending[0] == leaf.leaf_index + 1:
            writer.checkpoint(pending[1])
            pending = next(checkpoints, None)
        if progress is not None:
            progress(1)
    writer.end()
    return writer.events, writer.checkpoints
