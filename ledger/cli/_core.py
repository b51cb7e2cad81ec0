"""Core commands: create a ledger, keys, grants, counts, attestations, corrections."""

from __future__ import annotations

import argparse
import base64
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from keys import KeyDir, passphrase_from, raw_public_key
from ledger.cli._common import (
    LOG_PASSPHRASE_ENV,
    PASSPHRASE_ENV,
    Commands,
    add_json_arg,
    add_key_arg,
    add_ledger_arg,
    add_time_arg,
    load_key,
    log_signer,
    open_ledger,
    print_json,
    print_table,
    public_key_arg,
    read_bytes,
    read_document,
    signer_time,
    write_bytes,
)
from ledger.cli._remote import Remote, add_server_args, open_remote
from ledger.errors import LedgerError, UnknownEventError
from ledger.format.describe import describe
from ledger.format.regions import key_stream, parse_stream_id, sheet_stream
from ledger.format.signing import (
    Chainer,
    attest_body,
    contest_body,
    correct_body,
    count_body,
    grant_body,
    revoke_body,
)
from ledger.format.statement import Envelope, key_id, parse_event_hash
from ledger.format.timezones import time_text
from ledger.log.tlog import TransparencyLog
from ledger.store.application import Accepted, Ledger
from ledger.store.home import LedgerHome
from projections.recorder import Projections, projection_path


def register(commands: Commands) -> None:
    p = commands.add_parser("create", help="create a ledger directory and its database")
    p.add_argument("directory", metavar="DIR")
    p.add_argument("--election", required=True, help="election id, e.g. pilkada2024")
    p.add_argument(
        "--origin",
        required=True,
        help="log origin (checkpoint first line), e.g. ledger.example/pilkada2024",
    )
    p.add_argument(
        "--kpu-root", required=True, metavar="PUB", help="KPU root public key (PEM file or hex)"
    )
    p.add_argument("--bawaslu-root", required=True, metavar="PUB", help="Bawaslu root public key")
    p.add_argument(
        "--database",
        default="sqlite:ledger.db",
        metavar="URL",
        help="sqlite:PATH (default sqlite:ledger.db in DIR) or postgresql://USER@HOST/DB",
    )
    p.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="VKEY",
        help="a witness whose cosignature the trust policy in trust.json needs (repeat: all)",
    )
    p.set_defaults(handler=cmd_create)

    p = commands.add_parser(
        "migrate", help="bring a ledger's database schema up to date (safe to run again)"
    )
    add_ledger_arg(p)
    p.set_defaults(handler=cmd_migrate)

    p = commands.add_parser("keys", help="generate and show Ed25519 keys")
    sub = p.add_subparsers(dest="keys_command", metavar="ACTION", required=True)
    g = sub.add_parser("generate", help="generate a key pair NAME.key (encrypted) and NAME.pub")
    g.add_argument("name")
    g.add_argument("--dir", default=".", help="key directory (default: current directory)")
    g.set_defaults(handler=cmd_keys_generate)
    s = sub.add_parser("show", help="show a public key's id")
    s.add_argument("public", metavar="PUB")
    s.set_defaults(handler=cmd_keys_show)

    p = commands.add_parser("define-election", help="(KPU root) name the election")
    add_ledger_arg(p)
    add_key_arg(p, "KPU root key")
    add_time_arg(p)
    p.add_argument("--name", required=True)
    p.add_argument(
        "--schedule",
        metavar="FILE",
        help="the election's schedule as JSON or TOML (docs/format.md 5.1)",
    )
    p.set_defaults(handler=cmd_define_election)

    p = commands.add_parser("define-contest", help="(KPU root) define a contest and its pairs")
    add_ledger_arg(p)
    add_key_arg(p, "KPU root key")
    add_time_arg(p)
    p.add_argument("--office", required=True, choices=["gubernur", "bupati", "walikota"])
    p.add_argument("--region", required=True, help="province or regency/city code")
    p.add_argument("--name", required=True)
    p.add_argument(
        "--pair",
        action="append",
        required=True,
        metavar="NAME",
        help="candidate pair, in ballot-number order (repeat)",
    )
    p.add_argument(
        "--kolom-kosong",
        action="store_true",
        help="single-candidate contest: append the empty box as the last ballot number",
    )
    p.set_defaults(handler=cmd_define_contest)

    p = commands.add_parser("grant", help="grant a key a role and scope")
    add_ledger_arg(p)
    add_key_arg(p, "granter's key")
    add_time_arg(p)
    p.add_argument(
        "--subject", required=True, metavar="PUB", help="public key to grant (PEM file or hex)"
    )
    p.add_argument("--role", required=True)
    p.add_argument("--scope", required=True, help="region code or TPS id")
    p.add_argument("--label", required=True, help="who holds the key, e.g. 'KPPS TPS 001 Tempelan'")
    p.add_argument("--contest")
    p.add_argument("--pair", type=int)
    p.add_argument("--khusus", action="store_true", help="the TPS is a TPS Lokasi Khusus")
    p.set_defaults(handler=cmd_grant)

    p = commands.add_parser("revoke", help="revoke a key (its granter or root)")
    add_ledger_arg(p)
    add_key_arg(p, "revoker's key")
    add_time_arg(p)
    p.add_argument(
        "--subject", required=True, metavar="PUB", help="public key to revoke (PEM file or hex)"
    )
    p.add_argument("--reason", required=True)
    p.set_defaults(handler=cmd_revoke)

    p = commands.add_parser("count", help="(KPPS) sign and submit a C.Hasil count")
    _sheet_args(p)
    p.add_argument("file", metavar="FILE", help="C.Hasil fields as JSON or TOML (docs/format.md)")
    p.set_defaults(handler=cmd_count)

    p = commands.add_parser(
        "attest",
        help="(saksi, PTPS, Panwaslu, Bawaslu) agree with, object to or refuse to sign a sheet",
    )
    _sheet_args(p)
    p.add_argument(
        "--event",
        metavar="HASH",
        help="event attested (default: the sheet's latest count or correction)",
    )
    p.add_argument("--object", metavar="REASON", help="object, with this reason (default: agree)")
    p.set_defaults(handler=cmd_attest)

    p = commands.add_parser("correct", help="(PPK, KPU kab/kota) correct a sheet")
    _sheet_args(p)
    p.add_argument(
        "--corrects",
        metavar="HASH",
        help="event corrected (default: the latest count or correction)",
    )
    p.add_argument("--reason", required=True)
    p.add_argument("file", metavar="FILE", help="the corrected C.Hasil fields as JSON or TOML")
    p.set_defaults(handler=cmd_correct)

    p = commands.add_parser(
        "submit", help="submit envelopes signed elsewhere (raw bytes, one per file)"
    )
    add_ledger_arg(p)
    p.add_argument("files", nargs="+", metavar="FILE")
    p.add_argument(
        "--receipt", metavar="FILE", help="write the log's signed receipt of the last one here"
    )
    add_server_args(p)
    p.set_defaults(handler=cmd_submit)

    p = commands.add_parser("show", help="show a stream's events")
    add_ledger_arg(p)
    add_json_arg(p)
    p.add_argument("stream", metavar="STREAM", help="e.g. sheet:bupati-33.16:33.16.09.2001/001")
    p.set_defaults(handler=cmd_show)

    p = commands.add_parser("head", help="show a stream's head (seq and hash)")
    add_ledger_arg(p)
    p.add_argument("stream", metavar="STREAM")
    p.set_defaults(handler=cmd_head)


def _sheet_args(p: argparse.ArgumentParser) -> None:
    add_ledger_arg(p)
    add_key_arg(p)
    add_time_arg(p)
    p.add_argument("--contest", required=True, help="e.g. bupati-33.16")
    p.add_argument("--tps", required=True, help="e.g. 33.16.09.2001/001")
    p.add_argument("--receipt", metavar="FILE", help="also write the log's signed receipt here")
    add_server_args(p)


# --- handlers ----------------------------------------------------------------------------


def cmd_create(args: argparse.Namespace) -> int:
    env = LOG_PASSPHRASE_ENV if LOG_PASSPHRASE_ENV in os.environ else PASSPHRASE_ENV
    passphrase = passphrase_from(env, "New passphrase for the log key: ", confirm=True)
    ledger = LedgerHome(args.directory).create(
        election=args.election,
        origin=args.origin,
        kpu_root=public_key_arg(args.kpu_root),
        bawaslu_root=public_key_arg(args.bawaslu_root),
        passphrase=passphrase,
        database=args.database,
        witnesses=args.witness,
    )
    Projections.create(ledger).close()
    print(f"created ledger {args.directory} for election {args.election}")
    print(f"log verifier key: {ledger.trust.log_vkey}")
    print(f"trust roots:      {Path(args.directory) / 'trust.json'}")
    ledger.close()
    return 0


def cmd_migrate(args: argparse.Namespace) -> int:
    url = LedgerHome(args.ledger).database_url
    before, after = Ledger.migrate(url)
    ledger = Ledger(url)
    try:
        projections = Projections.create(ledger)  # its tables: made again if dropped
        projections.close()
    finally:
        ledger.close()
    if before == after:
        print(f"{args.ledger}: schema version {after}, up to date")
    else:
        print(f"{args.ledger}: migrated from schema version {before} to {after}")
    if projections.moved:
        print(
            f"{args.ledger}: the projection moved out of the ledger's database into "
            f"{projection_path(ledger.config)}; it is rebuilt from the log by the next "
            "`ledger project` (or `ledger serve`, or any view)"
        )
    return 0


def cmd_keys_generate(args: argparse.Namespace) -> int:
    passphrase = passphrase_from(PASSPHRASE_ENV, f"New passphrase for {args.name}: ", confirm=True)
    key = KeyDir(args.dir).create(args.name, passphrase)
    public = raw_public_key(key)
    print(f"{args.name}: key id {key_id(public).hex()}")
    print(f"public key (hex) {public.hex()}")
    return 0


def cmd_keys_show(args: argparse.Namespace) -> int:
    public = public_key_arg(args.public)
    print(f"key id     {key_id(public).hex()}")
    print(f"public key {public.hex()}")
    print(f"base64     {base64.b64encode(public).decode()}")
    return 0


def _submit(
    args: argparse.Namespace,
    ledger: Ledger | Remote,
    key: Any,
    stream: str,
    kind: str,
    body: dict[str, Any],
) -> int:
    chain = Chainer(ledger.trust.election)
    chain.follow(stream, *ledger.head(stream))
    envelope = chain.sign(key, stream, kind, body, time=signer_time(args))
    if isinstance(ledger, Remote):
        ledger.submit(envelope, getattr(args, "receipt", None))
        return 0
    accepted = ledger.append(envelope.raw)
    _report(args, ledger, accepted)
    return 0


def _state(accepted: Accepted) -> str:
    """What became of an envelope: a duplicate was already there and is not stored again."""
    return "already in the ledger" if accepted.duplicate else "accepted"


@contextmanager
def _sheet_target(args: argparse.Namespace) -> Iterator[Ledger | Remote]:
    """The ledger a sheet statement goes to: this directory's, or a server (--server)."""
    if args.server:
        with open_remote(args) as remote:
            yield remote
    else:
        with open_ledger(args) as ledger:
            yield ledger


def _report(args: argparse.Namespace, ledger: Ledger, accepted: Accepted) -> None:
    print(f"{_state(accepted)}: {accepted.stream} seq {accepted.seq}")
    print(f"event hash {accepted.event_hash.hex()}")
    print(f"leaf index {accepted.leaf_index}")
    if getattr(args, "receipt", None):
        receipt = TransparencyLog(ledger).receipt(accepted, log_signer(args, ledger))
        write_bytes(args.receipt, receipt.note)
        print(f"receipt    {args.receipt}")


def cmd_define_election(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    with open_ledger(args) as ledger:
        body: dict[str, Any] = {"name": args.name}
        if args.schedule:
            body["schedule"] = read_document(args.schedule)
        return _submit(args, ledger, key, "election", "election", body)


def cmd_define_contest(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    pairs = list(args.pair)
    kolom = None
    if args.kolom_kosong:
        pairs.append("KOLOM KOSONG")
        kolom = len(pairs)
    body = contest_body(args.office, args.region, args.name, pairs, kolom)
    with open_ledger(args) as ledger:
        return _submit(args, ledger, key, "election", "contest", body)


def cmd_grant(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    subject = public_key_arg(args.subject)
    body = grant_body(
        subject,
        args.role,
        args.scope,
        args.label,
        contest=args.contest,
        pair=args.pair,
        khusus=args.khusus,
    )
    with open_ledger(args) as ledger:
        return _submit(args, ledger, key, key_stream(key_id(subject)), "grant", body)


def cmd_revoke(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    subject = key_id(public_key_arg(args.subject))
    with open_ledger(args) as ledger:
        return _submit(
            args, ledger, key, key_stream(subject), "revoke", revoke_body(subject, args.reason)
        )


def _latest_tally_event(ledger: Ledger | Remote, stream: str) -> bytes:
    for envelope in reversed(ledger.stream(stream)):
        if envelope.statement.kind in ("count", "correct"):
            return envelope.hash
    raise UnknownEventError(f"stream {stream} has no count yet")


def cmd_count(args: argparse.Namespace) -> int:
    tally = read_document(args.file)
    key = load_key(args.key)
    with _sheet_target(args) as ledger:
        return _submit(
            args, ledger, key, sheet_stream(args.contest, args.tps), "count", count_body(tally)
        )


def cmd_attest(args: argparse.Namespace) -> int:
    key = load_key(args.key)
    stream = sheet_stream(args.contest, args.tps)
    with _sheet_target(args) as ledger:
        event = parse_event_hash(args.event) if args.event else _latest_tally_event(ledger, stream)
        body = attest_body(event, "object", args.object) if args.object else attest_body(event)
        return _submit(args, ledger, key, stream, "attest", body)


def cmd_correct(args: argparse.Namespace) -> int:
    tally = read_document(args.file)
    key = load_key(args.key)
    stream = sheet_stream(args.contest, args.tps)
    with _sheet_target(args) as ledger:
        corrects = (
            parse_event_hash(args.corrects)
            if args.corrects
            else _latest_tally_event(ledger, stream)
        )
        return _submit(
            args, ledger, key, stream, "correct", correct_body(corrects, args.reason, tally)
        )


def cmd_submit(args: argparse.Namespace) -> int:
    raws = [read_bytes(path) for path in args.files]
    if args.server:
        envelopes = [Envelope.parse(raw) for raw in raws]
        with open_remote(args) as remote:
            for i, envelope in enumerate(envelopes):
                remote.submit(envelope, args.receipt if i == len(envelopes) - 1 else None)
        return 0
    with open_ledger(args) as ledger:
        results = ledger.append_batch(raws)
        for accepted in results[:-1]:
            print(
                f"{_state(accepted)}: {accepted.stream} seq {accepted.seq} leaf {accepted.leaf_index}"
            )
        _report(args, ledger, results[-1])
    return 0


def cmd_show(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        envelopes = ledger.stream(args.stream)
    if not envelopes:
        raise UnknownEventError(f"stream {args.stream} has no events")
    if args.json:
        print_json([describe(e) for e in envelopes])
        return 0
    rows = [
        (
            e.statement.seq,
            e.statement.kind,
            e.hash.hex()[:16],
            e.statement.signer.hex()[:16],
            time_text(e.statement.time, _place(e.statement.stream)),
        )
        for e in envelopes
    ]
    print_table(["seq", "kind", "hash", "signer", "time"], rows, right=[0, 4])
    return 0


def _place(stream: str) -> str:
    """The place of a sheet, recap or result stream, whose zone its times are shown in."""
    try:
        parts = parse_stream_id(stream)
    except LedgerError:
        return ""
    return parts[2] if len(parts) == 3 else ""


def cmd_head(args: argparse.Namespace) -> int:
    with open_ledger(args) as ledger:
        seq, head = ledger.head(args.stream)
    print(f"{args.stream} seq {seq} head {head.hex()}")
    return 0
