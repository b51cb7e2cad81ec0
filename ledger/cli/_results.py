"""``ledger results``: each contest's determined totals and outcome, in local time.

Before a contest is determined it shows the state of its recaps and what its
latest top recap says, never an outcome: only the KPU's determination has one
(docs/format.md 5.14). The kolom kosong is shown as a column, never as a pair.
"""

from __future__ import annotations

import argparse
from typing import Any

from ledger.cli._common import (
    Commands,
    add_key_arg,
    add_ledger_arg,
    add_time_arg,
    load_key,
    open_ledger,
    print_json,
    print_table,
)
from ledger.cli._core import _submit
from ledger.cli._views import _common, _store
from ledger.errors import UnknownEventError
from ledger.format.outcome import KOLOM_KOSONG, NEW_ELECTION
from ledger.format.regions import parse_contest_id, recap_stream, result_stream
from ledger.format.signing import determination_body
from ledger.format.statement import parse_event_hash
from projections.outcomes import results


def register(commands: Commands) -> None:
    p = commands.add_parser(
        "results", help="each contest's determined totals and outcome (or its recaps so far)"
    )
    _common(p)
    p.add_argument("--contest", help="contest id (default: every contest)")
    p.set_defaults(handler=cmd_results)

    p = commands.add_parser(
        "determine", help="(KPU of the contest's region) determine a contest's result"
    )
    add_ledger_arg(p)
    add_key_arg(p, "KPU provinsi (gubernur) or KPU kab/kota key")
    add_time_arg(p)
    p.add_argument("--contest", required=True, help="e.g. bupati-33.16")
    p.add_argument("--recap", metavar="HASH", help="the top recap determined (default: its latest)")
    p.add_argument("--decree", required=True, help="the decree's number")
    p.add_argument(
        "--announced", type=int, required=True, metavar="UNIX", help="when it was announced"
    )
    p.add_argument(
        "--elected",
        type=int,
        metavar="BALLOT",
        help="only on a tie: the tied pair the tie rule elects",
    )
    p.set_defaults(handler=cmd_determine)


def cmd_determine(args: argparse.Namespace) -> int:
    """Sign the determination of the top recap's figures, with the law's outcome."""
    _, region = parse_contest_id(args.contest)
    key = load_key(args.key)
    with open_ledger(args) as ledger:
        contest = ledger.contests().get(args.contest)
        if contest is None:
            raise UnknownEventError(f"contest {args.contest} is not defined")
        top = ledger.stream(recap_stream(args.contest, region))
        wanted = parse_event_hash(args.recap) if args.recap else None
        recap = next((e for e in reversed(top) if wanted in (None, e.hash)), None)
        if recap is None:
            raise UnknownEventError(
                f"no recap {args.recap or ''} in {recap_stream(args.contest, region)}".replace(
                    "  ", " "
                )
            )
        body = determination_body(
            recap.hash,
            args.decree,
            args.announced,
            recap.statement.body["totals"],
            kolom_kosong=contest.kolom_kosong,
            office=contest.office,
            elected=args.elected,
        )
        return _submit(args, ledger, key, result_stream(args.contest), "determination", body)


def _share(votes: int, valid: int) -> str:
    # Two decimals, rounded half up in integers: for reading only, never for a rule.
    if valid <= 0:
        return "-"
    hundredths = (votes * 10_000 * 2 + valid) // (2 * valid)
    return f"{hundredths // 100}.{hundredths % 100:02d}%"


def _outcome_line(row: dict[str, Any]) -> str:
    d = row["determination"]
    if d["outcome"] == NEW_ELECTION:
        return f"outcome: NEW ELECTION ({d['rule']})"
    column = next(c for c in row["columns"] if c["number"] == d["elected"])
    return f"outcome: {column['label']} elected, {column['name']} ({d['rule']})"


def cmd_results(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        store = _store(args, ledger)
        rows = results(store, args.contest)
    if args.json:
        print_json({"position": store.position, "results": rows})
        return 0
    for i, row in enumerate(rows):
        if i:
            print()
        print(f"{row['name']} ({row['contest']}), times in {row['zone']}")
        d = row["determination"]
        recaps = ", ".join(f"{n} {level}" for level, n in row["recaps"].items())
        if d is None:
            top = row["top_recap"]
            print(f"not determined yet; recaps signed: {recaps}")
            if top is None:
                continue
            print(f"the top recap (position {top['leaf']}) shows, not yet determined:")
            totals = top["totals"]
        else:
            print(
                f"determined by decree {d['decree']}, announced {d['announced_local']} "
                f"(position {d['leaf']})"
            )
            totals = d["totals"]
        body = [
            [
                c["label"] if c["label"] == KOLOM_KOSONG else c["number"],
                c["name"] if not c["kolom_kosong"] else KOLOM_KOSONG,
                f"{totals['votes'][str(c['number'])]:,}",
                _share(totals["votes"][str(c["number"])], totals["valid"]),
            ]
            for c in row["columns"]
        ]
        body.append(["", "valid", f"{totals['valid']:,}", ""])
        body.append(["", "invalid", f"{totals['invalid']:,}", ""])
        print_table(["ballot", "candidates", "votes", "share"], body, right=[2, 3])
        if d is None:
            continue
        print(_outcome_line(row))
        if d["differs_from_recap"]:
            print(f"FINDING: the determination differs from its recap: {d['differs_from_recap']}")
        elif d["differs_from_recap"] is None:
            print("FINDING: the recap the determination names is not in the ledger")
        holidays = "" if d["holidays_known"] else " (no schedule: weekends only)"
        print(
            f"petitions to the Constitutional Court until {d['filing_deadline_local']} "
            f"(3 working days after the announcement{holidays})"
        )
    return 0
