"""Dispute dossier commands: build one from a ledger, verify one offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ledger.checks.dossier import DossierReport, build_dossier, verify_dossier
from ledger.cli._common import (
    Commands,
    add_json_arg,
    add_ledger_arg,
    open_ledger,
    print_json,
    read_bytes,
    write_bytes,
)
from ledger.cli._verify import add_trust_args, load_policy, print_failures, print_totals
from ledger.errors import FormatError
from ledger.format.jsoninput import MAX_DOSSIER_SIZE, read_limited
from ledger.format.note import Verifier
from ledger.format.trust import witnesses_from_json

EXIT_FAILED = 1


def register(commands: Commands) -> None:
    p = commands.add_parser(
        "dossier", help="write the self-contained, offline-checkable dossier of a sheet or contest"
    )
    add_ledger_arg(p)
    p.add_argument(
        "subject",
        metavar="SUBJECT",
        help="a sheet stream id (sheet:bupati-33.16:33.16.09.1016/007) or a contest id (bupati-33.16)",
    )
    p.add_argument(
        "-o", "--output", required=True, metavar="FILE", help="output file ('-': stdout)"
    )
    p.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="VKEY",
        help="prove against the latest checkpoint cosigned by this witness (repeat)",
    )
    p.set_defaults(handler=cmd_dossier)

    p = commands.add_parser("verify-dossier", help="verify a dossier offline against trust roots")
    p.add_argument("file", metavar="FILE", help="a dossier ('-' for stdin)")
    add_trust_args(p, "require and count cosignatures by this witness (besides the trust file's)")
    p.add_argument(
        "--population",
        type=int,
        metavar="N",
        help="population of the contest's region: report the Article 158 margin",
    )
    add_json_arg(p)
    p.set_defaults(handler=cmd_verify_dossier)


def cmd_dossier(args: argparse.Namespace) -> int:
    # By default, the witnesses the ledger directory's trust file lists: a
    # dossier is proved against a checkpoint they cosigned.
    witnesses = [Verifier.parse(v) for v in args.witness] or list(_directory_witnesses(args.ledger))
    with open_ledger(args) as ledger:
        data = build_dossier(ledger, args.subject, witnesses=witnesses or None)
    write_bytes(args.output, data)
    if args.output != "-":
        print(f"wrote the dossier of {args.subject} to {args.output}", file=sys.stderr)
    return 0


def _directory_witnesses(directory: str) -> tuple[Verifier, ...]:
    path = Path(directory) / "trust.json"
    return witnesses_from_json(read_limited(path, "trust roots file")) if path.is_file() else ()


def cmd_verify_dossier(args: argparse.Namespace) -> int:
    policy = load_policy(args.trust, args.witness)
    if args.population is not None and args.population <= 0:
        raise FormatError("--population must be a positive number")
    report = verify_dossier(
        read_bytes(args.file, MAX_DOSSIER_SIZE), policy, population=args.population
    )
    if args.json:
        print_json(report.to_json())
    else:
        print_dossier_report(report)
    return 0 if report.ok else EXIT_FAILED


def _votes(entry: dict[str, object]) -> str:
    votes = entry["votes"]
    assert isinstance(votes, dict)
    pairs = ", ".join(f"pair {n} {v:,}" for n, v in votes.items())
    return (
        f"{pairs}; valid {entry['valid']:,}, invalid {entry['invalid']:,}, voted {entry['voted']:,}"
    )


def print_dossier_report(report: DossierReport) -> None:
    print(f"dossier: {report.subject or '(unreadable)'}")
    if report.checkpoint_size is not None:
        cosigners = ", ".join(report.cosigned_by) or "no trusted witness"
        print(
            f"checkpoint: size {report.checkpoint_size:,}, root {report.checkpoint_root[:16]}, "
            f"cosigned by {cosigners}"
        )
    kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(report.events.items()))
    print(
        f"events: {report.leaves:,} in the dossier, each proved against the checkpoint; "
        f"verified {sum(report.events.values()):,} ({kinds})"
    )
    print_failures(report, "dossier")
    for sheet in report.sheets:
        effective = sheet["effective"]
        print(f"\n{sheet['stream']}: {sheet['events']} events")
        if effective is None:
            print("  no verified count")
        else:
            what = "corrected to" if sheet["corrected"] else "counted"
            print(
                f"  effective tally ({what}, {effective['kind']} {effective['hash'][:16]} "
                f"at leaf {effective['leaf']}, by {effective['signer']}):"
            )
            print(f"    {_votes(effective)}")
            for flag in effective["flags"]:
                print(f"    flag: {flag}")
        for a in sheet["attestations"]:
            who = f"saksi pair {a['pair']}" if a["role"] == "saksi" else a["role"]
            reason = f": {a['reason']}" if a["reason"] else ""
            print(f"  {a['verdict']} by {who} ({a['label']}) on {a['event'][:16]}{reason}")
    if report.subject and not report.subject.startswith("sheet:"):
        for recap in report.recaps:
            print(
                f"\n{recap['stream']}: latest recap {recap['hash'][:16]} at leaf {recap['leaf']} "
                f"by {recap['signer']}: {_votes(recap['totals'])}"
            )
        print_totals(report.totals, None)
        if report.margin is not None:
            print(f"\nmargin: {report.margin.describe()}")
        elif report.margin_error:
            print(f"\nmargin: {report.margin_error}")
        else:
            print("\nmargin: give --population to check the Article 158 threshold")
    print(
        "VERDICT: OK - every proof, signature, grant chain and stream chain holds"
        if report.ok
        else "VERDICT: FAILED - the dossier does not verify against these trust roots"
    )
