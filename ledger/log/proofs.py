"""Checking the log's proofs and receipts: pure functions of bytes and verifier keys.

Checkpoints are C2SP tlog-checkpoint texts signed as C2SP signed notes with the
log key; an inclusion proof ties an envelope to a checkpoint's tree, a
consistency proof ties two checkpoints (RFC 9162 via ledger.format.merkle); a
receipt is a signed note too (docs/format.md, "Receipt"), so one verifier key and
one parser check both.

This module reads no ledger: the independent checks import it. What *produces*
proofs from a live ledger is :class:`ledger.log.tlog.TransparencyLog`.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from ledger.errors import (
    CheckpointError,
    ConsistencyProofError,
    FormatError,
    LogShrankError,
    RootMismatchError,
)
from ledger.format import merkle
from ledger.format.jsoninput import field_int, field_list, field_str, load_json
from ledger.format.note import Checkpoint, NoteSigner, Verifier, open_note, parse_note, sign_note
from ledger.format.statement import Envelope

__all__ = [
    "RECEIPT_HEADER",
    "ConsistencyProof",
    "InclusionProof",
    "Receipt",
    "open_checkpoint",
]

RECEIPT_HEADER = "pilkada-ledger receipt v1"


def open_checkpoint(note: bytes, log: Verifier) -> Checkpoint:
    """Verify a signed checkpoint with the log's key and parse it.

    Raises NoteError/UnverifiedNoteError for a bad or missing log signature and
    CheckpointError for a malformed text or an origin other than the key's name.
    """
    opened, _ = open_note(note, [log])
    checkpoint = Checkpoint.parse(opened.text)
    if checkpoint.origin != log.name:
        raise CheckpointError(
            f"checkpoint origin {checkpoint.origin!r} is not the log {log.name!r}"
        )
    return checkpoint


def _hex_list(values: Any, what: str) -> list[bytes]:
    if not isinstance(values, list):
        raise FormatError(f"{what} must be a list of hex hashes")
    return [_hex(v, what) for v in values]


def _base64(value: str, what: str) -> bytes:
    try:
        return base64.b64decode(value, validate=True)
    except ValueError as e:  # binascii.Error, or a non-ASCII character
        raise FormatError(f"{what} is not base64") from e


def _note(value: str) -> bytes:
    return value.encode("utf-8")  # load_json admits no lone surrogate


def _hex(value: Any, what: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except (TypeError, ValueError) as e:
        raise FormatError(f"{what}: {value!r} is not hex") from e


def _parse_json(text: str | bytes, kind: str) -> dict[str, Any]:
    doc = load_json(text, f"{kind} proof")
    if not isinstance(doc, dict) or doc.get("type") != kind:
        raise FormatError(f'not a {kind} proof (its "type" must be {kind!r})')
    return doc


@dataclass(frozen=True, slots=True)
class InclusionProof:
    """That an envelope is leaf ``leaf_index`` of the tree a checkpoint commits to."""

    envelope: bytes
    leaf_index: int
    checkpoint: bytes  # the signed note (with any cosignatures)
    hashes: list[bytes]

    def to_json(self) -> str:
        return json.dumps(
            {
                "type": "inclusion",
                "leaf_index": self.leaf_index,
                "tree_size": Checkpoint.parse(parse_note(self.checkpoint).text).size,
                "event_hash": Envelope.parse(self.envelope).hash.hex(),
                "envelope": base64.b64encode(self.envelope).decode(),
                "proof": [h.hex() for h in self.hashes],
                "checkpoint": self.checkpoint.decode(),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> InclusionProof:
        doc = _parse_json(text, "inclusion")
        what = "inclusion proof"
        envelope = _base64(field_str(doc, "envelope", what), f'{what}: "envelope"')
        leaf_index = field_int(doc, "leaf_index", what)
        checkpoint = _note(field_str(doc, "checkpoint", what))
        hashes = _hex_list(field_list(doc, "proof", what), "proof")
        proof = cls(envelope, leaf_index, checkpoint, hashes)
        # The JSON repeats tree_size and event_hash for readers; they must agree.
        stated = (doc.get("tree_size"), doc.get("event_hash"))
        actual = (
            Checkpoint.parse(parse_note(checkpoint).text).size,
            Envelope.parse(envelope).hash.hex(),
        )
        if stated != actual:
            raise FormatError(
                f"inclusion proof: tree_size/event_hash {stated} do not match its checkpoint and envelope"
            )
        return proof

    def verify(self, log: Verifier) -> Envelope:
        """Check the proof against the log key; return the (parsed) envelope.

        (1) the checkpoint carries a valid log signature; (2) the envelope parses;
        (3) the envelope's leaf hash and the proof reach the checkpoint's root.
        """
        checkpoint = open_checkpoint(self.checkpoint, log)  # (1)
        envelope = Envelope.parse(self.envelope)  # (2)
        merkle.verify_inclusion(  # (3)
            merkle.leaf_hash(self.envelope),
            self.leaf_index,
            checkpoint.size,
            self.hashes,
            checkpoint.root_hash,
        )
        return envelope


@dataclass(frozen=True, slots=True)
class ConsistencyProof:
    """That the tree of ``new`` extends the tree of ``old`` (both signed checkpoints)."""

    old: bytes
    new: bytes
    hashes: list[bytes]

    def to_json(self) -> str:
        sizes = [Checkpoint.parse(parse_note(n).text).size for n in (self.old, self.new)]
        return json.dumps(
            {
                "type": "consistency",
                "old_size": sizes[0],
                "new_size": sizes[1],
                "proof": [h.hex() for h in self.hashes],
                "old_checkpoint": self.old.decode(),
                "new_checkpoint": self.new.decode(),
            },
            indent=2,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> ConsistencyProof:
        doc = _parse_json(text, "consistency")
        what = "consistency proof"
        proof = cls(
            _note(field_str(doc, "old_checkpoint", what)),
            _note(field_str(doc, "new_checkpoint", what)),
            _hex_list(field_list(doc, "proof", what), "proof"),
        )
        sizes = tuple(Checkpoint.parse(parse_note(n).text).size for n in (proof.old, proof.new))
        if (doc.get("old_size"), doc.get("new_size")) != sizes:
            raise FormatError("consistency proof: old_size/new_size do not match its checkpoints")
        return proof

    def verify(self, log: Verifier) -> tuple[Checkpoint, Checkpoint]:
        """(1) both checkpoints carry valid log signatures; (2) the new tree is not
        smaller; (3) the proof shows the old tree is a prefix of the new one."""
        old, new = open_checkpoint(self.old, log), open_checkpoint(self.new, log)  # (1)
        if new.size < old.size:  # (2)
            raise LogShrankError(f"log shrank from {old.size} to {new.size} leaves")
        if old.size in (new.size, 0):
            if self.hashes:
                raise ConsistencyProofError(
                    f"a consistency proof from size {old.size} to {new.size} must be empty"
                )
            if old.size == 0 and old.root_hash != merkle.EMPTY_ROOT:
                raise RootMismatchError("a checkpoint of size 0 must carry the empty-tree root")
            if old.size == new.size and old.root_hash != new.root_hash:
                raise RootMismatchError(
                    f"two checkpoints of size {old.size} with different roots: a split view"
                )
            return old, new  # the empty tree is a prefix of every tree
        merkle.verify_consistency(
            old.size, new.size, self.hashes, old.root_hash, new.root_hash
        )  # (3)
        return old, new


@dataclass(frozen=True, slots=True)
class Receipt:
    """The log's signed promise that it took an event at a leaf index."""

    origin: str
    leaf_index: int
    event_hash: bytes
    note: bytes

    @staticmethod
    def text(origin: str, leaf_index: int, event_hash: bytes) -> str:
        return (
            f"{RECEIPT_HEADER}\n{origin}\n{leaf_index}\n{base64.b64encode(event_hash).decode()}\n"
        )

    @classmethod
    def sign(cls, signer: NoteSigner, leaf_index: int, event_hash: bytes) -> Receipt:
        text = cls.text(signer.name, leaf_index, event_hash)
        return cls(signer.name, leaf_index, event_hash, sign_note(text, [signer]))

    @classmethod
    def open(cls, note: bytes, log: Verifier) -> Receipt:
        """Verify a receipt note with the log key and parse it (strictly)."""
        opened, _ = open_note(note, [log])
        lines = opened.text.split("\n")
        if len(lines) != 5 or lines[0] != RECEIPT_HEADER or lines[4] != "":
            raise FormatError(f"not a receipt (first line must be {RECEIPT_HEADER!r})")
        origin, index_text, hash_text = lines[1], lines[2], lines[3]
        if origin != log.name:
            raise FormatError(f"receipt is from {origin!r}, not the log {log.name!r}")
        if not index_text.isdigit() or (index_text != "0" and index_text.startswith("0")):
            raise FormatError(f"receipt leaf index {index_text!r} is not a decimal number")
        try:
            event_hash = base64.b64decode(hash_text, validate=True)
        except binascii.Error as e:
            raise FormatError("receipt event hash is not base64") from e
        if len(event_hash) != 32:
            raise FormatError("receipt event hash is not 32 bytes")
        receipt = cls(origin, int(index_text), event_hash, note)
        if cls.text(origin, receipt.leaf_index, event_hash) != opened.text:
            raise FormatError("receipt text is not in its canonical form")
        return receipt
