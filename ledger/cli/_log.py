"""Transparency-log commands: checkpoints, witnessing, proofs and receipts."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from keys import KeyDir, passphrase_from
from ledger.checks.verify import tlog_policy
from ledger.cli import _cosign, _tlog_proof, _witness
from ledger.cli._common import (
    PASSPHRASE_ENV,
    Commands,
    add_ledger_arg,
    log_signer,
    open_ledger,
    read_bytes,
    write_bytes,
)
from ledger.cli._verify import add_tail_arg
from ledger.errors import ConfigurationError, FormatError, UnwitnessedError
from ledger.format.jsoninput import read_limited
from ledger.format.note import Checkpoint, Verifier, parse_note
from ledger.format.policy import TlogPolicy
from ledger.format.trust import policy_from_json, trust_from_json
from ledger.log.proofs import ConsistencyProof, InclusionProof, Receipt
from ledger.log.tlog import TransparencyLog
from ledger.log.witness import WITNESS_KEY, Witness


def register(commands: Commands) -> None:
    p = commands.add_parser("checkpoint", help="issue, show or store checkpoints of the log")
    sub = p.add_subparsers(dest="checkpoint_command", metavar="ACTION", required=True)
    a = sub.add_parser("issue", help="sign a checkpoint of the whole log with the log key")
    add_ledger_arg(a)
    a.add_argument(
        "-o", "--output", default="-", metavar="FILE", help="write the note here (default: stdout)"
    )
    a.set_defaults(handler=cmd_checkpoint_issue)
    a = sub.add_parser("show", help="print a stored checkpoint (default: the latest)")
    add_ledger_arg(a)
    a.add_argument("--size", type=int)
    a.set_defaults(handler=cmd_checkpoint_show)
    a = sub.add_parser(
        "add-cosignature", help="store a witness's cosignature of an issued checkpoint"
    )
    add_ledger_arg(a)
    a.add_argument("file", metavar="FILE", help="the cosigned checkpoint note")
    a.add_argument(
        "--policy",
        metavar="FILE",
        help="trust policy whose witnesses' cosignatures to store "
        "(default: the one DIR/trust.json embeds)",
    )
    a.set_defaults(handler=cmd_checkpoint_add_cosignature)
    _cosign.register(sub)

    p = commands.add_parser("witness", help="act as an independent witness (e.g. Bawaslu)")
    sub = p.add_subparsers(dest="witness_command", metavar="ACTION", required=True)
    a = sub.add_parser("init", help="create a witness: a cosigning key and a state directory")
    a.add_argument("directory", metavar="DIR")
    a.add_argument("--name", required=True, help="witness key name, e.g. bawaslu.go.id/witness")
    a.set_defaults(handler=cmd_witness_init)
    a = sub.add_parser(
        "cosign", help="verify a checkpoint and cosign it if it extends the last one"
    )
    a.add_argument("directory", metavar="DIR", help="witness directory (from `witness init`)")
    a.add_argument("checkpoint", metavar="CHECKPOINT", help="the log-signed checkpoint note")
    a.add_argument(
        "--log", required=True, metavar="VKEY_OR_TRUST", help="log verifier key, or a trust.json"
    )
    a.add_argument(
        "--proof",
        metavar="FILE",
        help="consistency proof (JSON) from the last cosigned size to this checkpoint",
    )
    a.add_argument("-o", "--output", default="-", metavar="FILE")
    a.add_argument("--time", type=int, metavar="UNIX", help="cosignature time (default: now)")
    a.set_defaults(handler=cmd_witness_cosign)
    _witness.register(sub)

    p = commands.add_parser("proof", help="print or verify inclusion and consistency proofs (JSON)")
    sub = p.add_subparsers(dest="proof_command", metavar="ACTION", required=True)
    a = sub.add_parser("inclusion", help="prove an event is in a checkpoint's tree")
    add_ledger_arg(a)
    where = a.add_mutually_exclusive_group(required=True)
    where.add_argument("--leaf", type=int, metavar="INDEX")
    where.add_argument("--stream", metavar="STREAM")
    a.add_argument("--seq", type=int, help="with --stream: the event's seq")
    a.add_argument("--size", type=int, help="checkpoint size (default: the latest checkpoint)")
    a.set_defaults(handler=cmd_proof_inclusion)
    a = sub.add_parser("consistency", help="prove one checkpoint's tree extends another's")
    add_ledger_arg(a)
    a.add_argument("--old", type=int, required=True, metavar="SIZE")
    a.add_argument("--new", type=int, metavar="SIZE", help="default: the latest checkpoint")
    a.set_defaults(handler=cmd_proof_consistency)
    a = sub.add_parser("verify", help="verify a proof file (JSON, or a .tlog-proof) offline")
    a.add_argument("file", metavar="FILE")
    a.add_argument(
        "--log", required=True, metavar="VKEY_OR_TRUST", help="log verifier key, or a trust.json"
    )
    a.add_argument(
        "--policy",
        metavar="FILE",
        help="trust policy (c2sp.org/tlog-policy) the checkpoint must meet "
        "(default: the one the trust.json given as --log embeds)",
    )
    add_tail_arg(a)
    a.set_defaults(handler=cmd_proof_verify)
    _tlog_proof.register(sub)

    p = commands.add_parser("receipt", help="verify a receipt the log signed")
    sub = p.add_subparsers(dest="receipt_command", metavar="ACTION", required=True)
    a = sub.add_parser("verify")
    a.add_argument("file", metavar="FILE")
    a.add_argument("--log", required=True, metavar="VKEY_OR_TRUST")
    a.set_defaults(handler=cmd_receipt_verify)


def log_verifier_arg(value: str) -> Verifier:
    """A log verifier key given inline, or read from a trust.json file."""
    if Path(value).is_file():
        return Verifier.parse(trust_from_json(read_limited(value, "trust roots file")).log_vkey)
    return Verifier.parse(value)


def _proof_policy(args: argparse.Namespace, log: Verifier) -> TlogPolicy:
    """--policy, else the policy the trust.json given as --log embeds; its log must be ``log``."""
    return _tlog_proof.trust_policy(args.policy, Path(args.log), log)


def cmd_checkpoint_issue(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        note = TransparencyLog(ledger).issue_checkpoint(log_signer(args, ledger))
    write_bytes(args.output, note)
    return 0


def cmd_checkpoint_show(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        log = TransparencyLog(ledger)
        note = log.checkpoint_at(args.size) if args.size is not None else log.latest_checkpoint()
    if note is None:
        raise ConfigurationError("the log has no checkpoint yet (run `ledger checkpoint issue`)")
    write_bytes("-", note)
    return 0


def cmd_checkpoint_add_cosignature(args: argparse.Namespace) -> int:
    trust = Path(args.ledger) / "trust.json"
    policy = tlog_policy(
        args.policy, policy_from_json(trust.read_text()) if trust.is_file() else None
    )
    if policy is None or not policy.witnesses:
        raise ConfigurationError(
            f"no witness to store cosignatures of: {trust} embeds no trust policy naming one "
            "(give --policy FILE)"
        )
    witnesses = list(policy.witnesses.values())
    with open_ledger(args) as ledger:
        note = TransparencyLog(ledger).add_cosignatures(read_bytes(args.file), witnesses)
    size = Checkpoint.parse(parse_note(note).text).size
    print(
        f"stored cosigned checkpoint of size {size} ({len(parse_note(note).signatures)} signatures)"
    )
    return 0


def cmd_witness_init(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    passphrase = passphrase_from(
        PASSPHRASE_ENV, "New passphrase for the witness key: ", confirm=True
    )
    KeyDir(directory).create(WITNESS_KEY, passphrase)
    (directory / "name").write_text(args.name + "\n")
    (directory / "state").mkdir()
    signer = _witness.witness_signer(directory)
    print(f"witness verifier key: {signer.verifier.vkey}")
    return 0


def cmd_witness_cosign(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    log = log_verifier_arg(args.log)
    note = read_bytes(args.checkpoint)
    hashes: list[bytes] = []
    if args.proof:
        proof = ConsistencyProof.from_json(read_bytes(args.proof))
        if parse_note(proof.new).text != parse_note(note).text:
            raise FormatError("the consistency proof does not end at this checkpoint")
        hashes = proof.hashes
    witness = Witness(_witness.witness_signer(directory), directory / "state", {log.name: log})
    now = int(time.time()) if args.time is None else args.time
    line = witness.cosign(note, hashes, now=now)
    write_bytes(args.output, note + line)
    return 0


def cmd_proof_inclusion(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        log = TransparencyLog(ledger)
        if args.stream is not None:
            if args.seq is None:
                raise FormatError("--stream needs --seq")
            proof = log.inclusion_proof_for(args.stream, args.seq, args.size)
        else:
            proof = log.inclusion_proof(args.leaf, args.size)
    print(proof.to_json())
    return 0


def cmd_proof_consistency(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        proof = TransparencyLog(ledger).consistency_proof(args.old, args.new)
    print(proof.to_json())
    return 0


def cmd_proof_verify(args: argparse.Namespace) -> int:
    log = log_verifier_arg(args.log)
    data = read_bytes(args.file)
    if _tlog_proof.is_tlog_proof(data):
        return _tlog_proof.cmd_verify(args, log, data)
    if b'"inclusion"' in data:
        inclusion = InclusionProof.from_json(data)
        envelope = inclusion.verify(log)
        note = inclusion.checkpoint
        claim = (
            f"event {envelope.hash.hex()} ({envelope.statement.stream} seq "
            f"{envelope.statement.seq}) is leaf {inclusion.leaf_index} of the checkpointed log"
        )
        tail = "the event lies in an unwitnessed checkpoint"
    else:
        consistency = ConsistencyProof.from_json(data)
        old, new = consistency.verify(log)
        note = consistency.new
        claim = f"the log of {new.size} leaves extends the log of {old.size} leaves"
        tail = f"checkpoint {new.size} is not witnessed"
    size = Checkpoint.parse(parse_note(note).text).size
    policy = _proof_policy(args, log)
    if policy.unwitnessed:
        print(f"OK: {claim}; NOT independently witnessed (the trust policy says quorum none)")
        return 0
    try:
        cosigners = policy.verify_quorum(note, log)
    except UnwitnessedError as e:
        if not args.accept_unwitnessed_tail:
            raise UnwitnessedError(
                f"{tail} ({e}); --accept-unwitnessed-tail accepts it as the log's word"
            ) from e
        print(f"OK as the log's own word: {claim}; {tail} ({e})")
        return 0
    names = ", ".join(w.name for w in cosigners)
    print(f"OK: {claim}; checkpoint {size} witnessed by {names}")
    return 0


def cmd_receipt_verify(args: argparse.Namespace) -> int:
    receipt = Receipt.open(read_bytes(args.file), log_verifier_arg(args.log))
    print(
        f"OK: {receipt.origin} took event {receipt.event_hash.hex()} at leaf "
        f"{receipt.leaf_index} (the log's own word; no witness vouches for a receipt)"
    )
    return 0
