"""Projection commands: totals, sheets, recaps, trail, findings (live or as of a past point)."""

from __future__ import annotations

import argparse
from typing import Any

from ledger.cli._common import (
    Commands,
    add_json_arg,
    add_ledger_arg,
    open_ledger,
    print_json,
    print_table,
)
from ledger.errors import FormatError, UnknownEventError
from ledger.format.jsoninput import read_limited
from ledger.format.note import Verifier
from ledger.format.outcome import column_name
from ledger.format.regions import KECAMATAN
from ledger.format.timezones import time_text
from ledger.log.proofs import open_checkpoint
from ledger.log.tlog import TransparencyLog
from ledger.progress import Progress
from ledger.store.application import Ledger
from projections import follow, views
from projections.outcomes import kolom_kosong_of
from projections.recorder import PAGE, Projections, replay
from projections.store import Store


def register(commands: Commands) -> None:
    p = commands.add_parser("totals", help="vote totals by region level and contest")
    _common(p)
    p.add_argument("--contest", help="contest id (default: every contest)")
    p.add_argument("--level", default=KECAMATAN, choices=views.REGION_LEVELS)
    p.add_argument("--region", default="", help="only regions within this code")
    p.set_defaults(handler=cmd_totals)

    p = commands.add_parser(
        "sheets", help="per-sheet status: counted, attested, objected, corrected"
    )
    _common(p)
    p.add_argument("--contest", required=True)
    p.add_argument("--region", default="")
    p.set_defaults(handler=cmd_sheets)

    p = commands.add_parser("recaps", help="each recap beside the sums of the heads it names")
    _common(p)
    p.add_argument("--contest", required=True)
    p.add_argument("--region", default="")
    p.set_defaults(handler=cmd_recaps)

    p = commands.add_parser("trail", help="the audit trail of a sheet, region or signer")
    _common(p)
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--stream", help="e.g. sheet:bupati-33.16:33.16.09.1016/007")
    which.add_argument("--region", help="every event at places within this code")
    which.add_argument("--signer", metavar="KEYID", help="every event signed by this key id (hex)")
    p.set_defaults(handler=cmd_trail)

    p = commands.add_parser(
        "findings", help="what a reviewer should look at, with the events that prove it"
    )
    _common(p)
    p.add_argument("--region", default="")
    p.add_argument("--kind", action="append", choices=views.FINDING_KINDS, help="only these kinds")
    p.add_argument(
        "--now",
        type=int,
        metavar="UNIX",
        help="the reviewer's clock: a TPS an order postponed is missing once this is past its "
        "deadline (default: no deadline has passed)",
    )
    p.set_defaults(handler=cmd_findings)

    p = commands.add_parser(
        "project", help="bring the live projection up to date (or rebuild it, or follow the log)"
    )
    add_ledger_arg(p)
    how = p.add_mutually_exclusive_group()
    how.add_argument(
        "--rebuild", action="store_true", help="forget it and apply the whole log again"
    )
    how.add_argument(
        "--follow",
        action="store_true",
        help="keep projecting what is appended until SIGTERM or Ctrl-C (`ledger serve` runs one)",
    )
    p.add_argument(
        "--page",
        type=int,
        default=PAGE,
        metavar="N",
        help=f"events projected and committed per transaction (default {PAGE})",
    )
    p.set_defaults(handler=cmd_project)


def _common(p: argparse.ArgumentParser) -> None:
    add_ledger_arg(p)
    add_json_arg(p)
    when = p.add_mutually_exclusive_group()
    when.add_argument(
        "--as-of",
        type=int,
        metavar="POSITION",
        help="as the first POSITION events of the log stood",
    )
    when.add_argument(
        "--checkpoint", metavar="FILE_OR_SIZE", help="as the log stood at this checkpoint"
    )


def _position(args: argparse.Namespace, ledger: Ledger) -> int | None:
    if args.as_of is not None:
        if args.as_of < 0:
            raise FormatError("--as-of must not be negative")
        return int(args.as_of)
    if args.checkpoint is None:
        return None
    if args.checkpoint.isdigit():
        note = TransparencyLog(ledger).checkpoint_at(int(args.checkpoint))
    else:
        note = read_limited(args.checkpoint, "checkpoint")
    return open_checkpoint(note, Verifier.parse(ledger.trust.log_vkey)).size


def _store(args: argparse.Namespace, ledger: Ledger) -> Store:
    """The live projection (brought up to date), or a replay to --as-of/--checkpoint."""
    position = _position(args, ledger)
    if position is None:
        projections = Projections(ledger)
        with Progress("projecting") as progress:
            projections.catch_up(progress=progress.advance)
        return projections.store()
    size = ledger.log_store.log_size()
    if position > size:
        raise UnknownEventError(f"the log has {size} events; there is no position {position}")
    with Progress("replaying", position) as progress:
        return replay(ledger, position, progress=progress.advance)


def _region_names() -> dict[str, str]:
    try:
        from ledger.pilkada.reference import load
    except ImportError:  # pragma: no cover - the data ships with the package
        return {}
    return load().regions


def cmd_totals(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        store = _store(args, ledger)
        wanted = [args.contest] if args.contest else [c["id"] for c in views.contests(store)]
        result = {c: views.totals(store, c, args.level, args.region) for c in wanted}
        contests = {c["id"]: c for c in views.contests(store)}
    if args.json:
        print_json({"position": store.position, "level": args.level, "totals": result})
        return 0
    names = _region_names()
    for contest_id, rows in result.items():
        numbers = [str(n) for n in contests[contest_id]["pairs"]]
        print(
            f"{contests[contest_id]['name']} ({contest_id}), by {args.level}, as of position {store.position}"
        )
        body = [
            [r["region"], names.get(r["region"], "")]
            + [f"{r['votes'][n]:,}" for n in numbers]
            + [
                f"{r['valid']:,}",
                f"{r['invalid']:,}",
                f"{r['sheets_reported']}/{r['sheets_expected']}",
            ]
            for r in rows
        ]
        total = {
            "votes": {n: sum(r["votes"][n] for r in rows) for n in numbers},
            "valid": sum(r["valid"] for r in rows),
            "invalid": sum(r["invalid"] for r in rows),
            "reported": sum(r["sheets_reported"] for r in rows),
            "expected": sum(r["sheets_expected"] for r in rows),
        }
        body.append(
            ["TOTAL", ""]
            + [f"{total['votes'][n]:,}" for n in numbers]
            + [
                f"{total['valid']:,}",
                f"{total['invalid']:,}",
                f"{total['reported']}/{total['expected']}",
            ]
        )
        headers = (
            ["region", "name"]
            + [column_name(n, kolom_kosong_of(contests[contest_id])) for n in numbers]
            + ["valid", "invalid", "sheets"]
        )
        print_table(headers, body, right=list(range(2, len(headers))))
        print()
    return 0


def cmd_sheets(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        store = _store(args, ledger)
        rows = views.sheet_status(store, args.contest, args.region)
    if args.json:
        print_json({"position": store.position, "sheets": rows})
        return 0
    body = [
        [
            r["tps"],
            "yes" if r["counted"] else "no",
            ",".join(map(str, r["pairs_attested"])) or "-",
            "yes" if r["ptps_attested"] else "no",
            f"{r['open_objections']}/{r['objections']}",
            "yes" if r["corrected"] else "no",
            "; ".join(r["flags"]) or "-",
        ]
        for r in rows
    ]
    print_table(
        ["tps", "counted", "saksi", "ptps", "objections open/all", "corrected", "flags"], body
    )
    return 0


def cmd_recaps(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        store = _store(args, ledger)
        rows = views.recap_checks(store, args.contest, args.region)
    if args.json:
        print_json({"position": store.position, "recaps": rows})
        return 0
    body = [
        [
            r["region"],
            f"{r['totals']['valid']:,}",
            f"{r['computed']['valid']:,}",
            ", ".join(f"{k} {v:+}" for k, v in r["difference"].items()) or "none",
            len(r["omitted"]),
            len(r["stale"]),
        ]
        for r in rows
    ]
    print_table(
        ["region", "stated valid", "computed valid", "difference", "omitted", "stale"],
        body,
        right=[1, 2, 4, 5],
    )
    return 0


def cmd_trail(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        store = _store(args, ledger)
        rows = views.trail(store, stream=args.stream, within=args.region, signer=args.signer)
    if args.json:
        print_json({"position": store.position, "events": rows})
        return 0
    body = []
    for r in rows:
        body.append(
            [
                r["leaf"],
                r["stream"] if not args.stream else r["seq"],
                r["kind"],
                r["role"],
                r["signer"][:12],
                time_text(r["time"], r["place"]),
                r["hash"][:16],
                _summary(r),
            ]
        )
    print_table(
        [
            "position",
            "stream" if not args.stream else "seq",
            "kind",
            "role",
            "signer",
            "time",
            "hash",
            "detail",
        ],
        body,
        right=[0, 5],
    )
    return 0


def _summary(row: dict[str, Any]) -> str:
    detail = row["detail"]
    kind = row["kind"]
    if kind in ("count",) or (kind == "recap"):
        totals = detail.get("totals", detail)
        return "votes " + " ".join(
            f"{n}:{v}" for n, v in sorted(totals["votes"].items(), key=lambda i: int(i[0]))
        )
    if kind == "determination":
        elected = f" pair {detail['elected']}" if detail.get("elected") else ""
        return f"{detail['outcome']}{elected}: {detail['decree']}"
    if kind == "attest":
        text = f"{detail['verdict']} {detail['event'][:12]}"
        return f"{text}: {detail['reason']}" if detail.get("reason") else text
    if kind == "correct":
        changes = ", ".join(f"{c['field']} {c['old']}->{c['new']}" for c in detail["changes"])
        return f"{detail['reason']}: {changes}"
    if kind == "grant":
        return f"{detail['role']} {detail['scope']} ({detail['label']})"
    if kind == "revoke":
        return f"revoked {detail['subject'][:12]}: {detail['reason']}"
    return str(detail.get("name", ""))


def cmd_findings(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        store = _store(args, ledger)
        rows = views.findings(store, within=args.region, now=args.now)
    if args.kind:
        rows = [r for r in rows if r["kind"] in args.kind]
    if args.json:
        print_json({"position": store.position, "findings": rows})
        return 0
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["kind"]] = counts.get(r["kind"], 0) + 1
    print(
        f"{len(rows)} findings as of position {store.position}: "
        + (", ".join(f"{n} {k}" for k, n in counts.items()) or "none")
    )
    if rows:
        body = [
            [r["kind"], r["stream"], ",".join(e[:12] for e in r["events"]), r["message"]]
            for r in rows
        ]
        print_table(["kind", "stream", "events", "what"], body)
    return 0


def cmd_project(args: argparse.Namespace) -> int:
    if args.page < 1:
        raise FormatError("--page must be at least 1")
    if args.follow:
        position = follow.run(args.ledger, page=args.page)
        print(f"projection at position {position}")
        return 0
    with open_ledger(args) as ledger:
        projections = Projections(ledger)
        try:
            with Progress("projecting", ledger.log_store.log_size()) as progress:
                if args.rebuild:
                    position = projections.rebuild(page=args.page, progress=progress.advance)
                else:
                    position = projections.catch_up(page=args.page, progress=progress.advance)
        finally:
            projections.close()
    print(f"projection at position {position}")
    return 0
