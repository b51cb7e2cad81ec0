"""The verifier's per-event work that needs no replay state, in worker processes.

:class:`WorkersAhead` sends the export's events in chunks to worker processes that
decode each envelope (with the canonical check), hash its leaf and check its
signature; the results come back in order to the replay (ledger.checks.verify).

This module imports only what a worker needs (the statement format, Merkle
hashing, Ed25519 through libsodium): the forkserver preloads it, so the forkserver
and every worker hold those modules and no more, and a worker keeps only the keys of
the last grants it saw: the memory the verifier's processes hold together stays
small (issue 18).
"""

from __future__ import annotations

import multiprocessing
import queue
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import suppress
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

from ledger.errors import FormatError, LedgerError
from ledger.format import ed25519, merkle
from ledger.format.statement import Envelope, Statement, key_id

__all__ = ["Prepared", "WorkersAhead", "granted_key", "prepare"]


class Prepared(NamedTuple):
    """An event's per-event work that needs no replay state (steps 2 and 6): its
    leaf hash, and its envelope decoded and canonical, or the error that says why
    not (its class name and message, as the report records them)."""

    leaf_hash: bytes
    envelope: Envelope | None
    error: tuple[str, str] = ("", "")


def prepare(raw: bytes, parse: Callable[[bytes], Envelope] = Envelope.parse) -> Prepared:
    leaf_hash = merkle.leaf_hash(raw)
    try:
        return Prepared(leaf_hash, parse(raw))
    except LedgerError as e:
        return Prepared(leaf_hash, None, (type(e).__name__, str(e)))


def granted_key(envelope: Envelope | None) -> bytes | None:
    """The public key a grant names, if it looks like one (any copy of a key is the
    key: its id is its hash, so a key is never trusted for being found here)."""
    if envelope is None or envelope.statement.kind != "grant":
        return None
    key = envelope.statement.body.get("key")
    return key if isinstance(key, bytes) and len(key) == ed25519.PUBLIC_KEY_SIZE else None


# An envelope as a worker sends it back: plain values, which unpickle several
# times faster than the frozen dataclasses (whose pickles restore field by field).
_Packed = tuple[bytes, bytes, bytes, tuple[Any, ...]]  # statement bytes, signature, hash, fields


def _pack(envelope: Envelope) -> _Packed:
    st = envelope.statement
    fields = (st.election, st.stream, st.seq, st.prev, st.kind, st.body, st.signer, st.time)
    return envelope.statement_bytes, envelope.signature, envelope.hash, (*fields, st.version)


def _unpack(raw: bytes, packed: _Packed) -> Envelope:
    statement_bytes, signature, event_hash, fields = packed
    return Envelope(raw, statement_bytes, signature, Statement(*fields), event_hash)


_Result = tuple[bytes, _Packed | None, tuple[str, str], bool | None]
# An event as the replay takes it: its record, its signature's verdict if checked
# ahead, and its preparation.
Checked = tuple[dict[str, Any], bool | None, Prepared | None]
# A chunk back from its worker: its events, the indexes of those whose signature
# is checked late, and their verdicts to come.
_Received = tuple[list[Checked], list[int], "Future[list[bool | None]]"]


# In a canonical envelope the statement's signer is the map key "signer" (fixstr 6)
# and a 32-byte bin (format.md 3, 4.1). The sender finds the last such bytes to
# guess an event's signer without decoding it; a wrong guess (body bytes that look
# the same) costs only a signature checked late, as the worker checks the guess.
SIGNER_FIELD = b"\xa6signer\xc4\x20"


def signer_hint(raw: bytes) -> bytes | None:
    """The key id an envelope's bytes seem to name as signer (a guess: see SIGNER_FIELD)."""
    at = raw.rfind(SIGNER_FIELD)
    if at < 0:
        return None
    at += len(SIGNER_FIELD)
    hint = raw[at : at + 32]
    return hint if len(hint) == 32 else None


# Keys a worker keeps from the grants in its own chunks (about 250 bytes each), for
# their first signatures, which often follow in the same or the next chunks: before
# the replay knows them, the sender has none to send. In the national simulation a
# key signs within about 2,500 events of its grant (five chunks), so a few thousand
# keys cover every grant still in flight.
LEARNED = 4_096


def _prepare_chunk(
    raws: list[bytes | None],
    keys: list[bytes | None],
    learned: OrderedDict[bytes, bytes] | None = None,
) -> list[_Result | None]:
    """A worker's work on one chunk: each event prepared (prepare) and its signature
    checked under ``keys[i]``, the public key the sender expects, or else under a key
    of ``learned`` (key id to key, from grants this worker has seen; updated, the
    last LEARNED kept), if its SHA-256 is the signer id decoded; None for a record
    that is not an event's bytes."""
    if learned is None:
        learned = OrderedDict()
    out: list[_Result | None] = []
    for raw, sent in zip(raws, keys, strict=True):
        if raw is None:
            out.append(None)
            continue
        # Not Envelope.parse's memo: a worker sees each envelope once, and the memo
        # (32,768 envelopes) would only hold memory in every worker.
        prepared = prepare(raw, Envelope._parse)
        envelope = prepared.envelope
        verdict = None
        if envelope is not None:
            signer = envelope.statement.signer
            public = sent if sent is not None and key_id(sent) == signer else learned.get(signer)
            if public is not None:
                verdict = ed25519.verify_many(
                    [(public, envelope.signature, envelope.signed_message)]
                )[0]
            granted = granted_key(envelope)
            if granted is not None:
                learned[key_id(granted)] = granted
                if len(learned) > LEARNED:
                    learned.popitem(last=False)
        packed = None if envelope is None else _pack(envelope)
        out.append((prepared.leaf_hash, packed, prepared.error, verdict))
    return out


def _worker(inbox: Connection, outbox: Connection) -> None:
    """A worker process: chunks in, prepared chunks out, until told to stop (None).

    A thread takes in what arrives while a chunk is worked on, so the sender never
    waits on a worker that waits to send its result back.
    """
    arrived: queue.SimpleQueue[Any] = queue.SimpleQueue()

    def receive() -> None:
        while True:
            message = inbox.recv()
            arrived.put(message)
            if message is None:
                return

    threading.Thread(target=receive, daemon=True).start()
    learned: OrderedDict[bytes, bytes] = OrderedDict()
    while True:
        message = arrived.get()
        if message is None:
            return
        raws, keys = message
        outbox.send(_prepare_chunk(raws, keys, learned))


class WorkersAhead:
    """The per-event work that needs no shared state, on every core.

    Records are read here and sent in chunks, in turn, to worker processes that
    decode each event (with the canonical check), hash its leaf and check its
    signature (_prepare_chunk); the results come back in order, and the replay
    (chains, grants, scopes, totals) runs on them in this process. With each
    event goes the public key of the signer its bytes seem to name
    (:func:`signer_hint`), found here: ``known(key id)`` gives the key of a signer
    the replay knows, and keys granted in results the replay has not reached yet
    are kept among the last ``RECENT``. A worker checks a signature under that
    key, or a key granted in its own recent chunks (LEARNED), only if its SHA-256
    is the signer id it decoded; any other signature is checked here, on a thread,
    under the key known by the time its chunk comes back, or else by the replay,
    in line. A verdict only says "valid
    under the key whose SHA-256 is the signer's key id", which no later state can
    change. So no worker keeps a table of every key: one table, the replay's, serves all.
    """

    CHUNK = 512
    AHEAD = 2  # chunks in flight per worker
    RECENT = 16_384  # keys learned from results, kept until the replay knows them

    def __init__(self, workers: int, known: Callable[[bytes], bytes | None]) -> None:
        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload([__name__])
        self.conns: list[tuple[Connection, Connection]] = []  # (to it, from it)
        self.processes: list[Any] = []
        for _ in range(workers):
            inbox, to_worker = context.Pipe(duplex=False)
            from_worker, outbox = context.Pipe(duplex=False)
            process = context.Process(target=_worker, args=(inbox, outbox), daemon=True)
            process.start()
            inbox.close()
            outbox.close()
            self.conns.append((to_worker, from_worker))
            self.processes.append(process)
        self.known = known
        self.recent: OrderedDict[bytes, bytes] = OrderedDict()  # key id -> key
        self.executor = ThreadPoolExecutor(1, thread_name_prefix="verify-late-signatures")
        self.turn = 0

    def _send(self, chunk: list[dict[str, Any]]) -> Connection:
        worker = self.turn % len(self.conns)
        self.turn += 1
        raws = [
            r.get("envelope")
            if r.get("type") == "event" and isinstance(r.get("envelope"), bytes)
            else None
            for r in chunk
        ]
        keys = []
        for raw in raws:
            hint = None if raw is None else signer_hint(raw)
            keys.append(None if hint is None else self._key(hint))
        to_worker, from_worker = self.conns[worker]
        to_worker.send((raws, keys))
        return from_worker

    def _key(self, signer: bytes) -> bytes | None:
        recent = self.recent.get(signer)
        return recent if recent is not None else self.known(signer)

    def _received(self, chunk: list[dict[str, Any]], conn: Connection) -> _Received:
        """A chunk's results, with the signatures its worker could not check (their
        key was granted in a chunk it had not seen) handed to a thread under the
        keys known here, while the replay runs on the chunk before."""
        done: list[Checked] = []
        late: list[int] = []
        tasks: list[tuple[bytes, bytes, bytes] | None] = []
        for record, result in zip(chunk, conn.recv(), strict=True):
            if result is None:
                done.append((record, None, None))
                continue
            leaf_hash, packed, error, verdict = result
            envelope = None if packed is None else _unpack(record["envelope"], packed)
            if envelope is not None:
                if verdict is None:
                    public = self._key(envelope.statement.signer)
                    if public is not None:
                        late.append(len(done))
                        tasks.append((public, envelope.signature, envelope.signed_message))
                key = granted_key(envelope)
                if key is not None and self._key(key_id(key)) is None:
                    self.recent[key_id(key)] = key
                    if len(self.recent) > self.RECENT:
                        self.recent.popitem(last=False)
            done.append((record, verdict, Prepared(leaf_hash, envelope, error)))
        return done, late, self.executor.submit(ed25519.verify_many, tasks)

    @staticmethod
    def _ready(received: _Received) -> Iterator[Checked]:
        done, late, future = received
        for index, verdict in zip(late, future.result(), strict=True):
            record, _, prepared = done[index]
            done[index] = (record, verdict, prepared)
        yield from done

    def records(self, records: Iterator[dict[str, Any]]) -> Iterator[Checked]:
        in_flight: deque[tuple[list[dict[str, Any]], Connection]] = deque()
        received: deque[_Received] = deque()
        chunk: list[dict[str, Any]] = []
        unreadable: FormatError | None = None

        def next_done() -> Iterator[Checked]:
            received.append(self._received(*in_flight.popleft()))
            if len(received) > 1:
                yield from self._ready(received.popleft())

        try:
            try:
                for record in records:
                    chunk.append(record)
                    if len(chunk) >= self.CHUNK:
                        in_flight.append((chunk, self._send(chunk)))
                        chunk = []
                        if len(in_flight) > self.AHEAD * len(self.conns):
                            yield from next_done()
            except FormatError as e:
                # As in _SignaturesAhead: what was read before is replayed first.
                unreadable = e
            if chunk:
                in_flight.append((chunk, self._send(chunk)))
            while in_flight:
                yield from next_done()
            while received:
                yield from self._ready(received.popleft())
            if unreadable is not None:
                raise unreadable
        finally:
            self.close()

    def close(self) -> None:
        for (to_worker, from_worker), process in zip(self.conns, self.processes, strict=True):
            with suppress(OSError):  # already gone
                to_worker.send(None)
            process.join(timeout=5)
            if process.is_alive():  # a consumer stopped early, or a worker hangs
                process.terminate()
                process.join()
            to_worker.close()
            from_worker.close()
        self.conns, self.processes = [], []
        self.executor.shutdown(wait=True, cancel_futures=True)
