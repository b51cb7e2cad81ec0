"""Dispute dossier commands: build one from a ledger, verify one offline."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ledger.checks.dossier import DossierReport, verify_dossier
from ledger.checks.verify import TrustPolicy, load_policy, tlog_policy
from ledger.cli._common import (
    Commands,
    add_json_arg,
    add_ledger_arg,
    open_ledger,
    print_json,
    read_bytes,
    write_bytes,
)
from ledger.cli._verify import add_trust_args, print_failures, print_totals
from ledger.errors import FormatError, LedgerError
from ledger.format.dossier import parse_subject
from ledger.format.jsoninput import MAX_DOSSIER_SIZE
from ledger.format.outcome import NEW_ELECTION, column_name
from ledger.format.timezones import local_time_text
from ledger.format.trust import policy_from_json
from ledger.log.dossier import build_dossier

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
        "--policy",
        metavar="FILE",
        help="prove against the latest checkpoint that meets this trust policy "
        "(default: the one DIR/trust.json embeds)",
    )
    p.set_defaults(handler=cmd_dossier)

    p = commands.add_parser("verify-dossier", help="verify a dossier offline against trust roots")
    p.add_argument("file", metavar="FILE", help="a dossier ('-' for stdin)")
    add_trust_args(p)
    p.add_argument(
        "--population",
        type=int,
        metavar="N",
        help="population of the contest's region: report the Article 158 margin",
    )
    p.add_argument(
        "--petitioner",
        type=int,
        metavar="BALLOT",
        help="the petitioner's ballot number (the kolom kosong's for a monitor petitioning "
        "for it); default the strongest column after the winner",
    )
    add_json_arg(p)
    p.set_defaults(handler=cmd_verify_dossier)


def cmd_dossier(args: argparse.Namespace) -> int:
    # A dossier is proved against the latest checkpoint that meets the trust
    # policy: --policy, else the one the ledger directory's trust.json embeds.
    trust = Path(args.ledger) / "trust.json"
    embedded = policy_from_json(trust.read_text()) if trust.is_file() else None
    policy = tlog_policy(args.policy, embedded)
    with open_ledger(args) as ledger:
        if policy is not None:
            TrustPolicy(ledger.trust, policy)  # its log line must be this ledger's
        data = build_dossier(ledger, args.subject, policy=policy)
    write_bytes(args.output, data)
    if args.output != "-":
        print(f"wrote the dossier of {args.subject} to {args.output}", file=sys.stderr)
    return 0


def cmd_verify_dossier(args: argparse.Namespace) -> int:
    policy = load_policy(args.trust, args.policy)
    if args.population is not None and args.population <= 0:
        raise FormatError("--population must be a positive number")
    report = verify_dossier(
        read_bytes(args.file, MAX_DOSSIER_SIZE),
        policy,
        population=args.population,
        petitioner=args.petitioner,
    )
    if args.json:
        print_json(report.to_json())
    else:
        print_dossier_report(report)
    return 0 if report.ok else EXIT_FAILED


def _votes(entry: dict[str, object], kolom_kosong: int | None = None) -> str:
    votes = entry["votes"]
    assert isinstance(votes, dict)
    pairs = ", ".join(f"{column_name(n, kolom_kosong)} {v:,}" for n, v in votes.items())
    return (
        f"{pairs}; valid {entry['valid']:,}, invalid {entry['invalid']:,}, voted {entry['voted']:,}"
    )


def _kolom_kosong(report: DossierReport) -> int | None:
    """The empty column's number in the dossier's contest, if it has one."""
    try:
        contest = report.contests.get(parse_subject(report.subject)[1])
    except LedgerError:  # an unreadable subject is reported as a failure already
        return None
    return None if contest is None else contest.kolom_kosong


def _print_determination(d: dict[str, Any], kolom_kosong: int | None) -> None:
    region = d["region"]
    outcome = (
        "new election (UU 10/2016 Art. 54D)"
        if d["outcome"] == NEW_ELECTION
        else f"{column_name(d['elected'], kolom_kosong)} elected"
    )
    print(
        f"\n{d['stream']}: determination {d['hash'][:16]} at leaf {d['leaf']}, decree "
        f"{d['decree']}, announced {local_time_text(d['announced'], region)}: {outcome}"
    )
    print(f"  determined: {_votes(d['totals'], kolom_kosong)}")
    holidays = "" if d["holidays_known"] else " (no schedule: weekends only)"
    print(
        f"  petitions to the Constitutional Court until "
        f"{local_time_text(d['filing_deadline'], region)} (3 working days after the "
        f"announcement{holidays})"
    )


def print_dossier_report(report: DossierReport) -> None:
    print(f"dossier: {report.subject or '(unreadable)'}")
    if report.checkpoint_size is not None:
        cosigners = ", ".join(report.cosigned_by) or "no witness of the policy"
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
    kolom_kosong = _kolom_kosong(report)
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
            print(f"    {_votes(effective, kolom_kosong)}")
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
                f"by {recap['signer']}: {_votes(recap['totals'], kolom_kosong)}"
            )
        if report.determination is not None:
            _print_determination(report.determination, kolom_kosong)
        print_totals(report.totals, None)
        if report.margin is not None:
            print(f"\nmargin: {report.margin.describe()}")
        elif report.margin_error:
            print(f"\nmargin: {report.margin_error}")
        else:
            print("\nmargin: give --population to check the Article 158 threshold")
    holds = "every proof, signature, grant chain and stream chain holds"
    if not report.ok:
        print("VERDICT: FAILED - the dossier does not verify against these trust roots and policy")
    elif report.quorum_none:
        print(f"VERDICT: OK - {holds}; NOT independently witnessed (quorum none)")
    else:
        print(f"VERDICT: OK - {holds}, and the checkpoint is witnessed")
