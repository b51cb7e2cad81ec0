"""The sequencer: follows the notification log and gives each event its leaf index.

eventsourcing's notification ids are not gap-free on PostgreSQL (a rolled-back
insert consumes a sequence value), so they cannot be leaf indexes. The sequencer
reads notifications after its tracking position, in notification order, and
assigns the next contiguous leaf indexes, storing each leaf's RFC 9162 hash and
every Merkle node that leaf completes, and its new tracking position, in one
transaction (LogRecorder.record_leaves). A crash between transactions loses
nothing: the next run resumes from the tracking position.
"""

from __future__ import annotations

from dataclasses import dataclass
from uuid import UUID

from eventsourcing.persistence import ApplicationRecorder, Mapper

from ledger.errors import ConfigurationError
from ledger.format import merkle
from ledger.format.statement import Envelope
from ledger.store.persistence import LeafRow, LogRecorder

__all__ = ["SEQUENCER_NAME", "SequencerState", "sequence_pending"]

SEQUENCER_NAME = "sequencer"
PAGE = 2000


@dataclass
class SequencerState:
    """Where the sequencer stands: its tracking position, the log size and the
    tree's right edge. A writer that knows no one else wrote since it last
    sequenced passes this back instead of reading it again."""

    tracked: int
    size: int
    tree: merkle.CompactRange


def sequence_pending(
    log: LogRecorder,
    recorder: ApplicationRecorder,
    mapper: Mapper[UUID],
    state: SequencerState | None = None,
) -> tuple[int, list[LeafRow], SequencerState | None]:
    """Sequence every stored event not yet in the log; return the log size, the new
    leaves, and the state to pass next time (None if unknown).

    ``recorder`` and ``mapper`` are the ledger application's (its notification
    log and how its stored events decode); ``log`` holds leaves and nodes.
    Precondition: the caller holds the ledger's append lock, so no other
    sequencer runs at the same time; and ``state``, if given, is what the last
    call returned, with nothing sequenced by anyone since (the caller saw no
    other writer's notification), so it need not be read from the database. It
    is consumed: the caller passes on only the returned one.
    """
    if state is None:
        tracked = log.max_tracking_id(SEQUENCER_NAME) or 0
        size = log.log_size()
        tree: merkle.CompactRange | None = None  # read only when there is work to do
    else:
        tracked, size, tree = state.tracked, state.size, state.tree
    created: list[LeafRow] = []
    while True:
        notifications = recorder.select_notifications(
            start=tracked, limit=PAGE, inclusive_of_start=False
        )
        if not notifications:
            break
        if tree is None:
            try:
                tree = merkle.CompactRange.from_reader(size, log)
            except LookupError as e:
                raise ConfigurationError(f"the stored Merkle tree is damaged: {e}") from e
        leaves: list[LeafRow] = []
        nodes: list[tuple[int, int, bytes]] = []
        for notification in notifications:
            event = mapper.to_domain_event(notification)
            raw: bytes = event.envelope  # type: ignore[attr-defined]
            envelope = Envelope.parse(raw)
            nodes.extend(tree.append(merkle.leaf_hash(raw)))
            leaves.append(
                LeafRow(
                    leaf_index=size,
                    notification_id=notification.id,
                    event_hash=envelope.hash,
                    stream=envelope.statement.stream,
                    seq=envelope.statement.seq,
                )
            )
            size += 1
        tracked = notifications[-1].id
        log.record_leaves(SEQUENCER_NAME, leaves, nodes, tracked)
        created.extend(leaves)
        if len(notifications) < PAGE:
            break  # the last page: under the append lock nothing more can be stored
    return size, created, None if tree is None else SequencerState(tracked, size, tree)
