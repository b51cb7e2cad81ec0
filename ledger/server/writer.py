"""Group commit: one writer thread appends what concurrent requests queued, together.

Each server process has one :class:`GroupWriter`. Requests put work on its queue
and wait for their own answer. The writer takes the first waiting item and every
single-envelope submission queued behind it (up to :data:`MAX_GROUP`), and
appends them in one :meth:`~ledger.store.application.Ledger.append_batch`: one
lock, one transaction, one sequencing pass, so throughput approaches the
in-process batch rate. If that combined batch is refused, the writer appends the
same envelopes again one by one, in queue order, so each request succeeds or
fails on its own, exactly as if it had come alone (a refused combined batch
stores nothing). A ``POST /v1/batches`` request is appended on its own: its
all-or-nothing answer is the client's.

Work that waited longer than :data:`QUEUE_TIMEOUT_S` is refused unstarted
(503, nothing stored): the client retries, and idempotent resubmission makes
that safe. Checkpoints are issued on the same thread, so they never interleave
with an append of this process (other processes are kept out by the append lock).
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import LedgerError
from ledger.format.note import NoteSigner
from ledger.log.proofs import Receipt
from ledger.log.tlog import TransparencyLog
from ledger.server.problems import RETRY_AFTER_S, Problem, is_store_unavailable
from ledger.store.application import Accepted, Ledger

__all__ = ["MAX_GROUP", "QUEUE_TIMEOUT_S", "GroupWriter", "Submitted"]

MAX_GROUP = 500  # single envelopes appended in one transaction, at most
QUEUE_TIMEOUT_S = 20.0  # work not started by then is refused (503), nothing stored


@dataclass(frozen=True, slots=True)
class Submitted:
    """An accepted envelope and the log's receipt for it."""

    accepted: Accepted
    receipt: Receipt


@dataclass
class _Work:
    kind: str  # "one", "batch" or "checkpoint"
    raws: Sequence[bytes]
    future: Future[Any]
    queued: float = field(default_factory=time.monotonic)


class GroupWriter:
    """The one thread of a server process that writes to the ledger."""

    def __init__(
        self,
        ledger: Ledger,
        signer: NoteSigner,
        *,
        on_group: Callable[[int], None] | None = None,
    ) -> None:
        self.ledger = ledger
        self.signer = signer
        self.log = TransparencyLog(ledger)
        self._queue: queue.Queue[_Work | None] = queue.Queue()
        self._on_group = on_group
        self._thread = threading.Thread(target=self._run, name="ledger-writer", daemon=True)
        self._thread.start()

    # --- what requests call (any thread) -----------------------------------------------

    def submit_one(self, raw: bytes) -> Future[Submitted]:
        return self._put("one", [raw])

    def submit_batch(self, raws: Sequence[bytes]) -> Future[list[Submitted]]:
        return self._put("batch", raws)

    def issue_checkpoint(self) -> Future[bytes]:
        return self._put("checkpoint", [])

    def close(self) -> None:
        self._queue.put(None)
        self._thread.join(timeout=30)

    def _put(self, kind: str, raws: Sequence[bytes]) -> Future[Any]:
        future: Future[Any] = Future()
        self._queue.put(_Work(kind, raws, future))
        return future

    # --- the writer thread -------------------------------------------------------------

    def _run(self) -> None:
        held: _Work | None = None
        while True:
            work = held if held is not None else self._queue.get()
            held = None
            if work is None:
                return
            if work.kind != "one":
                self._do(work)
                continue
            group = [work]
            while len(group) < MAX_GROUP:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if more is None:  # closing: finish this group first
                    self._queue.put(None)
                    break
                if more.kind != "one":
                    held = more
                    break
                group.append(more)
            self._do_group(group)

    def _fresh(self, work: _Work) -> bool:
        """Refuse work that waited too long (before anything of it is stored)."""
        if time.monotonic() - work.queued <= QUEUE_TIMEOUT_S:
            return True
        work.future.set_exception(
            Problem(
                "StoreUnavailable",
                f"the server is busy: the submission waited over {QUEUE_TIMEOUT_S:.0f} s; retry later",
                headers={"Retry-After": str(RETRY_AFTER_S)},
            )
        )
        return False

    def _do(self, work: _Work) -> None:
        if not work.future.set_running_or_notify_cancel() or not self._fresh(work):
            return
        try:
            if work.kind == "checkpoint":
                work.future.set_result(self.log.issue_checkpoint(self.signer))
            else:
                accepted = self.ledger.append_batch(work.raws)
                work.future.set_result([self._receipted(a) for a in accepted])
        except Exception as e:  # handed to the request, which answers with a problem
            work.future.set_exception(e)

    def _do_group(self, group: list[_Work]) -> None:
        group = [w for w in group if w.future.set_running_or_notify_cancel() and self._fresh(w)]
        if not group:
            return
        if self._on_group is not None:
            self._on_group(len(group))
        if len(group) > 1:
            try:
                accepted = self.ledger.append_batch([w.raws[0] for w in group])
            except LedgerError:
                pass  # one of them is refused: answer each on its own, below
            except Exception as e:
                if is_store_unavailable(e):
                    for w in group:
                        w.future.set_exception(e)
                    return
            else:
                for w, a in zip(group, accepted, strict=True):
                    w.future.set_result(self._receipted(a))
                return
        for w in group:
            try:
                w.future.set_result(self._receipted(self.ledger.append(w.raws[0])))
            except Exception as e:
                w.future.set_exception(e)

    def _receipted(self, accepted: Accepted) -> Submitted:
        return Submitted(accepted, self.log.receipt(accepted, self.signer))
