"""The domain layer: one eventsourcing aggregate per ledger stream.

A :class:`Stream` aggregate's version is its stream's seq: event ``n`` of the
aggregate holds the envelope with ``seq == n``. The library's optimistic
concurrency (a unique (originator_id, originator_version) in every recorder)
therefore makes it impossible to store two statements for one seq of one
stream, whatever the application code above it does.

The aggregate holds only the envelope bytes; everything else (head, kinds,
grants, contests) is derived from them, so what the database stores is exactly
what was signed.
"""

from __future__ import annotations

import uuid
from functools import lru_cache
from typing import Any

from eventsourcing.domain import Aggregate
from eventsourcing.utils import register_topic

from ledger.format.statement import ZERO_HASH, Envelope

__all__ = ["Stream", "stream_uuid"]

# Fixed namespace for stream ids -> aggregate ids (uuid5 of election and stream id).
STREAM_NAMESPACE = uuid.UUID("0f9c4a52-6a39-5c44-9f51-1d3c7e5b2a10")


@lru_cache(maxsize=65536)
def stream_uuid(election: str, stream: str) -> uuid.UUID:
    """The aggregate id of ``stream`` in ``election`` (deterministic, collision-free)."""
    return uuid.uuid5(STREAM_NAMESPACE, f"{election}\n{stream}")


class Stream(Aggregate):
    """One stream: an election, a key, a sheet (C.Hasil) or a recap."""

    class Started(Aggregate.Created):
        envelope: bytes

    class Appended(Aggregate.Event):
        envelope: bytes

        def apply(self, aggregate: Any) -> None:
            aggregate._add(Envelope.parse(self.envelope))

    @classmethod
    def start(cls, envelope: Envelope) -> Stream:
        statement = envelope.statement
        stream: Stream = cls._create(
            cls.Started,
            id=stream_uuid(statement.election, statement.stream),
            envelope=envelope.raw,
        )
        return stream

    def __init__(self, envelope: bytes) -> None:
        self.envelopes: list[Envelope] = []
        self._hashes: dict[bytes, int] = {}
        self._add(Envelope.parse(envelope))

    def _add(self, envelope: Envelope) -> None:
        self.envelopes.append(envelope)
        self._hashes[envelope.hash] = len(self.envelopes) - 1

    def append(self, envelope: Envelope) -> None:
        self.trigger_event(self.Appended, envelope=envelope.raw)

    @property
    def stream_id(self) -> str:
        return self.envelopes[0].statement.stream

    @property
    def head(self) -> bytes:
        return self.envelopes[-1].hash if self.envelopes else ZERO_HASH

    def find(self, event_hash: bytes) -> Envelope | None:
        index = self._hashes.get(event_hash)
        return None if index is None else self.envelopes[index]


# Stored events name their class by topic (module:qualname). Ledgers written
# before the layout of issue 12 name it ``ledger.domain:Stream.<event>``; that
# topic must keep resolving, or those ledgers could no longer be opened.
register_topic("ledger.store.domain:Stream", Stream)
