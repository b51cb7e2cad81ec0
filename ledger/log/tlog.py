"""The transparency log over a live ledger's accepted events: checkpoints, proofs, receipts.

Leaves are the envelopes in sequencer order; leaf hash, node hash and proofs
follow RFC 9162 (ledger.format.merkle). Checkpoints are C2SP tlog-checkpoint texts
signed as C2SP signed notes with the log key; witnesses add tlog-cosignature/v1
lines.

Everything here *produces* from the node store of a live ledger; everything that
*checks* (the proof and receipt types, ``open_checkpoint``) is a pure function of
bytes and verifier keys in ledger.log.proofs, re-exported here for callers of the
log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ledger.errors import (
    CheckpointError,
    InconsistentCheckpointError,
    LedgerError,
    LogShrankError,
    ProofError,
    UnknownEventError,
    UnwitnessedError,
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
from ledger.format.policy import TlogPolicy
from ledger.log import tiles
from ledger.log.proofs import (
    RECEIPT_HEADER,
    ConsistencyProof,
    InclusionProof,
    Receipt,
    open_checkpoint,
)
from ledger.log.tlog_proof import tlog_proof_from, verify_tlog_proof

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
        stored = self.store.latest_checkpoint()
        return stored[1] if stored else None

    def checkpoint_at(self, size: int) -> bytes:
        for stored_size, note in self.store.checkpoints_from(size):
            if stored_size == size:
                return note
        raise UnknownEventError(f"no checkpoint was issued at size {size}")

    def witnessed_checkpoint(
        self, policy: TlogPolicy | None, *, holding: int = 0
    ) -> tuple[int, bytes] | None:
        """The latest stored checkpoint of at least ``holding`` leaves that meets
        ``policy``'s quorum (docs/format.md 8.12), as (size, note); None if none does.

        With no policy (a ledger whose trust.json names no witness), the latest
        stored checkpoint: the log's own word, as every verdict without a policy.
        """
        for size, note in reversed(self.store.checkpoints_from(holding)):
            if policy is None:
                return size, note
            try:
                policy.verify_quorum(note, self.log_verifier)
            except LedgerError:
                continue  # not (yet) cosigned by the quorum: an older one may be
            return size, note
        return None

    def tlog_proof(self, leaf_index: int, policy: TlogPolicy | None) -> bytes:
        """The c2sp.org/tlog-proof (docs/format.md 8.16) of a leaf, against the latest
        stored checkpoint that holds it and meets ``policy``'s quorum.

        UnwitnessedError while no such checkpoint holds the leaf (yet). The proof is
        checked before it is returned: the log never hands out one that fails.
        """
        if not 0 <= leaf_index < self.size():
            raise UnknownEventError(f"the log has no leaf {leaf_index}")
        found = self.witnessed_checkpoint(policy, holding=leaf_index + 1)
        if found is None:
            quorum = (
                "a checkpoint" if policy is None else f"a checkpoint meeting {policy.describe()}"
            )
            raise UnwitnessedError(f"leaf {leaf_index} is not inside {quorum} yet")
        inclusion = self.inclusion_proof(leaf_index, found[0])
        inclusion.verify(self.log_verifier)
        proof = tlog_proof_from(inclusion)
        if policy is not None:
            verify_tlog_proof(proof, self.log_verifier, policy)
        return proof

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
