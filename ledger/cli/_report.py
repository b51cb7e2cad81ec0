"""Bawaslu's commands: the signature report of a region, one statement, one receipt."""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
from typing import IO, Any

from ledger.checks.report import bawaslu_report, verify_statement
from ledger.checks.verify import load_policy
from ledger.cli._common import Commands, add_json_arg, print_json, print_table, read_bytes
from ledger.cli._verify import add_tail_arg, add_trust_args
from ledger.errors import FormatError
from ledger.format.jsoninput import MAX_DOSSIER_SIZE

EXIT_FAILED = 1


def register(commands: Commands) -> None:
    p = commands.add_parser(
        "report", help="Bawaslu's signature report of a region, from a verified export"
    )
    p.add_argument("file", metavar="EXPORT", help="an export file ('-' for stdin)")
    add_trust_args(p)
    add_tail_arg(p)
    p.add_argument("--region", required=True, metavar="CODE", help="region code, e.g. 33.16.09")
    add_json_arg(p)
    p.set_defaults(handler=cmd_report)

    p = commands.add_parser(
        "verify-statement", help="verify one signed envelope (a file, or QR base64 text)"
    )
    p.add_argument("file", metavar="FILE_OR_-", help="the envelope, raw or base64 ('-': stdin)")
    add_trust_args(p)
    p.add_argument(
        "--chain",
        metavar="DOSSIER_OR_EXPORT",
        help="where to find the signer's grant chain (a dossier or an export)",
    )
    add_json_arg(p)
    p.set_defaults(handler=cmd_verify_statement)


def _open_export(path: str) -> IO[bytes]:
    """The export as a seekable file (stdin is spooled: the report reads it twice)."""
    if path == "-":
        spool = tempfile.TemporaryFile()  # noqa: SIM115 - closed by the caller
        shutil.copyfileobj(sys.stdin.buffer, spool)
        spool.seek(0)
        return spool
    try:
        return open(path, "rb")
    except OSError as e:
        raise FormatError(f"cannot read {path}: {e.strerror}") from e


def cmd_report(args: argparse.Namespace) -> int:
    policy = load_policy(args.trust, args.policy)
    with _open_export(args.file) as stream:
        report = bawaslu_report(
            stream, policy, args.region, accept_unwitnessed_tail=args.accept_unwitnessed_tail
        )
    if args.json:
        print_json(report)
    else:
        print_bawaslu_report(report)
    return 0 if report["verification"]["ok"] else EXIT_FAILED


def _sheet_lines(rows: list[dict[str, Any]], extra: str = "") -> None:
    for row in rows:
        more = f"  {extra}: {', '.join(map(str, row[extra]))}" if extra else ""
        print(f"  {row['stream']}{more}")


def print_bawaslu_report(report: dict[str, Any]) -> None:
    verification = report["verification"]
    checkpoint = verification["checkpoint"]
    where = (
        f"latest checkpoint {checkpoint['size']:,} cosigned by "
        f"{', '.join(checkpoint['cosigned_by']) or 'no witness of the policy'}"
        if checkpoint
        else "no checkpoint"
    )
    tail = verification["unwitnessed_tail"]
    if not verification["ok"]:
        failures = ", ".join(f"{n} {name}" for name, n in verification["failures"].items())
        print(f"export: FAILED verification ({failures}); what follows is NOT verified")
    elif verification["quorum_none"]:
        print(
            f"export: verified OK ({verification['leaves']:,} events; {where}); "
            "NOT independently witnessed (the trust policy says quorum none)"
        )
    elif tail:
        print(
            f"export: verified OK up to checkpoint {verification['witnessed']:,} ({where}); "
            f"the {tail:,} events after it are NOT witnessed and NOT in this report"
        )
    else:
        print(f"export: verified OK ({verification['leaves']:,} events, all witnessed; {where})")
    if tail and not verification["ok"]:
        print(
            f"unwitnessed tail: {tail:,} events after checkpoint {verification['witnessed']:,} "
            "(not in this report; --accept-unwitnessed-tail accepts them as the log's word)"
        )
    sheets = report["sheets"]
    print(f"region {report['region']}: {sheets['total']:,} sheets ({sheets['counted']:,} counted)")
    print(f"\nsheets without a PTPS attestation: {len(report['without_ptps'])}")
    _sheet_lines(report["without_ptps"])
    print(f"\nsheets without any saksi attestation: {len(report['without_saksi'])}")
    _sheet_lines(report["without_saksi"])
    print(f"\nsheets missing a pair's saksi: {len(report['missing_pairs'])}")
    _sheet_lines(report["missing_pairs"], "missing_pairs")
    print(f"\nstanding objections (unanswered): {len(report['standing_objections'])}")
    for o in report["standing_objections"]:
        who = f"saksi pair {o['pair']}" if o["role"] == "saksi" else o["role"]
        print(
            f"  {o['stream']}: {o['objection'][:16]} at leaf {o['leaf']} by {who} "
            f"({o['label']}): {o['reason']}"
        )
    print(f"\nkeys that signed in the region: {len(report['signers'])}")
    rows = [
        [
            s["key_id"][:16],
            s["role"] + (" (revoked)" if s["revoked"] else ""),
            s["scope"] or "-",
            s["label"],
            ", ".join(f"{n} {kind}" for kind, n in s["statements"].items()),
        ]
        for s in report["signers"]
    ]
    if rows:
        print_table(["key id", "role", "scope", "label", "statements"], rows)
    if report["findings"]:
        print("\nfindings: " + ", ".join(f"{n} {k}" for k, n in report["findings"].items()))


def cmd_verify_statement(args: argparse.Namespace) -> int:
    policy = load_policy(args.trust, args.policy)
    chain = read_bytes(args.chain, MAX_DOSSIER_SIZE) if args.chain else None
    result = verify_statement(read_bytes(args.file), policy, chain=chain)
    if args.json:
        print_json(result.to_json())
        return 0 if result.ok else EXIT_FAILED
    if result.event_hash:
        print(f"statement: {result.kind} in {result.stream} seq {result.seq}")
        print(f"event hash: {result.event_hash}")
        print(f"signer: {result.signer}")
    for check in result.checked:
        print(f"checked: {check}")
    for check in result.unchecked:
        print(f"not checked: {check}")
    for name, message in result.failures:
        print(f"FAILED: {name}: {message}")
    print("VERDICT: OK" if result.ok else "VERDICT: FAILED")
    return 0 if result.ok else EXIT_FAILED
