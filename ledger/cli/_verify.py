"""Independent verification commands: export a ledger, verify an export."""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from contextlib import ExitStack
from pathlib import Path
from typing import IO, Any

from ledger.checks.verify import (
    TrustPolicy,
    VerifyReport,
    load_policy,
    verify_export,
)
from ledger.cli._common import (
    Commands,
    add_json_arg,
    add_ledger_arg,
    open_ledger,
    print_json,
    print_table,
)
from ledger.errors import FormatError
from ledger.format.note import Verifier
from ledger.format.outcome import column_name
from ledger.log.export import export_ledger
from ledger.log.mirror import mirror
from ledger.log.static import export_stream
from ledger.progress import Progress

EXIT_FAILED = 1


def register(commands: Commands) -> None:
    p = commands.add_parser("export", help="write the whole ledger to one portable file")
    add_ledger_arg(p)
    p.add_argument("file", metavar="FILE", help="output file ('-' for stdout)")
    p.set_defaults(handler=cmd_export)

    p = commands.add_parser(
        "verify", help="replay an export from zero and check everything, offline"
    )
    p.add_argument(
        "file",
        metavar="FILE",
        help="an export file ('-' for stdin), a tile tree (ledger tiles/mirror) or a log's URL",
    )
    add_trust_args(p)
    add_tail_arg(p)
    p.add_argument(
        "--as-of",
        type=int,
        metavar="CHECKPOINT_SIZE",
        help="report the totals as they stood at the witnessed checkpoint of this size",
    )
    add_json_arg(p)
    p.set_defaults(handler=cmd_verify)


def cmd_export(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        size = ledger.log_store.log_size()
        with Progress("exporting", size) as progress:
            if args.file == "-":
                events, checkpoints = export_ledger(
                    ledger, sys.stdout.buffer, progress=progress.advance
                )
            else:
                # Write beside the target and rename, so a failed export never
                # leaves a file that looks complete.
                target = Path(args.file)
                fd, tmp = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
                try:
                    with os.fdopen(fd, "wb") as out:
                        events, checkpoints = export_ledger(ledger, out, progress=progress.advance)
                    os.replace(tmp, target)
                except BaseException:
                    Path(tmp).unlink(missing_ok=True)
                    raise
    print(
        f"exported {events:,} events and {checkpoints} checkpoints to {args.file}", file=sys.stderr
    )
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    policy = load_policy(args.trust, args.policy)
    with ExitStack() as cleanup:
        stream = _open_input(args.file, policy, cleanup)
        with stream, Progress("verifying") as progress:
            report = verify_export(
                stream,
                policy,
                as_of=args.as_of,
                accept_unwitnessed_tail=args.accept_unwitnessed_tail,
                progress=progress.advance,
            )
    if args.json:
        print_json(report.to_json())
    else:
        print_report(report)
    return 0 if report.ok else EXIT_FAILED


def _open_input(source: str, policy: TrustPolicy, cleanup: ExitStack) -> IO[bytes]:
    """The export stream of ``source``: an export file, stdin, a tile tree, or a URL
    (mirrored into a temporary directory first, checking every tile on the way)."""
    if source.startswith(("http://", "https://")):
        directory = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="ledger-")))
        with Progress("mirroring") as progress:
            mirror(
                source, directory, Verifier.parse(policy.roots.log_vkey), progress=progress.advance
            )
        return export_stream(directory, policy.roots)
    if source != "-" and Path(source).is_dir():
        return export_stream(Path(source), policy.roots)
    try:
        return sys.stdin.buffer if source == "-" else open(source, "rb")
    except OSError as e:
        raise FormatError(f"cannot read {source}: {e.strerror}") from e


def print_report(report: VerifyReport) -> None:
    kinds = ", ".join(f"{n:,} {k}" for k, n in sorted(report.events.items()))
    print(
        f"events: {report.leaves:,} in the log; verified {sum(report.events.values()):,} ({kinds})"
    )
    if report.checkpoints:
        latest = report.checkpoints[-1]
        cosigners = ", ".join(latest["cosigned_by"]) or "no witness of the policy"
        sizes = ", ".join(str(c["size"]) for c in report.checkpoints)
        print(
            f"checkpoints: {len(report.checkpoints)} (sizes {sizes}); latest cosigned by {cosigners}"
        )
    else:
        print("checkpoints: none")
    print(f"witnessed: {witnessed_line(report)}")
    print_failures(report)
    print_totals(report.totals, report.as_of if report.as_of is not None else report.witnessed)
    print_tail(report)
    print(verdict_line(report, "every signature, grant, chain and checkpoint holds", "ledger"))


def witnessed_line(report: VerifyReport) -> str:
    """How much of the history the trust policy's witnesses vouch for."""
    line = (
        f"{report.witnessed:,} of {report.leaves:,} events lie in checkpoints that meet "
        f"the trust policy ({report.quorum})"
    )
    if report.tail:
        line += f"; the last {report.tail:,} are an unwitnessed tail"
    return line


def print_tail(report: VerifyReport) -> None:
    """The unwitnessed tail's effect on the totals, apart from the witnessed totals."""
    if not report.tail:
        return
    print(
        f"\nunwitnessed tail: {report.tail:,} events after checkpoint {report.witnessed:,}, "
        "NOT in the totals above; their effect:"
    )
    for contest_id, effect in report.tail_effect.items():
        kolom_kosong = report.totals.get(contest_id, {}).get("kolom_kosong")
        changes = [f"{column_name(n, kolom_kosong)} {v:+,}" for n, v in effect["votes"].items()]
        changes += [
            f"{name} {effect[name]:+,}" for name in ("valid", "invalid", "sheets") if name in effect
        ]
        print(f"  {contest_id}: {', '.join(changes)}")
    if not report.tail_effect:
        print("  none on the totals")


def verdict_line(report: VerifyReport, holds: str, whole: str) -> str:
    """The VERDICT line: OK only for what the policy's witnesses saw (or said so)."""
    if not report.ok:
        if set(report.failure_counts) == {"UnwitnessedError"} and report.tail:
            return (
                f"VERDICT: FAILED - unwitnessed tail: {report.tail:,} events lie after the last "
                "witnessed checkpoint (--accept-unwitnessed-tail accepts them as the log's word)"
            )
        return f"VERDICT: FAILED - the {whole} does not verify against these trust roots and policy"
    if report.quorum_none:
        return f"VERDICT: OK - {holds}; NOT independently witnessed (quorum none)"
    if report.tail:
        return (
            f"VERDICT: OK up to checkpoint {report.witnessed:,} - {holds}; the {report.tail:,} "
            "events after it are NOT witnessed (accepted as the log's word)"
        )
    return f"VERDICT: OK - {holds}; every event is witnessed"


def print_failures(report: VerifyReport, whole: str = "export", shown: int = 20) -> None:
    """Each failure class with the exact events or checkpoints, the first ``shown`` of each."""
    if report.ok:
        print("failures: none")
        return
    print(f"failures: {sum(report.failure_counts.values()):,}")
    for name, items in sorted(report.failures.items()):
        print(f"  {name} ({report.failure_counts[name]:,}):")
        for failure in items[:shown]:
            print(f"    {failure.where(whole)}: {failure.message}")
        if report.failure_counts[name] > shown:
            print(f"    ... and {report.failure_counts[name] - shown:,} more (see --json)")


def add_trust_args(parser: argparse.ArgumentParser) -> None:
    """--trust ROOTS and --policy FILE, as every offline check takes them."""
    parser.add_argument(
        "--trust", required=True, metavar="ROOTS", help="trust roots file (trust.json)"
    )
    parser.add_argument(
        "--policy",
        metavar="FILE",
        help="trust policy (c2sp.org/tlog-policy) to use instead of the one trust.json embeds",
    )


def add_tail_arg(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--accept-unwitnessed-tail",
        action="store_true",
        help="accept events after the last witnessed checkpoint as the log's own word "
        "(reported apart; the totals stay those of the witnessed prefix)",
    )


def print_totals(totals: dict[str, dict[str, Any]], as_of: int | None) -> None:
    when = f" as of checkpoint {as_of}" if as_of is not None else ""
    for contest_id, contest in sorted(totals.items()):
        total = contest["total"]
        numbers = sorted(total["votes"], key=int)
        rows = [
            [
                column_name(n, contest.get("kolom_kosong")),
                f"{total['votes'][n]:,}",
                _share(total["votes"][n], total["valid"]),
            ]
            for n in numbers
        ]
        rows.append(["valid", f"{total['valid']:,}", ""])
        rows.append(["invalid", f"{total['invalid']:,}", ""])
        print(f"\n{contest_id}{when}: {total['sheets']:,} sheets")
        print_table(["", "votes", "share"], rows, right=[1, 2])


def _share(votes: int, valid: int) -> str:
    return f"{100 * votes / valid:.2f}%" if valid else "-"
