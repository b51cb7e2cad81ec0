"""The log side of witnessing, with real processes on 127.0.0.1: one `ledger serve` and three
`ledger witness serve`, quorum two of three, on SQLite and PostgreSQL.

The server's checkpointer issues checkpoints and has the witnesses cosign them (a 409
from a witness the log did not know the size of is answered by a resend); /checkpoint
publishes only checkpoints meeting the quorum; with one witness killed it still
publishes, with two it publishes nothing new and says so (log line, /v1/checkpointer,
/metrics). A statement's tlog-proof comes from the server, is kept in the signer's
outbox, verifies offline with `ledger proof verify`, and fails when changed. One
leader among the processes of a ledger issues checkpoints.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from ledger.cli import main
from ledger.errors import LedgerError, ProofError, UnwitnessedError
from ledger.format import merkle
from ledger.format.note import (
    SIG_TYPE_COSIGNATURE_V1,
    Checkpoint,
    Note,
    NoteSigner,
    Verifier,
    parse_note,
)
from ledger.format.policy import parse_policy
from ledger.format.tlog_wire import TlogProofFile
from ledger.format.trust import trust_to_json
from ledger.log.checkpointer import LEADER_LOCK, Checkpointer, CheckpointSchedule
from ledger.log.tlog import TransparencyLog
from ledger.log.tlog_proof import verify_tlog_proof
from ledger.log.witness_client import request_cosignature
from ledger.pilkada.scenario import Scenario
from ledger.server.client import LedgerClient, Outbox
from ledger.server.policy import parse_witness_urls
from ledger.server.wire import encode_batch
from ledger.store.application import Ledger
from ledger.store.home import LedgerHome
from tests.servers import PASSPHRASE, Server, make_home, server_env
from tests.witness_processes import PASSPHRASE as WITNESS_PASSPHRASE
from tests.witness_processes import WitnessProcess, make_witness, started
from tests.world import BUPATI, TPS, build_world, tally, world_statements

NAMES = ("w0.example/witness", "w1.example/witness", "w2.example/witness")
WAIT_S = 60.0  # a bound on waiting for the checkpointer, never a timing assertion

T = TypeVar("T")


def eventually(what: str, probe: Callable[[], T | None]) -> T:
    """Poll ``probe`` until it returns a value (not None/False), within WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        value = probe()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"not reached within {WAIT_S} s: {what}")


def _policy(log: Verifier, witnesses: list[Verifier], urls: dict[int, str]) -> str:
    """Two of the three; the witnesses named w0..w2, with the URLs given."""
    lines = [f"log {log.vkey}"]
    for i, w in enumerate(witnesses):
        lines.append(f"witness w{i} {w.vkey}" + (f" {urls[i]}" if i in urls else ""))
    lines += ["group q 2 w0 w1 w2", "quorum q"]
    return "\n".join(lines) + "\n"


def _size(note: bytes) -> int:
    return Checkpoint.parse(parse_note(note).text).size


@pytest.fixture
def database(tmp_path: Path, database_url: str) -> str:
    return "sqlite:ledger.db" if database_url.startswith("sqlite:") else database_url


@pytest.fixture
def witnesses(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[list[tuple[WitnessProcess, Verifier]]]:
    # make_witness sets the passphrase in os.environ: restored after the test, so the
    # tests that run after it (the README's) keep their own.
    monkeypatch.setenv("LEDGER_PASSPHRASE", WITNESS_PASSPHRASE)
    s = Scenario()
    log = (s.log_signer.verifier.vkey, s.origin)
    keys = [make_witness(tmp_path / f"w{i}", name, [log]) for i, name in enumerate(NAMES)]
    processes = [WitnessProcess(tmp_path / f"w{i}") for i in range(len(NAMES))]
    for running in started(processes):
        yield list(zip(running, keys, strict=True))


def test_checkpoints_are_cosigned_published_and_proven(
    tmp_path: Path,
    database: str,
    witnesses: list[tuple[WitnessProcess, Verifier]],
) -> None:
    s = Scenario()
    home = make_home(tmp_path / "ledger", s, database)
    keys = [key for _, key in witnesses]
    # w1 and w2 have their URL in the trust policy; w0 is given by --witness-url.
    policy_text = _policy(
        s.log_signer.verifier, keys, {1: witnesses[1][0].url, 2: witnesses[2][0].url}
    )
    (home / "trust.json").write_text(trust_to_json(s.trust(), policy=policy_text))
    policy = parse_policy(policy_text)
    envelopes, signers = world_statements(s)

    # Before the server runs, w0 cosigns a checkpoint the ledger then forgets about:
    # the checkpointer believes w0 holds nothing, sends `old 0`, gets a 409 with w0's
    # size, and must resend from there with a consistency proof.
    ledger = LedgerHome(home).open()
    try:
        ledger.append_batch([e.raw for e in envelopes])
        log = TransparencyLog(ledger)
        first = log.issue_checkpoint(s.log_signer)
        request_cosignature(
            witnesses[0][0].url,
            keys[0],
            first,
            lambda o, n: merkle.consistency_proof(o, n, log.store),
        )
        assert len(parse_note(log.latest_checkpoint() or b"").signatures) == 1  # not stored
    finally:
        ledger.close()

    args = (
        "--checkpoint-interval",
        "0.5",
        "--witness-timeout",
        "5",
        "--witness-url",
        f"w0={witnesses[0][0].url}",
    )
    with Server(home, args=args) as server, httpx.Client(base_url=server.url, timeout=30) as http:

        def status() -> dict[str, Any]:
            doc: dict[str, Any] = http.get("/v1/checkpointer").json()
            return doc

        def published() -> bytes:
            response = http.get("/checkpoint")
            assert response.status_code == 200, response.text
            return response.content

        def submit_count() -> str:
            count = s.count(signers["kpps"], BUPATI, TPS, tally())
            response = http.post(
                "/v1/envelopes",
                content=count.raw,
                headers={"Content-Type": "application/vnd.pilkada-ledger.envelope"},
            )
            assert response.status_code == 201, response.text
            return str(response.json()["event_hash"])

        # 1. All three cosign (w0 after a 409 and a resend); /checkpoint is that checkpoint.
        event = submit_count()
        size = len(envelopes) + 1
        eventually(
            "a checkpoint of the whole log cosigned by all three",
            lambda: (
                status()["published_size"] == size
                and all(w["cosigned_size"] == size for w in status()["witnesses"])
            ),
        )
        note = published()
        assert _size(note) == size
        assert {w.name for w in policy.verify_quorum(note, s.log_signer.verifier)} == set(NAMES)
        doc = status()
        assert doc["leader"] is True and doc["quorum_met"] is True
        assert doc["quorum"] == policy.describe()
        assert [w["url"] for w in doc["witnesses"]] == [p.url for p, _ in witnesses]

        # 2. The signer's outbox fetches the statement's tlog-proof and keeps it.
        outbox = Outbox(tmp_path / "outbox")
        count = s.count(signers["kpps"], BUPATI, TPS, tally())
        with LedgerClient(server.url, retry_for_s=30) as client:
            trust = outbox.trust(client)
            outbox.keep(count)
            outbox.send(client, count, s.log_signer.verifier)
            eventually(
                "the tlog-proof of the outbox's statement",
                lambda: outbox.fetch_tlog_proofs(client, trust),
            )
        (entry,) = outbox.entries()
        assert entry.state == "receipted" and entry.tlog_proof
        kept = (tmp_path / "outbox" / f"{count.hash.hex()}.tlog-proof").read_bytes()

        # ... and it verifies offline, against the trust roots and policy alone.
        trust_file = str(home / "trust.json")
        proof_file = tmp_path / "count.tlog-proof"
        proof_file.write_bytes(kept)
        assert main(["proof", "verify", str(proof_file), "--log", trust_file]) == 0
        shown = verify_tlog_proof(kept, s.log_signer.verifier, policy)
        assert shown.envelope.raw == count.raw and len(shown.cosigners) >= 2

        # A changed envelope, index, proof line, or a checkpoint below the quorum fails.
        parsed = TlogProofFile.parse(kept)
        assert parsed.extra is not None

        def changed(**fields: Any) -> bytes:
            return dataclasses.replace(parsed, **fields).to_bytes()

        one = parse_note(parsed.checkpoint)
        below = Note(one.text, one.signatures[:2]).to_bytes()  # the log and one witness
        bad_line = (bytes(32), *parsed.proof[1:]) if parsed.proof else (bytes(32),)
        for data, error in [
            (changed(extra=envelopes[0].raw), ProofError),
            (changed(index=parsed.index - 1), ProofError),
            (changed(proof=bad_line), ProofError),
            (changed(checkpoint=below), UnwitnessedError),
        ]:
            with pytest.raises(error):
                verify_tlog_proof(data, s.log_signer.verifier, policy)
            proof_file.write_bytes(data)
            assert main(["proof", "verify", str(proof_file), "--log", trust_file]) == 1

        # The server's tlog-proof of the first count, and a leaf it does not have.
        response = http.get("/v1/proofs/tlog-proof", params={"event": event})
        assert response.status_code == 200 and response.content.startswith(
            b"c2sp.org/tlog-proof@v1\n"
        )
        verify_tlog_proof(response.content, s.log_signer.verifier, policy)
        missing = http.get("/v1/proofs/tlog-proof", params={"event": "ab" * 32})
        assert missing.status_code == 404

        # 3. One witness killed: two of three still meet the quorum.
        witnesses[2][0].kill()
        submit_count()
        grown = size + 2
        eventually("a checkpoint cosigned by two", lambda: status()["published_size"] == grown)
        cosigners = policy.verify_quorum(published(), s.log_signer.verifier)
        assert {w.name for w in cosigners} == set(NAMES[:2])

        # 4. Two killed: checkpoints are still issued, none is published; it says so.
        witnesses[1][0].kill()
        unwitnessed = submit_count()
        eventually(
            "a round that found no quorum",
            lambda: (
                status()["latest_size"] == grown + 1
                and any(w["error"] for w in status()["witnesses"])
            ),
        )
        doc = status()
        assert doc["published_size"] == grown and doc["quorum_met"] is False
        assert _size(published()) == grown
        errors = {w["name"]: w["error"] for w in doc["witnesses"]}
        assert errors["w0"] == "" and errors["w1"].startswith("WitnessUnavailableError")
        metrics = http.get("/metrics").text
        assert f'ledger_checkpoint_size{{state="published"}} {float(grown)}' in metrics
        assert f'ledger_checkpoint_size{{state="latest"}} {float(grown + 1)}' in metrics
        pending = http.get("/v1/proofs/tlog-proof", params={"event": unwitnessed})
        assert pending.status_code == 409 and pending.json()["code"] == "UnwitnessedError"
        eventually(
            "the server's log line",
            lambda: re.search(r"checkpoint \d+ does not meet the quorum", server.output()),
        )


def test_one_leader_among_the_processes(tmp_path: Path, database_url: str) -> None:
    """Two `ledger serve` processes of one ledger (and, in-process, two leader locks):
    one leads and issues; when it goes, the other takes over."""
    s = Scenario()
    database = "sqlite:ledger.db" if database_url.startswith("sqlite:") else database_url
    home = make_home(tmp_path / "ledger", s, database)

    # The lock itself: one holder at a time; released, or its holder gone, another takes it.
    ledger = Ledger(LedgerHome(home).database_url)
    try:
        a = ledger.log_store.leader_lock(LEADER_LOCK)
        b = ledger.log_store.leader_lock(LEADER_LOCK)
        assert a.try_acquire() and a.held()
        assert not b.try_acquire() and not b.held()
        a.release()
        assert b.try_acquire() and not a.try_acquire()
        b.release()
    finally:
        ledger.close()

    envelopes, _ = world_statements(s)
    args = ("--checkpoint-interval", "0.5")
    first = Server(home, args=args, env=server_env())
    second = Server(home, args=args, env=server_env())
    with first, second, httpx.Client(timeout=30) as http:

        def leaders() -> list[bool]:
            return [http.get(f"{x.url}/v1/checkpointer").json()["leader"] for x in (first, second)]

        eventually("a leader", lambda: any(leaders()))
        assert sorted(leaders()) == [False, True]
        response = http.post(
            f"{first.url}/v1/batches",
            content=_bundle([e.raw for e in envelopes]),
            headers={"Content-Type": "application/vnd.pilkada-ledger.bundle"},
        )
        assert response.status_code == 200, response.text
        eventually(
            "a checkpoint of the log",
            lambda: (
                http.get(f"{second.url}/v1/checkpointer").json()["latest_size"] == len(envelopes)
            ),
        )
        led = [x for x, leads in zip((first, second), leaders(), strict=True) if leads]
        assert len(led) == 1
        other = second if led[0] is first else first
        assert "leads the checkpointer" in led[0].output()
        assert "leads the checkpointer" not in other.output()
        led[0].kill()
        eventually("the other process takes the lead", lambda: leaders_of(http, other))


def leaders_of(http: httpx.Client, server: Server) -> bool:
    return bool(http.get(f"{server.url}/v1/checkpointer").json()["leader"])


def _bundle(raws: list[bytes]) -> bytes:
    return encode_batch(raws)


def test_serve_refuses_a_witness_url_the_policy_does_not_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = make_home(tmp_path / "ledger", Scenario())
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    argv = ["serve", str(home), "--listen", "127.0.0.1:0", "--witness-url", "nobody=http://x"]
    assert main(argv) == 1
    assert main([*argv[:4], "--checkpoint-leaves", "0"]) == 1
    with pytest.raises(LedgerError):
        parse_witness_urls(["no-equals-sign"])


def test_the_schedule_follows_the_injected_clock(sqlite_url: str) -> None:
    """A round when N leaves were added, or when the interval passed and the log grew,
    or (every interval) while the latest checkpoint lacks the quorum; never otherwise."""
    world = build_world(sqlite_url)
    s, log = world.scenario, TransparencyLog(world.ledger)
    now = [1000.0]
    witness = NoteSigner.from_seed(bytes([9]) * 32, "nowhere.example/w", SIG_TYPE_COSIGNATURE_V1)
    needs_witness = parse_policy(
        f"log {s.log_signer.verifier.vkey}\nwitness w {witness.verifier.vkey}\nquorum w\n"
    )
    for policy in (None, needs_witness):
        checkpointer = Checkpointer(
            log,
            lambda: log.issue_checkpoint(s.log_signer),
            policy,
            schedule=CheckpointSchedule(interval_s=10, leaves=3, timeout_s=1),
            clock=lambda: now[0],
        )
        try:
            witnessed = policy is None
            # The log grew since the last checkpoint (or there is none): a round now.
            world.append(s.count(world.keys["kpps"], BUPATI, TPS, tally()))
            assert checkpointer.due()
            result = checkpointer.run_round()
            assert (result.size, result.quorum_met) == (log.size(), witnessed)
            assert result.cosigners == () and result.errors == {}  # the witness has no URL
            # One more leaf: not before the interval; three: at once.
            world.append(s.count(world.keys["kpps"], BUPATI, TPS, tally()))
            now[0] += 9
            assert not checkpointer.due()
            now[0] += 1
            assert checkpointer.due()
            checkpointer.run_round()
            for _ in range(3):
                world.append(s.count(world.keys["kpps"], BUPATI, TPS, tally()))
            assert checkpointer.due()
            checkpointer.run_round()
            # Nothing new: a round only to retry a quorum not met, after the interval.
            assert not checkpointer.due()
            now[0] += 10
            assert checkpointer.due() is not witnessed
        finally:
            checkpointer.close()
    world.ledger.close()
