"""``ledger checkpoint cosign``: have witness services cosign the log's latest checkpoint.

One round by hand, over c2sp.org/tlog-witness (``ledger.log.witness_client``): the
latest stored checkpoint goes to each witness named, its cosignature is checked
under the key the trust policy gives that witness and stored beside the log's
signature (``ledger checkpoint add-cosignature`` does the same from a file).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ledger.checks.verify import tlog_policy
from ledger.cli import EXIT_FAILURE
from ledger.cli._common import add_ledger_arg, open_ledger
from ledger.errors import ConfigurationError, LedgerError
from ledger.format import merkle
from ledger.format.note import Checkpoint, parse_note
from ledger.format.trust import policy_from_json
from ledger.log.tlog import TransparencyLog
from ledger.log.witness_client import request_cosignature


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``cosign`` to the ``checkpoint`` command group."""
    a = sub.add_parser(
        "cosign",
        help="send the latest checkpoint to witness services (tlog-witness), store their cosignatures",
    )
    add_ledger_arg(a)
    a.add_argument(
        "--witness",
        action="append",
        required=True,
        metavar="NAME=URL",
        help="a witness of the trust policy (its name there) and its service URL; repeatable",
    )
    a.add_argument(
        "--policy",
        metavar="FILE",
        help="trust policy naming the witnesses (default: the one DIR/trust.json embeds)",
    )
    a.set_defaults(handler=cmd_checkpoint_cosign)


def cmd_checkpoint_cosign(args: argparse.Namespace) -> int:
    trust = Path(args.ledger) / "trust.json"
    policy = tlog_policy(
        args.policy, policy_from_json(trust.read_text()) if trust.is_file() else None
    )
    if policy is None:
        raise ConfigurationError(f"{trust} embeds no trust policy (give --policy FILE)")
    witnesses = []
    for given in args.witness:
        name, sep, url = given.partition("=")
        if not sep or not url:
            raise ConfigurationError(f"--witness {given!r} is not NAME=URL")
        if name not in policy.witnesses:
            raise ConfigurationError(f"--witness {given!r}: the trust policy has no witness {name}")
        witnesses.append((policy.witnesses[name], url))
    with open_ledger(args) as ledger:
        log = TransparencyLog(ledger)
        note = log.latest_checkpoint()
        if note is None:
            raise ConfigurationError(
                "the log has no checkpoint yet (run `ledger checkpoint issue`)"
            )

        def proofs(old: int, new: int) -> list[bytes]:
            return merkle.consistency_proof(old, new, log.store)

        for key, url in witnesses:
            try:
                cosigned = request_cosignature(url, key, note, proofs)
            except LedgerError as e:
                print(f"ledger: {key.name} did not cosign: {e}", file=sys.stderr)
                continue
            note = log.add_cosignatures(cosigned, [key])
        cosigners = policy.cosigners(note, log.log_verifier)
    size = Checkpoint.parse(parse_note(note).text).size
    names = ", ".join(w.name for w in cosigners) or "no witness of the policy"
    met = policy.meets(cosigners)
    print(
        f"checkpoint {size} cosigned by {names}: the trust policy's {policy.describe()} "
        f"is {'met' if met else 'NOT met'}"
    )
    return 0 if met else EXIT_FAILURE
