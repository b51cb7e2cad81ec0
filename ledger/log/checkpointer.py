"""The log's checkpointer: issue checkpoints, have the policy's witnesses cosign them.

One :class:`Checkpointer` runs in each server process; only the one holding the
ledger's leader lock (:meth:`~ledger.store.persistence.LogRecorder.leader_lock`:
a PostgreSQL session advisory lock, or a file lock beside a SQLite database)
acts, so exactly one process of a ledger issues and sends checkpoints. The lock
is for efficiency, not safety: a checkpoint is issued under the append lock and
proven to extend the last one (:meth:`TransparencyLog.issue_checkpoint`), and
witnesses serialise what they cosign, so two leaders for a moment (a lost
connection noticed late) would only do the work twice.

A round (:meth:`Checkpointer.run_round`, docs/format.md 11.5): when the log grew
by ``leaves`` leaves, or ``interval`` seconds passed since the last round and
it grew at all, or the latest checkpoint does not meet the quorum yet (every
``interval``), the leader signs a checkpoint of the whole log and sends it to
every witness of the trust policy that has a URL, concurrently, by
c2sp.org/tlog-witness (:func:`~ledger.log.witness_client.request_cosignature`:
from the size it last had that witness cosign, a 409 answered by a resend from
the witness's size with a consistency proof). It waits until the cosignatures
meet the policy's quorum, or every witness answered, or ``timeout`` passed,
whichever comes first: a witness that is down or slow delays nothing beyond the
quorum, and a cosignature that arrives later is still stored. Each verified
cosignature is stored beside the checkpoint at once (the ``ledger_checkpoints``
row of its size), so exports, mirrors, dossiers and the tlog-proofs carry them.

What is published (``/checkpoint``) is :meth:`TransparencyLog.witnessed_checkpoint`:
the latest stored checkpoint that meets the quorum. When a round ends without
the quorum, the last published one stays, and the round's
:class:`RoundResult` (and the log line the server writes from it) says so.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field

from ledger.errors import ConfigurationError, LedgerError
from ledger.format import merkle
from ledger.format.note import Checkpoint, Verifier, open_note, parse_note
from ledger.format.policy import TlogPolicy
from ledger.log.tlog import TransparencyLog
from ledger.log.witness_client import DEFAULT_TIMEOUT, request_cosignature

__all__ = [
    "DEFAULT_INTERVAL_S",
    "DEFAULT_LEAVES",
    "LEADER_LOCK",
    "CheckpointSchedule",
    "Checkpointer",
    "RoundResult",
    "WitnessStatus",
]

#: A checkpoint when the log grew, at most this often (seconds).
DEFAULT_INTERVAL_S = 5.0
#: A checkpoint as soon as this many leaves were added since the last one.
DEFAULT_LEAVES = 1000
#: The name of the leader lock among a ledger's processes.
LEADER_LOCK = "checkpointer"

_log = logging.getLogger("ledger.checkpointer")


@dataclass(frozen=True, slots=True)
class CheckpointSchedule:
    """When the leader issues: ``interval`` seconds, ``leaves`` new leaves, ``timeout``
    seconds for the witnesses of one round (each request, too)."""

    interval_s: float = DEFAULT_INTERVAL_S
    leaves: int = DEFAULT_LEAVES
    timeout_s: float = DEFAULT_TIMEOUT

    def __post_init__(self) -> None:
        if not self.interval_s > 0:
            raise ConfigurationError("--checkpoint-interval must be above 0 seconds")
        if self.leaves < 1:
            raise ConfigurationError("--checkpoint-leaves must be at least 1")
        if not self.timeout_s > 0:
            raise ConfigurationError("--witness-timeout must be above 0 seconds")


@dataclass(frozen=True, slots=True)
class WitnessStatus:
    """The last answer of one witness to this checkpointer."""

    name: str
    url: str | None
    cosigned_size: int | None  # the largest size it is known to have cosigned
    error: str = ""  # the last refusal or failure, "" after a success


@dataclass(frozen=True, slots=True)
class RoundResult:
    """What one round did: the checkpoint it sent, who cosigned, whether the quorum met."""

    size: int
    cosigners: tuple[str, ...]
    quorum_met: bool
    errors: Mapping[str, str] = field(default_factory=dict)


class Checkpointer:
    """Issues checkpoints and collects cosignatures (module docstring).

    ``log`` reads and stores checkpoints; ``issue`` signs a checkpoint of the whole
    log and returns its note (the server's writer thread, so it never interleaves
    with an append of its process); ``policy`` names the witnesses and the quorum
    (None: a ledger without witnesses, whose checkpoints are the log's own word);
    ``urls`` the submission prefix of each witness (policy name -> URL; the
    policy's own URLs, then these); ``clock`` the time in seconds (monotonic).
    """

    def __init__(
        self,
        log: TransparencyLog,
        issue: Callable[[], bytes],
        policy: TlogPolicy | None,
        urls: Mapping[str, str] = {},
        *,
        schedule: CheckpointSchedule | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.log = log
        self._issue = issue
        self.policy = policy
        self.schedule = schedule or CheckpointSchedule()
        self._clock = clock
        known = {} if policy is None else dict(policy.witnesses)
        for name in urls:
            if name not in known:
                raise ConfigurationError(
                    f"--witness-url {name}: the trust policy names no witness {name!r}"
                )
        self.urls: dict[str, str] = {} if policy is None else dict(policy.urls)
        self.urls.update(urls)
        self._witnesses: dict[str, Verifier] = known
        self._sizes: dict[str, int] | None = None  # name -> size it last cosigned
        self._errors: dict[str, str] = {}
        self._lock = threading.Lock()  # stored cosignatures, sizes, errors
        self._pool = ThreadPoolExecutor(
            max_workers=max(1, len(self.urls)), thread_name_prefix="witness"
        )
        self._last_round: float | None = None
        self._last_size = -1
        self.last_result: RoundResult | None = None

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- what the leader runs ---------------------------------------------------------

    def due(self) -> bool:
        """Whether a round is due now (module docstring). Reads the store."""
        size = self.log.size()
        latest = self.log.latest_checkpoint()
        issued = -1 if latest is None else _size(latest)
        now = self._clock()
        if issued < size and size - max(issued, 0) >= self.schedule.leaves:
            return True
        if self._last_round is not None and now - self._last_round < self.schedule.interval_s:
            return False
        if issued < size:
            return True
        return latest is not None and not self._meets(latest)

    def run_round(self) -> RoundResult:
        """Issue a checkpoint of the whole log and collect cosignatures (module docstring)."""
        self._last_round = self._clock()
        note = self._issue()
        size = _size(note)
        pending = self._request_all(note, size)
        deadline = self._clock() + self.schedule.timeout_s
        while pending and not self._meets(self.log.checkpoint_at(size)):
            left = deadline - self._clock()
            if left <= 0:
                break
            _, pending = wait(pending, timeout=left, return_when=FIRST_COMPLETED)
        stored = self.log.checkpoint_at(size)
        cosigners = self._cosigners(stored)
        with self._lock:
            errors = {n: e for n, e in self._errors.items() if n not in cosigners}
        result = RoundResult(size, cosigners, self._meets(stored), errors)
        repeated = result == self.last_result  # said once, not at every retry
        self.last_result = result
        if repeated:
            pass
        elif result.quorum_met:
            _log.info("checkpoint %d cosigned by %s", size, ", ".join(cosigners))
        else:
            _log.warning(
                "checkpoint %d does not meet the quorum (%s): cosigned by %s; /checkpoint "
                "keeps serving the last one that does%s",
                size,
                "none" if self.policy is None else self.policy.describe(),
                ", ".join(cosigners) or "no witness",
                "".join(f"; {n}: {e}" for n, e in sorted(errors.items())),
            )
        return result

    def _request_all(self, note: bytes, size: int) -> set[Future[None]]:
        """Send the checkpoint to every witness with a URL that has not cosigned it."""
        have = set(self._cosigners(note))
        sizes = self._known_sizes()
        return {
            self._pool.submit(self._request, name, note, sizes.get(name, 0))
            for name in self.urls
            if name not in have
        }

    def _request(self, name: str, note: bytes, old: int) -> None:
        witness = self._witnesses[name]
        try:
            cosigned = request_cosignature(
                self.urls[name],
                witness,
                note,
                self._proof,
                old_size=old,
                timeout=self.schedule.timeout_s,
            )
            with self._lock:
                self.log.add_cosignatures(cosigned, [witness])
                if self._sizes is not None:
                    self._sizes[name] = _size(note)
                self._errors.pop(name, None)
        except LedgerError as e:
            with self._lock:
                self._errors[name] = f"{type(e).__name__}: {e}"
        except Exception as e:  # the store failed: the next round tries again
            with self._lock:
                self._errors[name] = f"{type(e).__name__}: {e}"

    def _proof(self, old: int, new: int) -> list[bytes]:
        return merkle.consistency_proof(old, new, self.log.store)

    def _known_sizes(self) -> dict[str, int]:
        """The size each witness last cosigned, from the stored checkpoints (read once)."""
        with self._lock:
            if self._sizes is None:
                self._sizes = self._scan(self.log.store.checkpoints())
            return dict(self._sizes)

    def _scan(self, stored: list[tuple[int, bytes]]) -> dict[str, int]:
        """The largest size among ``stored`` each witness cosigned."""
        sizes: dict[str, int] = {}
        for size, note in reversed(stored):
            for name in self._cosigner_names(note):
                sizes.setdefault(name, size)
            if len(sizes) == len(self._witnesses):
                break
        return sizes

    # --- reading cosignatures -----------------------------------------------------------

    def _cosigner_names(self, note: bytes) -> list[str]:
        try:
            _, verified = open_note(note, [self.log.log_verifier, *self._witnesses.values()])
        except LedgerError:
            return []
        return [name for name, key in self._witnesses.items() if key in verified]

    def _cosigners(self, note: bytes) -> tuple[str, ...]:
        return tuple(self._cosigner_names(note))

    def _meets(self, note: bytes) -> bool:
        if self.policy is None:
            return True
        try:
            self.policy.verify_quorum(note, self.log.log_verifier)
        except LedgerError:
            return False
        return True

    def status(self, *, since: int = 0) -> list[WitnessStatus]:
        """Each witness of the policy: its URL, the largest size it cosigned (read anew
        from the checkpoints stored from ``since`` on, which any process of the
        ledger sees), and its last error (known to the leader)."""
        sizes = {**self._known_sizes(), **self._scan(self.log.store.checkpoints_from(since))}
        with self._lock:
            return [
                WitnessStatus(
                    name, self.urls.get(name), sizes.get(name), self._errors.get(name, "")
                )
                for name in self._witnesses
            ]


def _size(note: bytes) -> int:
    return Checkpoint.parse(parse_note(note).text).size
