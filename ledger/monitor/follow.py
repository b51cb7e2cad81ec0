"""The monitor: follow a tlog-tiles log and check every entry, resumably (format.md 8.17).

One :meth:`Monitor.poll`:

1. fetch ``<url>/checkpoint``; it must be signed by the log key, of the log's origin,
   and its cosignatures must meet the trust policy's quorum (a *missing quorum*);
2. against the checkpoint accepted last: a smaller tree is a *shrunk log*, one of
   the same size with another root a *fork*; a larger one is followed:
3. the tiles the new tree has and the accepted one lacks are fetched and checked to
   hash into the new root (``ledger.log.tiles.verify_tiles``: a *bad tile*), a
   consistency proof from the accepted checkpoint, computed from the tiles, must hold
   (a *fork*), every new entry must hash to its level-0 tile, and is then replayed
   with the verifier's own checks (``ledger.checks.verify.Replay``: signature, grant
   chain, scope, chain, references; a *bad entry*), and the checkpoint checked
   against the replayed tree (step 7 of the verifier);
4. the latest checkpoint each witness cosigned (``GET <witness>/checkpoints/<origin>``,
   format.md 8.15) must be consistent with the accepted one: the same root at the
   same size, else a consistency proof from the log's tiles; a witness holding
   another tree than the monitor was shown is a *fork*, naming both checkpoints.

Only a checkpoint that passes 1-3 is accepted: the state (the checkpoint, the
replay, running totals, findings, fetch counters) is then written atomically and
durably to ``<state>/state.json``, so a restart resumes after the last accepted
checkpoint and never fetches or checks an entry again. A failure in 3 leaves the
state as it was (the replay is reloaded). Every finding names the checkpoint(s),
tile or leaf that proves it. Network failures are not findings: they raise
:class:`~ledger.errors.ServiceError`.
"""

from __future__ import annotations

import base64
import fcntl
import json
import urllib.parse
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ledger.checks.verify import Failure, Replay, TrustPolicy, VerifyReport
from ledger.errors import (
    ConfigurationError,
    FormatError,
    InconsistentCheckpointError,
    LedgerError,
    LogShrankError,
    ProofError,
    ServiceError,
    UnknownEventError,
    UnwitnessedError,
)
from ledger.format import merkle
from ledger.format.note import Checkpoint, Verifier
from ledger.log import tiles
from ledger.log.proofs import open_checkpoint
from ledger.log.witness import write_durably

__all__ = [
    "FETCH_TIMEOUT",
    "STATE_FILE",
    "STATE_FORMAT",
    "Finding",
    "Monitor",
    "PollResult",
]

STATE_FILE = "state.json"
STATE_FORMAT = "ledger-monitor-state/v1"
LOCK_FILE = "lock"
FETCH_TIMEOUT = 30.0
"""Seconds to wait for any one response."""
WITNESS_CHECKPOINTS_PATH = "/checkpoints/"
"""The witness service's read extension (format.md 8.15)."""
_COUNTERS = ("checkpoints", "tiles", "bundles", "witness_checkpoints")


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing proven wrong: the error class, what, and the checkpoint, tile or leaf."""

    error: str
    where: str
    message: str

    def line(self) -> str:
        return f"{self.error} at {self.where}: {self.message}"

    def to_json(self) -> dict[str, str]:
        return {"error": self.error, "where": self.where, "message": self.message}


@dataclass
class PollResult:
    """What one poll did."""

    accepted: int | None = None  # the size of a newly accepted checkpoint
    previous: int = 0
    cosigners: tuple[str, ...] = ()
    findings: list[Finding] = field(default_factory=list)
    witnesses: list[str] = field(default_factory=list)  # one line per witness read


def _short(root: bytes) -> str:
    return root.hex()[:16]


def _named(c: Checkpoint, where: str) -> str:
    return f"checkpoint {c.size} (root {_short(c.root_hash)}, {where})"


class _Remote:
    """GETs below one URL prefix through a shared client; counts what it fetched."""

    def __init__(self, url: str, client: httpx.Client, counters: dict[str, int]) -> None:
        self.url = url.rstrip("/")
        self.client = client
        self.counters = counters

    def get(self, path: str, counter: str) -> bytes | None:
        """The body at ``path``; None for a 404; ServiceError for anything but 200."""
        try:
            response = self.client.get(f"{self.url}/{path.lstrip('/')}")
        except httpx.HTTPError as e:
            raise ServiceError(f"cannot fetch {self.url}/{path.lstrip('/')}: {e}") from e
        self.counters[counter] += 1
        if response.status_code == httpx.codes.NOT_FOUND:
            return None
        if response.status_code != httpx.codes.OK:
            raise ServiceError(
                f"{self.url}/{path.lstrip('/')} answered {response.status_code} "
                f"{response.reason_phrase}"
            )
        return response.content


class _Tiles:
    """A TileReader over the remote log, fetching each tile once (UnknownEventError: 404)."""

    def __init__(self, remote: _Remote) -> None:
        self.remote = remote
        self.cache: dict[str, bytes] = {}

    def _read(self, path: str, counter: str) -> bytes:
        if path not in self.cache:
            data = self.remote.get(path, counter)
            if data is None:
                raise UnknownEventError(f"{self.remote.url} has no {path} (404)")
            self.cache[path] = data
        return self.cache[path]

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        return self._read(tiles.tile_path(level, index, width), "tiles")

    def read_entries(self, index: int, width: int) -> bytes:
        return self._read(tiles.entries_path(index, width), "bundles")


class _FoundError(Exception):
    """A finding that ends this poll's advance (the state stays as it was)."""

    def __init__(self, finding: Finding) -> None:
        super().__init__(finding.line())
        self.finding = finding


class Monitor:
    """Follows the log at ``url`` under ``policy``, its state in ``state_dir``.

    ``witnesses`` are witness service URLs to read besides those the policy's
    ``witness`` lines give. The state directory is created if missing and locked
    (``fcntl.flock``) for as long as the monitor is open: one monitor per state.
    A state saved for another log (trust roots) is a ConfigurationError.
    """

    def __init__(
        self,
        url: str,
        policy: TrustPolicy,
        state_dir: Path,
        *,
        witnesses: Sequence[str] = (),
        client: httpx.Client | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.policy = policy
        self.log: Verifier = policy.log
        self.state_dir = state_dir
        urls = [*policy.tlog.urls.values(), *witnesses]
        self.witness_urls = list(dict.fromkeys(u.rstrip("/") for u in urls))
        self._own_client = client is None
        self.client = client or httpx.Client(timeout=FETCH_TIMEOUT, follow_redirects=True)
        try:
            state_dir.mkdir(parents=True, exist_ok=True)
            self._lock = open(state_dir / LOCK_FILE, "a+b")  # noqa: SIM115 - held while open
        except OSError as e:
            raise ConfigurationError(f"cannot use the monitor state {state_dir}: {e}") from e
        try:
            fcntl.flock(self._lock.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            self._lock.close()
            raise ConfigurationError(f"another monitor holds {state_dir} ({e})") from e
        self._load()

    def close(self) -> None:
        if self._own_client:
            self.client.close()
        self._lock.close()

    def __enter__(self) -> Monitor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- state --------------------------------------------------------------------------

    @property
    def path(self) -> Path:
        return self.state_dir / STATE_FILE

    def _load(self) -> None:
        """Read the state file (or start empty); sets the accepted checkpoint and replay."""
        self.note: bytes | None = None
        self.accepted = Checkpoint(self.log.name, 0, merkle.EMPTY_ROOT)
        self.findings: list[Finding] = []
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.witness_seen: dict[str, dict[str, Any]] = {}
        self._dirty = False  # whether the state changed since it was written
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            self.replay = Replay(self.policy, VerifyReport())
            return
        except OSError as e:
            raise ConfigurationError(f"cannot read {self.path}: {e}") from e
        try:
            state = json.loads(data)
            if not isinstance(state, dict) or state.get("format") != STATE_FORMAT:
                raise FormatError(f"not a {STATE_FORMAT} file")
            self.replay = Replay.restore(self.policy, state["replay"])
            if state["checkpoint"] is not None:
                self.note = state["checkpoint"].encode("utf-8")
                self.accepted = open_checkpoint(self.note, self.log)
            self.findings = [Finding(**f) for f in state["findings"]]
            self.counters.update({k: int(v) for k, v in state["fetched"].items()})
            self.witness_seen = dict(state["witnesses"])
        except (ValueError, KeyError, TypeError, AttributeError, LedgerError) as e:
            if isinstance(e, ConfigurationError):
                raise ConfigurationError(f"{self.path}: {e}") from e
            raise ConfigurationError(f"{self.path} is not a monitor state: {e}") from e
        if self.replay.tree.size != self.accepted.size:
            raise ConfigurationError(
                f"{self.path}: the replay holds {self.replay.tree.size} leaves, "
                f"the accepted checkpoint {self.accepted.size}"
            )

    def _save(self) -> None:
        state = {
            "format": STATE_FORMAT,
            "url": self.url,
            "origin": self.log.name,
            "checkpoint": None if self.note is None else self.note.decode("utf-8"),
            "size": self.accepted.size,
            "root": base64.standard_b64encode(self.accepted.root_hash).decode("ascii"),
            "checked": self.replay.tree.size,
            "totals": self.replay.totals(),
            "findings": [f.to_json() for f in self.findings],
            "fetched": self.counters,
            "witnesses": self.witness_seen,
            "replay": self.replay.snapshot(),
        }
        data = (json.dumps(state, ensure_ascii=False, indent=1) + "\n").encode("utf-8")
        try:
            write_durably(self.state_dir, STATE_FILE, data)
        except OSError as e:
            raise ConfigurationError(f"cannot write {self.path}: {e}") from e
        self._dirty = False

    def _record(self, result: PollResult, finding: Finding) -> None:
        """Keep a finding once (a problem seen again on the next poll is not new)."""
        if finding not in self.findings:
            self.findings.append(finding)
            self._dirty = True
            result.findings.append(finding)

    # --- one poll -----------------------------------------------------------------------

    def poll(self, progress: Callable[[int], None] | None = None) -> PollResult:
        """One round (module docstring); the findings new in this round are returned
        and kept in the state. ServiceError if the log or a witness cannot be read."""
        result = PollResult(previous=self.accepted.size)
        remote = _Remote(self.url, self.client, self.counters)
        try:
            self._follow(remote, result, progress)
        except _FoundError as p:
            self.replay = self._reloaded()
            self._record(result, p.finding)
        except BaseException:
            self.replay = self._reloaded()
            raise
        finally:
            if self._dirty:
                self._save()
        for url in self.witness_urls:
            try:
                self._check_witness(url, remote, result)
            except _FoundError as p:
                self._record(result, p.finding)
            except ServiceError as e:  # one witness down stops nothing
                result.witnesses.append(f"witness {url}: unreachable ({e})")
        if self._dirty:  # a poll that learnt nothing writes nothing (the fetch counters wait)
            self._save()
        return result

    def _reloaded(self) -> Replay:
        """The replay as the state file holds it (discarding a half-done advance)."""
        try:
            state = json.loads(self.path.read_bytes())
        except FileNotFoundError:
            return Replay(self.policy, VerifyReport())
        return Replay.restore(self.policy, state["replay"])

    def _follow(
        self, remote: _Remote, result: PollResult, progress: Callable[[int], None] | None
    ) -> None:
        where = f"{self.url}/checkpoint"
        note = remote.get("checkpoint", "checkpoints")
        if note is None:
            raise ServiceError(f"{where} answered 404: the log serves no checkpoint")
        try:
            new = open_checkpoint(note, self.log)
            cosigners = self.policy.tlog.cosigners(note, self.log)
        except LedgerError as e:
            raise _FoundError(Finding(type(e).__name__, where, str(e))) from e
        named = _named(new, f"served at {where}")
        if not self.policy.tlog.meets(cosigners):
            missing = UnwitnessedError(
                f"cosigned by {', '.join(w.name for w in cosigners) or 'no witness of the policy'}; "
                f"the trust policy needs {self.policy.tlog.describe()}: not followed"
            )
            raise _FoundError(Finding(type(missing).__name__, named, str(missing)))
        held = self.accepted
        accepted = _named(held, "accepted before")
        if new.size < held.size:
            raise _FoundError(
                Finding(
                    LogShrankError.__name__,
                    f"{named} and {accepted}",
                    f"the log shrank from {held.size} to {new.size} leaves",
                )
            )
        if new.size == held.size:
            if new.root_hash != held.root_hash:
                raise _FoundError(self._fork(held, "accepted before", new, f"served at {where}"))
            if note != self.note:  # the same tree, perhaps with more cosignatures
                self.note = note
                self._dirty = True
            return
        self._advance(remote, note, new, result, progress)
        result.accepted = new.size
        result.cosigners = tuple(w.name for w in cosigners)

    def _fork(self, a: Checkpoint, a_where: str, b: Checkpoint, b_where: str) -> Finding:
        return Finding(
            InconsistentCheckpointError.__name__,
            f"{_named(a, a_where)} and {_named(b, b_where)}",
            "a fork: the log signed two trees, neither extends the other",
        )

    def _advance(
        self,
        remote: _Remote,
        note: bytes,
        new: Checkpoint,
        result: PollResult,
        progress: Callable[[int], None] | None,
    ) -> None:
        """Step 3 of the module docstring; accepts ``new`` or raises _FoundError."""
        held = self.accepted
        named = _named(new, f"served at {self.url}/checkpoint")
        reader = _Tiles(remote)
        fresh = list(tiles.tiles_of(new.size, held.size))
        try:
            tiles.verify_tiles(new.size, new.root_hash, reader, fresh)
        except (ProofError, FormatError, UnknownEventError) as e:
            raise _FoundError(Finding(type(e).__name__, f"{named}, its tiles", str(e))) from e
        if held.size:
            try:
                proof = tiles.consistency_proof(held.size, new.size, reader)
                merkle.verify_consistency(held.size, new.size, proof, held.root_hash, new.root_hash)
            except (ProofError, UnknownEventError) as e:
                raise _FoundError(
                    self._fork(held, "accepted before", new, f"served at {self.url}/checkpoint")
                ) from e
        report = self.replay.report
        before = {name: len(items) for name, items in report.failures.items()}
        counted = dict(report.failure_counts)
        for ref in fresh:
            if ref.level != 0:
                continue
            try:
                bundle = reader.read_entries(ref.index, ref.width)
                entries = tiles.verify_entry_bundle(
                    ref.index, ref.width, bundle, reader.read_tile(0, ref.index, ref.width)
                )
            except (ProofError, FormatError, UnknownEventError) as e:
                raise _FoundError(Finding(type(e).__name__, f"{named}, its entries", str(e))) from e
            first = ref.index * tiles.TILE_WIDTH
            for i, entry in enumerate(entries):
                if first + i >= held.size:  # leaves already checked are never fed again
                    self.replay.apply(first + i, entry)
                    if progress is not None:
                        progress(1)
        self.replay.checkpoint(note)
        self.note, self.accepted = note, new
        self._dirty = True
        for name, items in report.failures.items():
            for failure in items[before.get(name, 0) :]:
                self._record(result, _finding(failure, name))
        for name, count in report.failure_counts.items():
            unlisted = (
                count - counted.get(name, 0) - (len(report.failures[name]) - before.get(name, 0))
            )
            if unlisted:  # the replay lists a bounded number of failures per class
                self._record(
                    result,
                    Finding(
                        name,
                        f"leaves {held.size} to {new.size - 1}",
                        f"{unlisted:,} more, not listed (the state's replay counts them)",
                    ),
                )

    # --- witnesses ----------------------------------------------------------------------

    def _check_witness(self, url: str, remote: _Remote, result: PollResult) -> None:
        """Step 4: the witness's latest cosigned checkpoint against the accepted one."""
        witness = _Remote(url, self.client, self.counters)
        path = WITNESS_CHECKPOINTS_PATH + urllib.parse.quote(self.log.name, safe="")
        note = witness.get(path, "witness_checkpoints")
        if note is None:
            result.witnesses.append(f"witness {url}: no checkpoint cosigned yet")
            return
        try:
            theirs = open_checkpoint(note, self.log)
            cosigners = self.policy.tlog.cosigners(note, self.log)
        except LedgerError as e:
            # Not signed by the log: the witness's word alone proves nothing of the log.
            result.witnesses.append(f"witness {url}: serves no checkpoint of this log ({e})")
            return
        names = ", ".join(w.name for w in cosigners) or "no witness of the policy"
        where = f"cosigned by {names} at {url}"
        ours = self.accepted
        if not ours.size:
            result.witnesses.append(
                f"witness {url}: checkpoint {theirs.size}; no checkpoint of the log accepted yet"
            )
            return
        seen = {"size": theirs.size, "root": theirs.root_hash.hex()}
        if self.witness_seen.get(url) == {**seen, "against": ours.size}:
            return  # checked before: nothing to say again
        if theirs.size == ours.size and theirs.root_hash != ours.root_hash:
            raise _FoundError(self._fork(ours, "accepted from the log", theirs, where))
        if theirs.size != ours.size and theirs.size:
            small, big = (theirs, ours) if theirs.size < ours.size else (ours, theirs)
            try:
                proof = tiles.consistency_proof(small.size, big.size, _Tiles(remote))
            except UnknownEventError:
                # The log serves no tiles of that tree yet: check on a later poll.
                result.witnesses.append(
                    f"witness {url}: checkpoint {theirs.size}, beyond the log's tiles"
                )
                return
            try:
                merkle.verify_consistency(
                    small.size, big.size, proof, small.root_hash, big.root_hash
                )
            except ProofError as e:
                raise _FoundError(self._fork(ours, "accepted from the log", theirs, where)) from e
        self.witness_seen[url] = {**seen, "against": ours.size}
        self._dirty = True
        relation = "the same as" if theirs.size == ours.size else "consistent with"
        result.witnesses.append(
            f"witness {url}: checkpoint {theirs.size}, {relation} the log's {ours.size}"
        )


def _finding(failure: Failure, name: str) -> Finding:
    return Finding(name, failure.where("log"), failure.message)
