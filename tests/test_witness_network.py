"""The log's side over the network: a real ledger (SQLite and PostgreSQL) asks three
witness processes on 127.0.0.1 to cosign its checkpoints (a 409 answered by a resend),
then hands out c2sp.org/tlog-proofs that verify offline against a 2-of-3 quorum, and
fail for a changed envelope, index, proof line, or a checkpoint below the quorum.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main
from ledger.errors import (
    FormatError,
    InclusionProofError,
    LedgerError,
    ProofError,
    RootMismatchError,
    UnknownLogError,
    UnverifiedNoteError,
    UnwitnessedError,
    WitnessUnavailableError,
)
from ledger.format import merkle
from ledger.format.note import Note, NoteSigner, Verifier, parse_note, sign_note
from ledger.format.policy import parse_policy
from ledger.format.statement import Envelope
from ledger.format.tlog_wire import TlogProofFile
from ledger.log.tlog import TransparencyLog
from ledger.log.tlog_proof import tlog_proof_from, verify_tlog_proof
from ledger.log.witness_client import request_cosignature
from tests.witness_processes import PASSPHRASE, WitnessProcess, make_witness, started
from tests.world import TPS, World, home_world, tally

NAMES = ("w1.example/witness", "w2.example/witness", "w3.example/witness")


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """The test world in a ledger directory (for the CLI), on each backend."""
    w = home_world(tmp_path / "ledger", database_url, PASSPHRASE)
    yield w
    w.ledger.close()


@pytest.fixture
def witnesses(tmp_path: Path, world: World) -> Iterator[list[tuple[WitnessProcess, Verifier]]]:
    log = (world.scenario.log_signer.verifier.vkey, world.scenario.origin)
    keys = [make_witness(tmp_path / f"w{i}", name, [log]) for i, name in enumerate(NAMES)]
    processes = [WitnessProcess(tmp_path / f"w{i}") for i in range(len(NAMES))]
    for running in started(processes):
        yield list(zip(running, keys, strict=True))


def _count(world: World, key: str) -> None:
    s = world.scenario
    world.append(s.count(world.keys[key], "bupati-33.16", TPS, tally()))


def _cosign_all(
    log: TransparencyLog, note: bytes, witnesses: list[tuple[WitnessProcess, Verifier]], old: int
) -> bytes:
    """Every witness cosigns ``note`` (from ``old``); the log stores each cosignature."""

    def proofs(old_size: int, new_size: int) -> list[bytes]:
        return merkle.consistency_proof(old_size, new_size, log.store)

    stored = note
    for process, key in witnesses:
        cosigned = request_cosignature(process.url, key, note, proofs, old_size=old)
        stored = log.add_cosignatures(cosigned, [key])
    return stored


def _policy_text(log: Verifier, witnesses: list[Verifier], threshold: str) -> str:
    """A c2sp.org/tlog-policy: the log, the witnesses, `threshold` of them."""
    lines = [f"log {log.vkey}"]
    lines += [f"witness w{i} {w.vkey}" for i, w in enumerate(witnesses)]
    lines += [f"group q {threshold} {' '.join(f'w{i}' for i in range(len(witnesses)))}"]
    return "\n".join([*lines, "quorum q"]) + "\n"


def _strip(note: bytes, keep: int) -> bytes:
    """The note with the log signature and only the first ``keep`` cosignatures."""
    parsed = parse_note(note)
    return Note(parsed.text, parsed.signatures[: 1 + keep]).to_bytes()


def test_cosigned_checkpoints_and_tlog_proofs(
    world: World, witnesses: list[tuple[WitnessProcess, Verifier]], tmp_path: Path
) -> None:
    log = TransparencyLog(world.ledger)
    signer = world.scenario.log_signer
    keys = [key for _, key in witnesses]

    # First checkpoint: every witness starts from 0.
    cp1 = log.issue_checkpoint(signer)
    stored1 = _cosign_all(log, cp1, witnesses, old=0)
    assert len(parse_note(stored1).signatures) == 4

    # The log grows; the client does not know the witnesses' sizes (old 0): each answers
    # 409 with its size, and the client resends from it with a consistency proof.
    _count(world, "kpps")
    cp2 = log.issue_checkpoint(signer)
    stored2 = _cosign_all(log, cp2, witnesses, old=0)
    assert len(parse_note(stored2).signatures) == 4
    size2 = log.size()

    # A tlog-proof of the count, offline, against 2 of 3.
    policy_text = _policy_text(signer.verifier, keys, "2")
    quorum = parse_policy(policy_text)
    leaf = size2 - 1
    proof = tlog_proof_from(log.inclusion_proof(leaf, size2))
    assert proof.startswith(b"c2sp.org/tlog-proof@v1\nextra ")
    shown = verify_tlog_proof(proof, signer.verifier, quorum)
    assert shown.leaf_index == leaf and shown.checkpoint.size == size2
    assert shown.envelope.statement.kind == "count"
    assert set(shown.cosigners) == set(keys)
    parsed = TlogProofFile.parse(proof)

    def changed(**fields: Any) -> bytes:
        return dataclasses.replace(parsed, **fields).to_bytes()

    other = world.ledger.stream("election")[0].raw  # another envelope of the log
    assert other != parsed.extra
    bad_line = (bytes(32), *parsed.proof[1:])
    assert parsed.extra is not None
    flipped = parsed.extra[:-1] + bytes([parsed.extra[-1] ^ 1])
    for data, error in [
        (changed(extra=other), RootMismatchError),
        (changed(extra=flipped), LedgerError),
        (changed(extra=None), FormatError),
        (changed(index=leaf - 1), ProofError),
        (changed(index=0), ProofError),
        (changed(index=size2), InclusionProofError),
        (changed(proof=bad_line), RootMismatchError),
        (changed(proof=parsed.proof[:-1]), LedgerError),
        (changed(checkpoint=_strip(parsed.checkpoint, 1)), UnwitnessedError),
        (changed(checkpoint=_strip(parsed.checkpoint, 0)), UnwitnessedError),
        (proof.replace(b"index ", b"index 0"), FormatError),
    ]:
        with pytest.raises(error):
            verify_tlog_proof(data, signer.verifier, quorum)
    # Two of three suffice; a checkpoint signed by another key never does.
    two = changed(checkpoint=_strip(parsed.checkpoint, 2))
    assert len(verify_tlog_proof(two, signer.verifier, quorum).cosigners) == 2
    impostor = NoteSigner.from_seed(bytes([5]) * 32, signer.name)
    with pytest.raises(UnverifiedNoteError):
        verify_tlog_proof(proof, impostor.verifier, quorum)
    assert Envelope.parse(parsed.extra).hash == shown.envelope.hash

    # The CLI: build from the ledger directory, verify offline; a tampered file fails.
    directory = str(tmp_path / "ledger")
    trust = str(tmp_path / "ledger" / "trust.json")
    policy_file = tmp_path / "two-of-three.policy"
    policy_file.write_text(policy_text)
    wargs = ["--policy", str(policy_file)]
    out_file = str(tmp_path / "count.tlog-proof")
    assert (
        main(["proof", "tlog-proof", "-L", directory, "--leaf", str(leaf), "-o", out_file, *wargs])
        == 0
    )
    assert Path(out_file).read_bytes() == proof
    assert main(["proof", "verify", out_file, "--log", trust, *wargs]) == 0
    Path(out_file).write_bytes(changed(proof=bad_line))
    assert main(["proof", "verify", out_file, "--log", trust, *wargs]) == 1


def test_cli_output_and_refusals(
    world: World,
    witnesses: list[tuple[WitnessProcess, Verifier]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    log = TransparencyLog(world.ledger)
    signer = world.scenario.log_signer
    keys = [key for _, key in witnesses]
    cp1 = log.issue_checkpoint(signer)
    _cosign_all(log, cp1, witnesses[:1], old=0)  # only w1 cosigned
    size = log.size()
    directory = str(tmp_path / "ledger")
    trust = str(tmp_path / "ledger" / "trust.json")
    (tmp_path / "one.policy").write_text(_policy_text(signer.verifier, keys[:1], "1"))
    (tmp_path / "both.policy").write_text(_policy_text(signer.verifier, keys[:2], "2"))
    one = ["--policy", str(tmp_path / "one.policy")]
    both = ["--policy", str(tmp_path / "both.policy")]
    out_file = str(tmp_path / "grant.tlog-proof")

    capsys.readouterr()
    assert main(["proof", "tlog-proof", "-L", directory, "--leaf", "0", "-o", out_file, *one]) == 0
    assert main(["proof", "verify", out_file, "--log", trust, *one]) == 0
    out = capsys.readouterr().out
    assert re.fullmatch(
        rf"OK: event [0-9a-f]{{64}} \(election seq 1\) is leaf 0 of the log's checkpoint "
        rf"{size}, cosigned by {re.escape(keys[0].name)}\n",
        out,
    ), out
    # Two witnesses needed: the stored checkpoint has one; no proof, and the old one fails.
    for argv in (
        ["proof", "tlog-proof", "-L", directory, "--leaf", "0", *both],
        ["proof", "verify", out_file, "--log", trust, *both],
        ["proof", "tlog-proof", "-L", directory, "--leaf", "0"],  # trust.json has no policy
    ):
        assert main(argv) == 1
        err = capsys.readouterr().err
        assert err.startswith("ledger: error: ") and err.count("\n") == 1, err

    # The client against a witness that is down, and one that does not follow the log.
    process, key = witnesses[2]
    stranger = NoteSigner.from_seed(bytes([3]) * 32, "stranger.example/log")
    foreign = parse_note(cp1).text.replace(signer.name, stranger.name, 1)
    with pytest.raises(UnknownLogError):
        request_cosignature(process.url, key, sign_note(foreign, [stranger]), lambda o, n: [])
    process.kill()
    with pytest.raises(WitnessUnavailableError):
        request_cosignature(process.url, key, cp1, lambda o, n: [], timeout=5)
