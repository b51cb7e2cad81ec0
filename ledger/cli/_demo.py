"""`ledger demo` and `ledger simulate`: a whole election in a fresh ledger."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from ledger import pilkada
from ledger.cli._common import Commands, print_json, print_table
from ledger.cli._verify import print_report
from ledger.errors import FormatError
from ledger.format.outcome import KOLOM_KOSONG
from ledger.pilkada.aftercount import CONTINUED_2024, DELAYED_2024, REVOTES_2024
from ledger.pilkada.demo import DEMO_PASSPHRASE, DemoResult, build, passphrase_for_demo
from ledger.pilkada.simulate import FAULT_KINDS, AfterCount, Faults, Simulation

DEMO_FAULTS = Faults(objections_answered=1, objections_unanswered=1, arithmetic=1)


def register(commands: Commands) -> None:
    p = commands.add_parser(
        "demo", help="build a ledger of the real Blora 2024 election and check it"
    )
    p.add_argument(
        "directory",
        nargs="?",
        default="pilkada-demo",
        metavar="DIR",
        help="a new directory for the ledger (default: ./pilkada-demo)",
    )
    p.add_argument("--seed", type=int, default=2024)
    p.set_defaults(handler=cmd_demo)

    p = commands.add_parser("simulate", help="simulate any region's election (or the national one)")
    p.add_argument("directory", metavar="DIR", help="a new directory for the ledger")
    where = p.add_mutually_exclusive_group(required=True)
    where.add_argument("--region", help="province, regency/city or kecamatan code, e.g. 33.16")
    where.add_argument("--national", action="store_true", help="all 545 contests")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--faults",
        default="",
        metavar="KIND=N,...",
        help=f"faults to inject; kinds: {', '.join(FAULT_KINDS)}; or all=N",
    )
    rates = "nationally, scaled to the region by its TPS"
    p.add_argument("--revotes", type=int, default=REVOTES_2024, help=f"re-votes {rates}")
    p.add_argument("--delayed", type=int, default=DELAYED_2024, help=f"delayed votes {rates}")
    p.add_argument("--continued", type=int, default=CONTINUED_2024, help=f"continued votes {rates}")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=cmd_simulate)


def parse_faults(text: str) -> Faults:
    counts: dict[str, int] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        kind, _, number = item.partition("=")
        if not number.isdigit():
            raise FormatError(f"fault {item!r} is not KIND=N")
        if kind == "all":
            counts.update({k: int(number) for k in FAULT_KINDS})
        elif kind in FAULT_KINDS:
            counts[kind] = int(number)
        else:
            raise FormatError(f"unknown fault kind {kind!r} (known: {', '.join(FAULT_KINDS)}, all)")
    return Faults(**counts)


def _simulation(
    region: str,
    seed: int,
    faults: Faults,
    after: tuple[int, int, int] | None = None,
    *,
    determinations: bool = True,
) -> Simulation:
    try:
        rates = None if after is None else AfterCount.national(*after)
        return Simulation(
            region, seed=seed, faults=faults, after=rates, determinations=determinations
        )
    except ValueError as e:
        raise FormatError(str(e)) from e


def cmd_demo(args: argparse.Namespace) -> int:
    directory = Path(args.directory)
    # The demo stops at the recaps: its journey in the README is the count's.
    simulation = _simulation(pilkada.BLORA, args.seed, DEMO_FAULTS, determinations=False)
    data = pilkada.load()
    tps = sum(data.tps_total(k) for k in data.kecamatan_of_region(pilkada.BLORA))
    print(
        f"Pilkada 27 November 2024, Kabupaten Blora ({pilkada.BLORA}): {tps:,} TPS, "
        f"{', '.join(c.name for c in simulation.contests)}"
    )
    print(f"building the ledger in {directory}/ ...")
    result = build(simulation, directory, passphrase=passphrase_for_demo())
    _print_result(result, simulation)
    print("\nTry next:")
    d = directory
    sheet = f"sheet:bupati-33.16:{pilkada.RUTAN_BLORA_TPS}"
    print(f"  ledger totals -L {d} --level kecamatan --contest bupati-33.16")
    print(f"  ledger trail -L {d} --stream {sheet}      # the TPS Lokasi Khusus at Rutan Blora")
    print(f"  ledger findings -L {d}")
    print(
        f"  ledger dossier -L {d} {sheet} -o dossier.json && ledger verify-dossier dossier.json --trust {d}/trust.json"
    )
    print(f"  ledger verify {d}/ledger.export --trust {d}/trust.json")
    # The server unlocks the log key: say which passphrase the demo's keys took.
    unlock = "" if "LEDGER_PASSPHRASE" in os.environ else f"LEDGER_PASSPHRASE={DEMO_PASSPHRASE} "
    print(f"  {unlock}ledger serve {d} --listen 127.0.0.1:8080   # then open in a browser:")
    print(f"    http://127.0.0.1:8080/tps/{pilkada.RUTAN_BLORA_TPS}   (checked in your browser)")
    return 0 if result.report.ok else 1


def _print_result(result: DemoResult, simulation: Simulation) -> None:
    print(
        f"ingested {result.events:,} signed events; checkpoint signed by the log and cosigned by the Bawaslu witness"
    )
    expected = simulation.expected_totals()
    contests = {c.id: c for c in simulation.contests}
    for contest_id, rows in result.totals.items():
        contest = contests[contest_id]
        # The data's figures are Sirekap's of 28 November 2024: provisional, not certified.
        provisional = expected[contest_id].region if contest_id in expected else {}
        print(
            f"\n{contest.name}: totals in {simulation.region or 'Indonesia'} from the ledger's effective sheets"
        )
        body = []
        for pair in contest.pairs:
            number = str(pair.number)
            votes = sum(r["votes"].get(number, 0) for r in rows)
            valid = sum(r["valid"] for r in rows)
            want = provisional.get(number)
            check = (
                ""
                if want is None
                else ("= provisional" if want == votes else f"!= provisional {want:,}")
            )
            body.append(
                [
                    KOLOM_KOSONG if pair.kolom_kosong else number,
                    KOLOM_KOSONG if pair.kolom_kosong else pair.name[:48],
                    f"{votes:,}",
                    f"{100 * votes / valid:.2f}%" if valid else "-",
                    check,
                ]
            )
        print_table(
            ["ballot", "candidates", "votes", "share", "Sirekap 28 Nov (provisional)"],
            body,
            right=[2, 3],
        )
    counts: dict[str, int] = {}
    for finding in result.findings:
        counts[finding["kind"]] = counts.get(finding["kind"], 0) + 1
    print(
        f"\nfindings: {len(result.findings)} ({', '.join(f'{n} {k}' for k, n in counts.items()) or 'none'})"
    )
    for finding in result.findings[:10]:
        print(f"  {finding['kind']}: {finding['stream']}: {finding['message']}")
    print("\nindependent verification of the export (ledger verify):")
    print_report(result.report)


def _rate(events: int, seconds: float | None) -> float:
    return round(events / seconds, 1) if seconds else 0.0


def cmd_simulate(args: argparse.Namespace) -> int:
    faults = parse_faults(args.faults)
    after = (args.revotes, args.delayed, args.continued)
    simulation = _simulation("" if args.national else args.region, args.seed, faults, after)
    result = build(simulation, Path(args.directory), passphrase=passphrase_for_demo())
    injected = [
        {"kind": i.kind, "stream": i.stream, "events": [e.hex() for e in i.events], "note": i.note}
        for i in simulation.injected
    ]
    if args.json:
        print_json(
            {
                "events": result.events,
                "injected": injected,
                "findings": result.findings,
                "verified": result.report.ok,
                "seconds": result.seconds,
                "projected_at_ingest": result.projected_at_ingest,
                "project_per_s": _rate(
                    result.events - result.projected_at_ingest, result.seconds.get("project")
                ),
            }
        )
        return 0 if result.report.ok else 1
    _print_result(result, simulation)
    steps = ", ".join(f"{name} {s:,.1f} s" for name, s in result.seconds.items())
    rest = result.events - result.projected_at_ingest
    print(
        f"\ntime: {steps} (the projection followed ingest to {result.projected_at_ingest:,} "
        f"of {result.events:,} events, then projected the other {rest:,} at "
        f"{_rate(rest, result.seconds.get('project')):,.0f} events/s)"
    )
    print(f"\nthe KPU's determinations: ledger results -L {args.directory}")
    if injected:
        print(f"\ninjected faults: {len(injected)}")
        rows: list[list[Any]] = [[i["kind"], i["stream"], i["note"]] for i in injected]
        print_table(["kind", "stream", "note"], rows)
    return 0 if result.report.ok else 1
