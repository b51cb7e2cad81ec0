"""Offline proofs a signer keeps: c2sp.org/tlog-proof files of the ledger's log.

A tlog-proof (docs/format.md 8.16) shows that one envelope is a leaf of a tree
whose checkpoint the log signed and the witnesses of a trust policy cosigned.
In this project its ``extra`` line carries the envelope itself, so the file is
self-contained: its leaf hash ``H(0x00 || envelope)`` is what the inclusion proof
proves. :func:`tlog_proof_from` builds one from an inclusion proof;
:func:`verify_tlog_proof` checks one, a pure function of the bytes, the log key
and the policy.

The quorum is that of the trust policy (c2sp.org/tlog-policy, docs/format.md
8.12): :meth:`ledger.format.policy.TlogPolicy.verify_quorum`.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger.errors import FormatError
from ledger.format.note import Checkpoint, Verifier, parse_note
from ledger.format.policy import TlogPolicy
from ledger.format.statement import Envelope
from ledger.format.tlog_wire import TlogProofFile
from ledger.log.proofs import InclusionProof

__all__ = [
    "VerifiedTlogProof",
    "tlog_proof_from",
    "verify_tlog_proof",
]


@dataclass(frozen=True)
class VerifiedTlogProof:
    """What a valid tlog-proof shows."""

    envelope: Envelope
    leaf_index: int
    checkpoint: Checkpoint
    cosigners: tuple[Verifier, ...]


def tlog_proof_from(proof: InclusionProof) -> bytes:
    """The tlog-proof file of an inclusion proof (envelope as ``extra``)."""
    return TlogProofFile(
        proof.envelope, proof.leaf_index, tuple(proof.hashes), proof.checkpoint
    ).to_bytes()


def verify_tlog_proof(data: bytes, log: Verifier, policy: TlogPolicy) -> VerifiedTlogProof:
    """Check a tlog-proof file of this project's log; return what it shows. Pure.

    Steps, each raising its own :class:`~ledger.errors.LedgerError`:

    1. parse the file (c2sp.org/tlog-proof, "Format"): ``FormatError``;
    2. the ``extra`` data is present and is one envelope in its canonical
       encoding (docs/format.md 4.1): ``FormatError`` / ``NonCanonicalError``;
    3. the checkpoint carries a valid signature by ``log`` and its origin is the
       log's (8.4): ``NoteError`` / ``UnverifiedNoteError`` / ``CheckpointError``;
    4. its cosignatures meet ``policy``'s quorum (``UnwitnessedError``; under
       ``quorum none`` every checkpoint does, with no cosigner);
    5. ``H(0x00 || extra)`` at ``index`` with the proof lines reaches the
       checkpoint's root at its size (RFC 9162 2.1.3.2): ``InclusionProofError``
       / ``RootMismatchError``.

    Steps 2, 3 and 5 are :meth:`ledger.log.tlog.InclusionProof.verify` (the check
    of the JSON inclusion proof file, 8.7), run before step 4. The envelope's
    signature is not checked here: that needs the signer's grant chain (``ledger
    verify-statement`` or a dossier); this proves the bytes are in the log the
    witnesses saw.
    """
    parsed = TlogProofFile.parse(data)  # (1)
    if parsed.extra is None:  # (2)
        raise FormatError("tlog-proof has no extra line: it must carry the envelope")
    inclusion = InclusionProof(parsed.extra, parsed.index, parsed.checkpoint, list(parsed.proof))
    envelope = inclusion.verify(log)  # (2), (3) and (5)
    cosigners = tuple(policy.verify_quorum(parsed.checkpoint, log))  # (4)
    checkpoint = Checkpoint.parse(parse_note(parsed.checkpoint).text)
    return VerifiedTlogProof(envelope, parsed.index, checkpoint, cosigners)
