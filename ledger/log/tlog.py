"""The transparency log over every accepted event: checkpoints, proofs, receipts.

Leaves are the envelopes in sequencer order; leaf hash, node hash and proofs
follow RFC 9162 (ledger.format.merkle). Checkpoints are C2SP tlog-checkpoint texts
signed as C2SP signed notes with the log key; witnesses add tlog-cosignature/v1
lines. A receipt is a signed note too (docs/format.md, "Receipt"), so one
verifier key and one parser check both.

Everything that *produces* a proof reads the node store; everything that
*checks* one (``verify_*``) is a pure function of bytes and verifier keys.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.errors import (
    CheckpointError,
    ConsistencyProofError,
    FormatError,
    InconsistentCheckpointError,
    LogShrankError,
    ProofError,
    RootMismatchError,
    UnknownEventError,
)
from ledger.format import merkle
from ledger.format.note import (
    Checkpoint,
    Note,
    NoteSigner,
    Verifier,
    open_note,
    parse_note,
    sign_note,
)
from ledger.format.statement import Envelope
from ledger.log import tiles

if TYPE_CHECKING:
    from ledger.store.application import Accepted, Ledger

__all__ = [
    "RECEIPT_HEADER",
    "ConsistencyProof",
    "InclusionProof",
    "Receipt",
    "TransparencyLog",
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


def _hex(value: Any, what: str) -> bytes:
    try:
        return bytes.fromhex(value)
    except (TypeError, ValueError) as e:
        raise FormatError(f"{what}: {value!r} is not hex") from e


def _parse_json(text: str | bytes, kind: str) -> dict[str, Any]:
    try:
        doc = json.loads(text)
    except (ValueError, UnicodeDecodeError) as e:
        raise FormatError(f"not a JSON {kind} proof: {e}") from e
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
        try:
            envelope = base64.b64decode(doc["envelope"], validate=True)
            leaf_index = doc["leaf_index"]
            checkpoint = str(doc["checkpoint"]).encode()
            hashes = _hex_list(doc["proof"], "proof")
        except (KeyError, binascii.Error) as e:
            raise FormatError(f"inclusion proof: missing or bad field {e}") from e
        if not isinstance(leaf_index, int) or isinstance(leaf_index, bool):
            raise FormatError("inclusion proof: leaf_index must be an integer")
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
        try:
            proof = cls(
                str(doc["old_checkpoint"]).encode(),
                str(doc["new_checkpoint"]).encode(),
                _hex_list(doc["proof"], "proof"),
            )
        except KeyError as e:
            raise FormatError(f"consistency proof: missing field {e}") from e
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


class TransparencyLog:
    """The log view of a ledger: its tree, checkpoints and proofs."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self.store = ledger.log_store

    @property
    def log_verifier(self) -> Verifier:
        return Verifier.parse(self.ledger.trust.log_vkey)

    def size(self) -> int:
        return self.store.log_size()

    def root(self, size: int) -> bytes:
        self._check_size(size)
        return merkle.root(size, self.store)

    def _check_size(self, size: int) -> None:
        current = self.size()
        if not 0 <= size <= current:
            raise UnknownEventError(
                f"the log has {current} leaves; there is no tree of size {size}"
            )

    # --- checkpoints -------------------------------------------------------------------

    def checkpoints(self) -> list[bytes]:
        return [note for _, note in self.store.checkpoints()]

    def latest_checkpoint(self) -> bytes | None:
        stored = self.store.checkpoints()
        return stored[-1][1] if stored else None

    def checkpoint_at(self, size: int) -> bytes:
        for stored_size, note in self.store.checkpoints():
            if stored_size == size:
                return note
        raise UnknownEventError(f"no checkpoint was issued at size {size}")

    def issue_checkpoint(self, signer: NoteSigner) -> bytes:
        """Sign a checkpoint of the whole log, consistent with every earlier one.

        Refuses (and signs nothing) if the log is smaller than the last
        checkpoint, or if the stored tree does not extend it: a signed
        checkpoint is a commitment that outlives this database.
        """
        if signer.verifier.vkey != self.ledger.trust.log_vkey:
            raise CheckpointError("this key is not the log key the ledger pinned")
        with self.store.append_lock():
            self.ledger.sequence()
            size = self.size()
            stored = self.store.leaf_count()
            if stored != size:
                raise LogShrankError(
                    f"the log holds {stored} leaf rows for a tree of {size}: leaves were lost"
                )
            try:
                root = merkle.root(size, self.store)
                latest = self.latest_checkpoint()
                if latest is not None:
                    previous = open_checkpoint(latest, self.log_verifier)
                    self._check_extends(previous, size, root)
                    if previous.size == size:
                        return latest
            except LookupError as e:
                raise InconsistentCheckpointError(f"the stored tree is damaged: {e}") from e
            text = Checkpoint(self.ledger.trust.origin, size, root).to_text()
            note = sign_note(text, [signer])
            self.store.store_checkpoint(size, note)
        return note

    def _check_extends(self, previous: Checkpoint, size: int, root: bytes) -> None:
        if size < previous.size:
            raise LogShrankError(
                f"the log has {size} leaves, fewer than the {previous.size} of its last checkpoint"
            )
        if previous.size == 0:
            return
        if size == previous.size:
            if root != previous.root_hash:
                raise InconsistentCheckpointError(
                    f"the stored tree of size {size} no longer has the checkpointed root"
                )
            return
        proof = merkle.consistency_proof(previous.size, size, self.store)
        try:
            merkle.verify_consistency(previous.size, size, proof, previous.root_hash, root)
        except ProofError as e:
            raise InconsistentCheckpointError(
                f"the stored tree of size {size} does not extend the checkpoint of size "
                f"{previous.size}: {e}"
            ) from e

    def add_cosignatures(self, cosigned: bytes, witnesses: list[Verifier]) -> bytes:
        """Store a checkpoint's witness cosignatures beside the log's signature.

        The note must carry a valid log signature over a checkpoint this log
        issued and at least one valid cosignature from ``witnesses``.
        """
        checkpoint = open_checkpoint(cosigned, self.log_verifier)
        issued = parse_note(self.checkpoint_at(checkpoint.size))
        incoming = parse_note(cosigned)
        if incoming.text != issued.text:
            raise CheckpointError(
                f"this is not the checkpoint the log issued at size {checkpoint.size}"
            )
        _, verified = open_note(cosigned, witnesses)
        trusted = {(v.name, v.key_id) for v in verified}
        known = {(s.name, s.key_id) for s in issued.signatures}
        extra = tuple(s for s in incoming.signatures if (s.name, s.key_id) in trusted - known)
        note = Note(issued.text, issued.signatures + extra).to_bytes()
        self.store.store_checkpoint(checkpoint.size, note)
        return note

    # --- proofs ------------------------------------------------------------------------

    def _checkpoint_for(self, size: int | None) -> tuple[bytes, Checkpoint]:
        note = self.latest_checkpoint() if size is None else self.checkpoint_at(size)
        if note is None:
            raise UnknownEventError("the log has no checkpoint yet (run `ledger checkpoint issue`)")
        return note, open_checkpoint(note, self.log_verifier)

    def inclusion_proof(self, leaf_index: int, size: int | None = None) -> InclusionProof:
        """Prove leaf ``leaf_index`` against the checkpoint of ``size`` (default: latest)."""
        note, checkpoint = self._checkpoint_for(size)
        if not 0 <= leaf_index < checkpoint.size:
            raise UnknownEventError(
                f"leaf {leaf_index} is not in the checkpoint of size {checkpoint.size}"
            )
        leaf = self.store.leaf_by_index(leaf_index)
        if leaf is None:
            raise InconsistentCheckpointError(f"leaf {leaf_index} is missing from the stored log")
        envelope = self._envelope(leaf.stream, leaf.seq)
        hashes = merkle.inclusion_proof(leaf_index, checkpoint.size, self.store)
        return InclusionProof(envelope, leaf_index, note, hashes)

    def inclusion_proof_for(self, stream: str, seq: int, size: int | None = None) -> InclusionProof:
        leaf = self.store.leaf_by_stream(stream, seq)
        if leaf is None:
            raise UnknownEventError(f"stream {stream} has no sequenced event at seq {seq}")
        return self.inclusion_proof(leaf.leaf_index, size)

    def _envelope(self, stream: str, seq: int) -> bytes:
        envelopes = self.ledger.stream(stream)
        if not 1 <= seq <= len(envelopes):
            raise UnknownEventError(f"stream {stream} has no event at seq {seq}")
        return envelopes[seq - 1].raw

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> ConsistencyProof:
        old_note, old = self._checkpoint_for(old_size)
        new_note, new = self._checkpoint_for(new_size)
        if new.size < old.size:
            raise UnknownEventError(f"checkpoint {new.size} is older than checkpoint {old.size}")
        hashes = (
            merkle.consistency_proof(old.size, new.size, self.store)
            if 0 < old.size < new.size
            else []
        )
        return ConsistencyProof(old_note, new_note, hashes)

    # --- c2sp.org/tlog-tiles -----------------------------------------------------------

    def _check_tile(self, level: int, index: int, width: int, what: str) -> None:
        if not (0 <= level <= tiles.MAX_LEVEL and index >= 0 and 1 <= width <= tiles.TILE_WIDTH):
            raise UnknownEventError(f"there is no {what} ({level}, {index}) of width {width}")
        size = self.size()
        if tiles.tile_width(size, level, index) < width:
            raise UnknownEventError(
                f"the log has {size} leaves: no {what} ({level}, {index}) of width {width} yet"
            )

    def read_tile(self, level: int, index: int, width: int) -> bytes:
        """The hash tile ``tile/<level>/<index>[.p/<width>]`` of the current tree.

        Its bytes are a prefix of the stored tile (tiles only grow), so every
        partial width up to the current one is served. UnknownEventError for a tile
        the tree does not hold at that width (a 404).
        """
        self._check_tile(level, index, width, "tile")
        try:
            (data,) = self.store.read_tile_hashes([(level, index)])
        except LookupError as e:
            raise InconsistentCheckpointError(f"the stored tree is damaged: {e}") from e
        if len(data) < width * merkle.HASH_SIZE:
            raise InconsistentCheckpointError(
                f"the stored tree is damaged: tile ({level}, {index}) holds "
                f"{len(data) // merkle.HASH_SIZE} hashes, the log {self.size()} leaves"
            )
        return data[: width * merkle.HASH_SIZE]

    def read_entry_bundle(self, index: int, width: int) -> bytes:
        """The entry bundle ``tile/entries/<index>[.p/<width>]``: the envelopes of
        leaves ``index * 256`` onwards. UnknownEventError as :meth:`read_tile`."""
        self._check_tile(0, index, width, "entry bundle")
        start = index * tiles.TILE_WIDTH
        entries = [raw for _, raw in self.ledger.log_entries(start, start + width)]
        if len(entries) != width:
            raise InconsistentCheckpointError(
                f"leaves {start}..{start + width - 1} are not all stored"
            )
        return tiles.encode_entry_bundle(entries)

    def read_entries(self, index: int, width: int) -> bytes:
        """:meth:`read_entry_bundle`, under the name :class:`~ledger.log.tiles.TileReader` uses."""
        return self.read_entry_bundle(index, width)

    def receipt(self, accepted: Accepted, signer: NoteSigner) -> Receipt:
        if signer.verifier.vkey != self.ledger.trust.log_vkey:
            raise CheckpointError(
                "receipts are signed with the log key the ledger pinned, not this key"
            )
        return Receipt.sign(signer, accepted.leaf_index, accepted.event_hash)
