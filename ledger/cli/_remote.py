"""`ledger serve`, `ledger outbox`, and signing commands with ``--server URL``.

With ``--server``, ``count``, ``attest``, ``correct`` and ``submit`` sign on this
device and submit over HTTP through the outbox (ledger.server.client): the
envelope is kept before it is sent, retried until the log receipts it, and its
receipt is kept beside it. Envelopes still pending from an earlier run are sent
first, so a new statement chains on what the server holds.
"""

from __future__ import annotations

import argparse
import base64
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from keys import passphrase_from
from ledger.cli._common import (
    LOG_PASSPHRASE_ENV,
    PASSPHRASE_ENV,
    Commands,
    print_table,
    write_bytes,
)
from ledger.errors import FormatError, LedgerError, ServiceError
from ledger.format.note import Verifier
from ledger.format.statement import Envelope
from ledger.format.trust import TrustRoots

OUTBOX = "outbox"
DEFAULT_RETRY_FOR_S = 300.0


def register(commands: Commands) -> None:
    p = commands.add_parser("serve", help="serve the ledger over HTTP (submissions, tiles, JSON)")
    p.add_argument("directory", metavar="DIR", help="the ledger directory")
    p.add_argument("--listen", required=True, metavar="HOST:PORT", help="e.g. 127.0.0.1:8080")
    p.add_argument(
        "--workers",
        type=int,
        default=1,
        metavar="N",
        help="server processes (PostgreSQL ledgers only; SQLite is served by one)",
    )
    p.add_argument(
        "--body-timeout", type=float, metavar="SECONDS", help="request body deadline (408)"
    )
    p.add_argument(
        "--checkpoint-interval",
        type=float,
        metavar="SECONDS",
        help="issue a checkpoint when the log grew, at most this often (default 5)",
    )
    p.add_argument(
        "--checkpoint-leaves",
        type=int,
        metavar="N",
        help="issue a checkpoint as soon as the log grew by N leaves (default 1000)",
    )
    p.add_argument(
        "--witness-url",
        action="append",
        default=[],
        metavar="NAME=URL",
        help="the tlog-witness URL of the trust policy's witness NAME, where the policy "
        "gives none (repeatable)",
    )
    p.add_argument(
        "--witness-timeout",
        type=float,
        metavar="SECONDS",
        help="how long a checkpoint waits for the witnesses (default 10)",
    )
    p.set_defaults(handler=cmd_serve)

    p = commands.add_parser("outbox", help="what this device signed: pending or receipted")
    p.add_argument("--outbox", default=OUTBOX, metavar="DIR", help="the outbox (default ./outbox)")
    p.add_argument(
        "--server",
        metavar="URL",
        help="send the pending envelopes first, then fetch the tlog-proofs the server has",
    )
    p.add_argument("--retry-for", type=float, default=DEFAULT_RETRY_FOR_S, metavar="SECONDS")
    p.add_argument(
        "--wait",
        type=float,
        default=0.0,
        metavar="SECONDS",
        help="with --server: wait up to this long for every receipted statement's tlog-proof",
    )
    p.set_defaults(handler=cmd_outbox)


def add_server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--server", metavar="URL", help="submit over HTTP to this ledger server (keys stay here)"
    )
    p.add_argument(
        "--outbox",
        metavar="DIR",
        help="with --server: where signed envelopes and receipts are kept "
        "(default: outbox/ beside the key file, or ./outbox)",
    )
    p.add_argument(
        "--retry-for",
        type=float,
        default=DEFAULT_RETRY_FOR_S,
        metavar="SECONDS",
        help="with --server: keep retrying unanswered submissions this long (default 300)",
    )


class Remote:
    """A ledger server seen from a signing device, through its outbox."""

    def __init__(self, url: str, outbox: Path, retry_for_s: float) -> None:
        from ledger.server.client import LedgerClient, Outbox

        self.client = LedgerClient(url, retry_for_s=retry_for_s)
        self.outbox = Outbox(outbox)
        self.trust: TrustRoots = self.outbox.trust(self.client)
        self.log = Verifier.parse(self.trust.log_vkey)

    def close(self) -> None:
        self.client.close()

    def head(self, stream: str) -> tuple[int, bytes]:
        return self.client.head(stream)

    def stream(self, stream: str) -> list[Envelope]:
        events = self.client.stream(stream)["events"]
        try:
            return [Envelope.parse(base64.b64decode(e["envelope"], validate=True)) for e in events]
        except (KeyError, TypeError, ValueError) as e:
            raise ServiceError(f"the server's stream {stream} is not a list of envelopes") from e

    def flush(self) -> None:
        """Send what an earlier run left pending; a final refusal is reported, not fatal."""
        for entry in self.outbox.pending():
            try:
                answer = self.outbox.send(self.client, entry.envelope, self.log)
            except ServiceError:
                raise
            except LedgerError as e:
                print(f"ledger: refused (kept in the outbox): {e}", file=sys.stderr)
                continue
            print(f"sent pending: {answer.stream} seq {answer.seq} leaf {answer.leaf_index}")

    def submit(self, envelope: Envelope, receipt_path: str | None) -> None:
        self.outbox.keep(envelope)
        answer = self.outbox.send(self.client, envelope, self.log)
        state = "already in the ledger" if answer.duplicate else "accepted"
        print(f"{state}: {answer.stream} seq {answer.seq}")
        print(f"event hash {answer.event_hash.hex()}")
        print(f"leaf index {answer.leaf_index}")
        if receipt_path:
            write_bytes(receipt_path, answer.receipt)
            print(f"receipt    {receipt_path}")


def _outbox_dir(args: argparse.Namespace) -> Path:
    if args.outbox:
        return Path(args.outbox)
    key = getattr(args, "key", None)
    return Path(key).parent / OUTBOX if key else Path(OUTBOX)


@contextmanager
def open_remote(args: argparse.Namespace) -> Iterator[Remote]:
    remote = Remote(args.server, _outbox_dir(args), args.retry_for)
    try:
        remote.flush()
        yield remote
    finally:
        remote.close()


def cmd_serve(args: argparse.Namespace) -> int:
    from ledger.server.run import serve

    env = LOG_PASSPHRASE_ENV if LOG_PASSPHRASE_ENV in os.environ else PASSPHRASE_ENV
    passphrase = passphrase_from(env, "Passphrase for the log key: ")

    def announce(url: str) -> None:
        print(
            f"open {url} in a browser (the public pages, checked in the browser); "
            "JSON under /v1/, the log at /checkpoint and /tile/",
            flush=True,
        )

    serve(
        Path(args.directory),
        args.listen,
        workers=args.workers,
        passphrase=passphrase,
        body_timeout_s=args.body_timeout,
        checkpoint_interval_s=args.checkpoint_interval,
        announce=announce,
        checkpoint_leaves=args.checkpoint_leaves,
        witness_timeout_s=args.witness_timeout,
        witness_urls=args.witness_url,
    )
    return 0


#: Seconds between two asks for the tlog-proofs still missing (``outbox --wait``).
PROOF_POLL_S = 0.5


def cmd_outbox(args: argparse.Namespace) -> int:
    from ledger.server.client import Outbox

    if args.server:
        with open_remote(args) as remote:
            deadline = time.monotonic() + args.wait
            while True:
                remote.outbox.fetch_tlog_proofs(remote.client, remote.trust)
                missing = any(
                    e.state == "receipted" and not e.tlog_proof for e in remote.outbox.entries()
                )
                if not missing or time.monotonic() + PROOF_POLL_S > deadline:
                    break
                time.sleep(PROOF_POLL_S)
    elif args.wait:
        raise FormatError("--wait needs --server")
    entries = Outbox(args.outbox).entries()
    if not entries and not Path(args.outbox).exists():
        raise FormatError(f"{args.outbox} is not an outbox (nothing was signed with --server)")
    counts = {s: sum(e.state == s for e in entries) for s in ("pending", "receipted", "refused")}
    proven = sum(e.tlog_proof for e in entries)
    words = [f"{n} {s}" for s, n in counts.items()]
    words[1] += f" ({proven} with a tlog-proof)"
    print(", ".join(words))
    if entries:
        rows = [
            (
                e.event_hash.hex()[:16],
                e.envelope.statement.stream,
                e.envelope.statement.seq,
                e.envelope.statement.kind,
                e.state,
                e.detail,
                "yes" if e.tlog_proof else "no" if e.state == "receipted" else "",
            )
            for e in entries
        ]
        print_table(
            ["hash", "stream", "seq", "kind", "state", "leaf / refusal", "tlog-proof"],
            rows,
            right=[2],
        )
    return 0
