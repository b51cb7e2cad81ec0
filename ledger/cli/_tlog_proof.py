"""``proof tlog-proof`` (build) and the c2sp.org/tlog-proof half of ``proof verify``.

The quorum a tlog-proof must meet is, for now, every witness the trust roots
file lists plus every ``--witness``: the tlog-policy of issue 10 replaces this
with its quorum when it reaches this branch (see ``_quorum``).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ledger.cli._common import add_ledger_arg, open_ledger, write_bytes
from ledger.errors import (
    ConfigurationError,
    FormatError,
    LedgerError,
    UnknownEventError,
    UnverifiedNoteError,
)
from ledger.format.note import Checkpoint, Verifier, parse_note
from ledger.format.tlog_wire import TLOG_PROOF_HEADER
from ledger.format.trust import witnesses_from_json
from ledger.log.tlog import TransparencyLog
from ledger.log.tlog_proof import WitnessQuorum, tlog_proof_from, verify_tlog_proof

__all__ = ["cmd_verify", "is_tlog_proof", "register"]

_TRUST = "trust.json"


def register(proof_commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``tlog-proof`` to the ``proof`` command group."""
    a = proof_commands.add_parser(
        "tlog-proof",
        help="write a c2sp.org/tlog-proof of an event inside a witnessed checkpoint",
    )
    add_ledger_arg(a)
    where = a.add_mutually_exclusive_group(required=True)
    where.add_argument("--leaf", type=int, metavar="INDEX")
    where.add_argument("--stream", metavar="STREAM")
    a.add_argument("--seq", type=int, help="with --stream: the event's seq")
    a.add_argument(
        "--size",
        type=int,
        help="checkpoint size (default: the latest stored checkpoint that holds the event "
        "and meets the quorum)",
    )
    a.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="VKEY",
        help="also require this witness's cosignature (beside those DIR/trust.json lists)",
    )
    a.add_argument("-o", "--output", default="-", metavar="FILE", help="default: stdout")
    a.set_defaults(handler=cmd_build)


def is_tlog_proof(data: bytes) -> bool:
    """Whether ``data`` claims to be a tlog-proof file (its first line)."""
    return data.startswith(TLOG_PROOF_HEADER.encode() + b"\n")


def _quorum(trust_file: Path | None, extra: list[str]) -> WitnessQuorum:
    listed = witnesses_from_json(trust_file.read_text()) if trust_file is not None else ()
    witnesses = (*listed, *(Verifier.parse(v) for v in extra))
    if not witnesses:
        raise ConfigurationError(
            "a tlog-proof is only as good as its witnesses: name them in trust.json or "
            "with --witness"
        )
    return WitnessQuorum.all_of(witnesses)


def cmd_verify(args: argparse.Namespace, log: Verifier, data: bytes) -> int:
    """``proof verify`` of a tlog-proof: offline, against the log key and the quorum."""
    trust = Path(args.log) if Path(args.log).is_file() else None
    shown = verify_tlog_proof(data, log, _quorum(trust, args.witness))
    statement = shown.envelope.statement
    names = ", ".join(w.name for w in shown.cosigners)
    print(
        f"OK: event {shown.envelope.hash.hex()} ({statement.stream} seq {statement.seq}) is "
        f"leaf {shown.leaf_index} of the log's checkpoint {shown.checkpoint.size}, "
        f"cosigned by {names}"
    )
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    trust = Path(args.ledger) / _TRUST
    quorum = _quorum(trust if trust.is_file() else None, args.witness)
    with open_ledger(args) as ledger:
        log = TransparencyLog(ledger)
        if args.stream is not None:
            if args.seq is None:
                raise FormatError("--stream needs --seq")
            leaf = log.ledger.log_store.leaf_by_stream(args.stream, args.seq)
            if leaf is None:
                raise UnknownEventError(f"stream {args.stream} has no event at seq {args.seq}")
            index = leaf.leaf_index
        else:
            index = args.leaf
        size = args.size if args.size is not None else _witnessed_size(log, index, quorum)
        proof = log.inclusion_proof(index, size)
    tlog_proof = tlog_proof_from(proof)
    verify_tlog_proof(tlog_proof, log.log_verifier, quorum)  # never hand out a bad proof
    write_bytes(args.output, tlog_proof)
    return 0


def _witnessed_size(log: TransparencyLog, index: int, quorum: WitnessQuorum) -> int:
    """The size of the latest stored checkpoint holding leaf ``index`` that meets ``quorum``."""
    for note in reversed(log.checkpoints()):
        size = Checkpoint.parse(parse_note(note).text).size
        if size <= index:
            break
        try:
            quorum.verify_quorum(note, log.log_verifier)
        except LedgerError:
            continue
        return size
    raise UnverifiedNoteError(
        f"no stored checkpoint holding leaf {index} is cosigned by "
        f"{', '.join(w.name for w in quorum.witnesses)} (collect cosignatures first)"
    )
