"""``ledger monitor``: follow a remote log, check every entry, keep state (ledger.monitor)."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from ledger.checks.verify import load_policy
from ledger.cli import EXIT_FAILURE
from ledger.cli._common import Commands
from ledger.cli._verify import add_trust_args
from ledger.errors import ConfigurationError, ServiceError
from ledger.monitor.follow import Monitor, PollResult

DEFAULT_INTERVAL_S = 60.0


def register(commands: Commands) -> None:
    p = commands.add_parser(
        "monitor",
        help="follow a remote log (tlog-tiles): check every new cosigned checkpoint and entry",
    )
    p.add_argument("url", metavar="URL", help="the log's URL prefix (serving /checkpoint)")
    add_trust_args(p)
    p.add_argument(
        "--state",
        required=True,
        metavar="DIR",
        help="the monitor's state directory (created; resumed on the next run)",
    )
    p.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="URL",
        help="a witness service to read (besides the policy's witness URLs); repeatable",
    )
    p.add_argument(
        "--keep-going",
        action="store_true",
        help="record what is wrong in the state and go on (default: exit 1 at the first)",
    )
    when = p.add_mutually_exclusive_group()
    when.add_argument("--once", action="store_true", help="poll once and exit")
    when.add_argument(
        "--interval",
        type=float,
        default=DEFAULT_INTERVAL_S,
        metavar="S",
        help=f"seconds between polls (default {DEFAULT_INTERVAL_S:g})",
    )
    p.set_defaults(handler=cmd_monitor)


def cmd_monitor(args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise ConfigurationError("--interval must be positive")
    policy = load_policy(args.trust, args.policy)
    found = False
    with Monitor(args.url, policy, Path(args.state), witnesses=args.witness) as monitor:
        while True:
            try:
                result = monitor.poll()
            except ServiceError as e:
                if args.once:
                    raise
                print(f"monitor: {e}; trying again in {args.interval:g} s", file=sys.stderr)
            else:
                _print(result, monitor)
                found = found or bool(result.findings)
                if result.findings and not args.keep_going:
                    return EXIT_FAILURE
            if args.once:
                print(
                    f"monitor: {monitor.replay.tree.size:,} leaves checked, at checkpoint "
                    f"{monitor.accepted.size}; findings: {len(monitor.findings) or 'none'}"
                )
                return EXIT_FAILURE if found else 0
            time.sleep(args.interval)


def _print(result: PollResult, monitor: Monitor) -> None:
    if result.accepted is not None:
        print(
            f"checkpoint {result.accepted} accepted, cosigned by {', '.join(result.cosigners) or 'no witness (quorum none)'}: "
            f"leaves {result.previous} to {result.accepted - 1} checked",
            flush=True,
        )
    for line in result.witnesses:
        print(line, flush=True)
    for finding in result.findings:
        print(f"FINDING: {finding.line()}", flush=True)
