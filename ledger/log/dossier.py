"""Building a dispute dossier from a live ledger (docs/format.md, "Dossier").

The dossier holds one sheet (``sheet:<contest>:<TPS>``) or one whole contest
(``<office>-<region>``): the election stream, the subject's streams, the key
streams of every signer up to the trust roots, each event with an RFC 9162
inclusion proof to one signed checkpoint, and the trust roots. Every stream is
included whole, from seq 1 up to the checkpoint. Its verification is a pure
function of the bytes, in ledger.checks.dossier.
"""

from __future__ import annotations

import base64
import json
from typing import TYPE_CHECKING

from ledger.errors import (
    CheckpointError,
    ConfigurationError,
    LedgerError,
    UnknownEventError,
    UnwitnessedError,
)
from ledger.format import merkle
from ledger.format.dossier import DOSSIER_FORMAT, DOSSIER_FORMAT_V1, parse_subject
from ledger.format.note import Checkpoint, Verifier
from ledger.format.policy import TlogPolicy
from ledger.format.regions import key_stream
from ledger.format.statement import Envelope, key_id
from ledger.format.tlog_wire import TlogProofFile
from ledger.format.trust import trust_to_json
from ledger.log.proofs import open_checkpoint

if TYPE_CHECKING:
    from ledger.store.application import Ledger

__all__ = ["build_dossier"]

_PAGE = 5000


def _choose_checkpoint(
    ledger: Ledger, log: Verifier, policy: TlogPolicy | None
) -> tuple[bytes, Checkpoint]:
    """The latest stored checkpoint (that meets ``policy``, if given)."""
    for _, note in reversed(ledger.log_store.checkpoints()):
        try:
            checkpoint = open_checkpoint(note, log)
            if policy is not None:
                policy.verify_quorum(note, log)
        except LedgerError:
            continue
        return note, checkpoint
    if policy is not None:
        raise UnwitnessedError(f"no stored checkpoint meets the trust policy ({policy.describe()})")
    raise CheckpointError("the log has no checkpoint yet (run `ledger checkpoint issue`)")


def _subject_streams(ledger: Ledger, subject: str, size: int) -> list[str]:
    kind, contest = parse_subject(subject)
    if kind == "sheet":
        return [subject]
    prefixes = (f"sheet:{contest}:", f"recap:{contest}:", f"result:{contest}")
    found: set[str] = set()
    start = 0
    while start < size:  # the leaves table only (no envelopes), page by page
        rows = ledger.log_store.leaves(start, min(size, start + _PAGE))
        if not rows:
            break
        found.update(row.stream for row in rows if row.stream.startswith(prefixes))
        start = rows[-1].leaf_index + 1
    return sorted(found)


def build_dossier(
    ledger: Ledger,
    subject: str,
    *,
    policy: TlogPolicy | None = None,
    dossier_format: str = DOSSIER_FORMAT,
) -> bytes:
    """The dossier of ``subject`` (a sheet stream id or a contest id), as JSON bytes.

    Version 2 (the default) carries each event as its c2sp.org/tlog-proof against the
    dossier's checkpoint; ``DOSSIER_FORMAT_V1`` writes the earlier version
    (envelope and proof apart), which verifiers still read.

    Every event is proved against one checkpoint: the latest stored one that
    meets the trust ``policy`` (ledger.format.policy), or the latest if none is given.
    Raises CheckpointError (UnwitnessedError: none meets the policy) if there is
    none, SchemaError for a malformed subject
    and UnknownEventError for a contest or sheet the checkpoint does not cover.
    """
    if dossier_format not in (DOSSIER_FORMAT, DOSSIER_FORMAT_V1):
        raise ConfigurationError(f"no dossier format {dossier_format!r}")
    trust = ledger.trust
    log = Verifier.parse(trust.log_vkey)
    kind, contest = parse_subject(subject)
    note, checkpoint = _choose_checkpoint(ledger, log, policy)
    size = checkpoint.size
    roots = {key_id(trust.kpu_root), key_id(trust.bawaslu_root)}
    events: dict[int, Envelope] = {}

    def add_stream(stream: str) -> list[Envelope]:
        added = []
        for envelope in ledger.stream(stream):
            leaf = ledger.log_store.leaf_by_stream(stream, envelope.statement.seq)
            if leaf is None or leaf.leaf_index >= size:
                break  # a stream's seq order is its log order: the rest is newer
            events[leaf.leaf_index] = envelope
            added.append(envelope)
        return added

    election = add_stream("election")
    if not any(
        e.statement.kind == "contest" and e.statement.body.get("contest") == contest
        for e in election
    ):
        raise UnknownEventError(
            f"contest {contest} is not defined in the checkpoint of size {size}"
        )
    subject_events: list[Envelope] = []
    for stream in _subject_streams(ledger, subject, size):
        subject_events.extend(add_stream(stream))
    if kind == "sheet" and not subject_events:
        raise UnknownEventError(f"{subject} has no event in the checkpoint of size {size}")

    pending = {e.statement.signer for e in (*election, *subject_events)}
    done: set[bytes] = set()
    while pending:  # every signer's key stream, then its granters', up to the roots
        signer = pending.pop()
        if signer in roots or signer in done:
            continue
        done.add(signer)
        pending.update(e.statement.signer for e in add_stream(key_stream(signer)))

    items = []
    for leaf in sorted(events):
        envelope = events[leaf]
        proof = merkle.inclusion_proof(leaf, size, ledger.log_store)
        item: dict[str, object] = {
            "leaf": leaf,
            "stream": envelope.statement.stream,
            "seq": envelope.statement.seq,
            "event_hash": envelope.hash.hex(),
        }
        if dossier_format == DOSSIER_FORMAT_V1:
            item["envelope"] = base64.b64encode(envelope.raw).decode()
            item["proof"] = [h.hex() for h in proof]
        else:
            tlog_proof = TlogProofFile(envelope.raw, leaf, tuple(proof), note).to_bytes()
            item["tlog_proof"] = tlog_proof.decode("utf-8")
        items.append(item)
    doc = {
        "format": dossier_format,
        "subject": subject,
        "trust": json.loads(trust_to_json(trust)),
        "checkpoint": note.decode("utf-8"),
        "events": items,
    }
    return (json.dumps(doc, indent=1, ensure_ascii=False) + "\n").encode("utf-8")
