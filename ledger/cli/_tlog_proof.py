"""``proof tlog-proof`` (build) and the c2sp.org/tlog-proof half of ``proof verify``.

A tlog-proof must meet the quorum of the trust policy (docs/format.md 8.12):
``--policy FILE``, else the one the trust roots file embeds.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ledger.checks.verify import tlog_policy
from ledger.cli._common import add_ledger_arg, open_ledger, write_bytes
from ledger.errors import ConfigurationError, FormatError, UnknownEventError
from ledger.format.note import Verifier
from ledger.format.policy import TlogPolicy
from ledger.format.tlog_wire import TLOG_PROOF_HEADER
from ledger.format.trust import policy_from_json
from ledger.log.tlog import TransparencyLog
from ledger.log.tlog_proof import tlog_proof_from, verify_tlog_proof

__all__ = ["cmd_verify", "is_tlog_proof", "register", "trust_policy"]

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
        "--policy",
        metavar="FILE",
        help="trust policy whose quorum the checkpoint must meet "
        "(default: the one DIR/trust.json embeds)",
    )
    a.add_argument("-o", "--output", default="-", metavar="FILE", help="default: stdout")
    a.set_defaults(handler=cmd_build)


def is_tlog_proof(data: bytes) -> bool:
    """Whether ``data`` claims to be a tlog-proof file (its first line)."""
    return data.startswith(TLOG_PROOF_HEADER.encode() + b"\n")


def trust_policy(policy_file: str | None, trust_file: Path, log: Verifier) -> TlogPolicy:
    """``policy_file`` if given, else the policy ``trust_file`` (if a file) embeds; for ``log``."""
    embedded = policy_from_json(trust_file.read_bytes()) if trust_file.is_file() else None
    policy = tlog_policy(policy_file, embedded)
    if policy is None:
        raise ConfigurationError(
            "no trust policy: give --policy FILE, or a trust.json that embeds one"
        )
    policy.require_log(log.vkey)
    return policy


def _witnessed(policy: TlogPolicy, cosigners: tuple[Verifier, ...]) -> str:
    if policy.unwitnessed:
        return "NOT independently witnessed (the trust policy says quorum none)"
    return f"cosigned by {', '.join(w.name for w in cosigners)}"


def cmd_verify(args: argparse.Namespace, log: Verifier, data: bytes) -> int:
    """``proof verify`` of a tlog-proof: offline, against the log key and the quorum."""
    policy = trust_policy(args.policy, Path(args.log), log)
    shown = verify_tlog_proof(data, log, policy)
    statement = shown.envelope.statement
    print(
        f"OK: event {shown.envelope.hash.hex()} ({statement.stream} seq {statement.seq}) is "
        f"leaf {shown.leaf_index} of the log's checkpoint {shown.checkpoint.size}, "
        f"{_witnessed(policy, shown.cosigners)}"
    )
    return 0


def cmd_build(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        log = TransparencyLog(ledger)
        quorum = trust_policy(args.policy, Path(args.ledger) / _TRUST, log.log_verifier)
        if args.stream is not None:
            if args.seq is None:
                raise FormatError("--stream needs --seq")
            leaf = log.ledger.log_store.leaf_by_stream(args.stream, args.seq)
            if leaf is None:
                raise UnknownEventError(f"stream {args.stream} has no event at seq {args.seq}")
            index = leaf.leaf_index
        else:
            index = args.leaf
        if args.size is None:
            tlog_proof = log.tlog_proof(index, quorum)  # checked before it is returned
        else:
            tlog_proof = tlog_proof_from(log.inclusion_proof(index, args.size))
            verify_tlog_proof(tlog_proof, log.log_verifier, quorum)  # never hand out a bad proof
    write_bytes(args.output, tlog_proof)
    return 0
