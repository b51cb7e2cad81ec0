"""The witness service (c2sp.org/tlog-witness) as real processes on 127.0.0.1.

Request bodies are built from the spec's text (tests/witness_processes.py), not
by the project's client; every status the spec names, a 409 followed by a
resend, kill -9 and restart, concurrent requests (from one and from two
processes on one state directory), and a log whose origin is not its key's name.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ledger.format import merkle
from ledger.format.note import (
    Checkpoint,
    NoteSigner,
    Verifier,
    open_note,
    parse_note,
    sign_note,
)
from ledger.format.tlog_wire import SIZE_CONTENT_TYPE
from tests.test_witness import Log
from tests.witness_processes import (
    Answer,
    WitnessProcess,
    add_checkpoint,
    latest,
    make_witness,
    request,
    spec_body,
    started,
)

#: sum.golang.org's checkpoints carry this origin, which is not its key's name.
GO_ORIGIN = "go.sum database tree"
GO_KEY_NAME = "sum.golang.org"
OWN_ORIGIN = "ledger.example/pilkada2024"


@pytest.fixture
def go_log() -> Log:
    return Log(GO_ORIGIN, GO_KEY_NAME)


@pytest.fixture
def own_log() -> Log:
    return Log(OWN_ORIGIN)


@pytest.fixture
def witness_dir(tmp_path: Path, go_log: Log, own_log: Log) -> tuple[Path, Verifier]:
    directory = tmp_path / "w1"
    logs = [(lg.signer.verifier.vkey, lg.origin) for lg in (go_log, own_log)]
    return directory, make_witness(directory, "witness.example/w1", logs)


@pytest.fixture
def witness(witness_dir: tuple[Path, Verifier]) -> Iterator[WitnessProcess]:
    yield from (ps[0] for ps in started([WitnessProcess(witness_dir[0])]))


def _cosigned(answer: Answer, note: bytes, key: Verifier) -> Checkpoint:
    """The checkpoint of ``note``, after checking the answer is a valid cosignature by ``key``."""
    assert answer.status == 200, answer
    assert answer.content_type.startswith("text/plain")
    lines = answer.body.decode().splitlines()
    assert len(lines) == 1 and lines[0].startswith("\u2014 " + key.name + " ")
    opened, verified = open_note(parse_note(note).text + "\n" + answer.body.decode(), [key])
    assert verified == [key]
    return Checkpoint.parse(opened.text)


def _problem(answer: Answer, status: int, detail: str) -> None:
    assert answer.status == status, answer
    assert answer.content_type == "application/problem+json"
    problem = json.loads(answer.body)
    assert problem["status"] == status and problem["type"] == "about:blank"
    assert detail in problem["detail"], problem


def _size_conflict(answer: Answer, size: int) -> None:
    assert answer.status == 409, answer
    assert answer.content_type == SIZE_CONTENT_TYPE
    assert answer.body == f"{size}\n".encode()


def test_every_status_of_the_spec(
    witness: WitnessProcess, witness_dir: tuple[Path, Verifier], go_log: Log
) -> None:
    url, key = witness.url, witness_dir[1]
    go_log.grow_to(12)

    # A log the witness does not follow: 404.
    stranger = Log("stranger.example/log")
    stranger.grow_to(3)
    _problem(add_checkpoint(url, spec_body(0, [], stranger.signed())), 404, "does not follow")

    # The followed origin signed by an untrusted key, or with a broken signature: 403.
    impostor = NoteSigner.from_seed(bytes([9]) * 32, GO_KEY_NAME)
    forged = go_log.signed(5, signer=impostor)
    _problem(add_checkpoint(url, spec_body(0, [], forged)), 403, "no verifiable signatures")
    good = parse_note(go_log.signed(5))
    broken = good.to_bytes().replace(good.signatures[0].to_line().encode()[-6:-1], b"AAAAA")
    _problem(add_checkpoint(url, spec_body(0, [], broken)), 403, "invalid signature")

    # Malformed bodies, and `old` above the checkpoint's size: 400.
    cp5 = go_log.signed(5)
    for body, detail in [
        (b"old 0\n" + parse_note(cp5).text.encode(), "no empty line"),
        (b"old 0\n" + cp5, "consistency proof line 1"),  # the note's blank line ends the head
        (b"old 00\n\n" + cp5, "leading zeros"),
        (b"old -1\n\n" + cp5, "decimal"),
        (b"new 0\n\n" + cp5, "old <size>"),
        (b"old 0\nnot base64!\n\n" + cp5, "base64"),
        (b"old 0\nAAAA\n\n" + cp5, "32-byte"),
        (spec_body(0, [bytes(32)] * 64, cp5), "over 63"),
        (spec_body(0, [], b"no note here\n"), "malformed note"),
        (spec_body(0, [], sign_note("hello\n", [go_log.signer])), "unknown log origin"),
        (spec_body(6, [], cp5), "exceeds the checkpoint size"),
    ]:
        answer = add_checkpoint(url, body)
        expected = 404 if "origin" in detail else 400  # a note whose first line is no origin
        _problem(answer, expected, detail)

    # First contact: old 0 for size 5, an empty proof: cosigned.
    assert _cosigned(add_checkpoint(url, spec_body(0, [], cp5)), cp5, key).size == 5

    # A client that does not know the witness's size sends old 0: 409 with the size...
    cp8 = go_log.signed(8)
    _size_conflict(add_checkpoint(url, spec_body(0, [], cp8)), 5)
    # ... and resends from it, with a consistency proof: cosigned.
    assert _cosigned(add_checkpoint(url, spec_body(5, go_log.proof(5, 8), cp8)), cp8, key).size == 8

    # A stale old size: 409 again, with the witness's size.
    cp12 = go_log.signed(12)
    _size_conflict(add_checkpoint(url, spec_body(5, go_log.proof(5, 12), cp12)), 8)

    # A consistency proof that does not hold: 422; nor does one between equal sizes.
    bad = go_log.proof(8, 12)
    bad[0] = bytes(32)
    _problem(add_checkpoint(url, spec_body(8, bad, cp12)), 422, "not proven consistent")
    _problem(add_checkpoint(url, spec_body(8, go_log.proof(5, 8), cp8)), 422, "must be empty")

    # The same size with another root (a second tree of size 8): 409, and no size.
    fork = sign_note(Checkpoint(GO_ORIGIN, 8, bytes(32)).to_text(), [go_log.signer])
    _problem(add_checkpoint(url, spec_body(8, [], fork)), 409, "different root")

    # The same checkpoint again is fine (a client that lost the answer).
    assert _cosigned(add_checkpoint(url, spec_body(8, [], cp8)), cp8, key).size == 8

    # Nothing above moved the witness: it still holds 8, readable at the extension.
    held = latest(url, GO_ORIGIN)
    assert held.status == 200 and held.content_type.startswith("text/plain")
    opened, verified = open_note(held.body, [go_log.signer.verifier, key])
    assert verified == [go_log.signer.verifier, key]
    assert Checkpoint.parse(opened.text) == go_log.checkpoint(8)
    _problem(latest(url, "stranger.example/log"), 404, "does not follow")
    _problem(latest(url, OWN_ORIGIN), 404, "no checkpoint")

    # Outside the protocol: problems too.
    _problem(add_checkpoint(url, b"x" * (64 * 1024 + 1)), 413, "body over")
    answer = request(url, "GET", "/add-checkpoint")
    assert answer.status == 405 and answer.content_type == "application/problem+json"
    assert request(url, "GET", "/nothing-here").status == 404


def test_first_checkpoint_from_zero_needs_an_empty_proof(
    witness: WitnessProcess, witness_dir: tuple[Path, Verifier], own_log: Log
) -> None:
    own_log.grow_to(6)
    cp6 = own_log.signed()
    answer = add_checkpoint(witness.url, spec_body(0, [bytes(32)], cp6))
    _problem(answer, 422, "must be empty")
    assert _cosigned(add_checkpoint(witness.url, spec_body(0, [], cp6)), cp6, witness_dir[1])


def _fork_of(log: Log, shared: int) -> Log:
    """A log with the first ``shared`` leaves of ``log`` and different ones after them."""
    fork = Log(log.origin, log.signer.name)
    fork.store.append_leaf_hashes(log.store.read_nodes([(0, i) for i in range(shared)]))
    fork.store.append_leaf_hashes(
        merkle.leaf_hash(f"fork at {shared}: {i}".encode()) for i in range(shared, log.store.size)
    )
    return fork


def _race(
    requests: dict[str, tuple[str, bytes]], kill: WitnessProcess | None = None, delay: float = 0.0
) -> dict[str, Answer]:
    """Send each (url, body) at once; with ``kill``, kill -9 that process ``delay`` s later."""
    answers: dict[str, Answer] = {}
    gate = threading.Barrier(len(requests) + 1)

    def send(name: str, url: str, body: bytes) -> None:
        gate.wait(timeout=10)
        answers[name] = add_checkpoint(url, body)

    threads = [threading.Thread(target=send, args=(n, *r)) for n, r in requests.items()]
    for t in threads:
        t.start()
    gate.wait(timeout=10)
    if kill is not None:
        time.sleep(delay)
        kill.kill()
    for t in threads:
        t.join(timeout=30)
    return answers


@pytest.mark.parametrize("kill_delay", [None, 0.0, 0.005, 0.02])
def test_kill_9_and_restart_never_cosign_two_trees_of_one_size(
    witness_dir: tuple[Path, Verifier], go_log: Log, kill_delay: float | None
) -> None:
    """Each round two forks of one log, both proven from the size the witness holds,
    race for the next size; the witness is killed with -9 (after the answers, or while
    they are in flight) and restarted. At most one fork is ever cosigned at a size, and
    a cosignature that was answered is the one the restarted witness holds."""
    directory, key = witness_dir
    rounds, step = 4, 3
    go_log.grow_to(1 + step * rounds)
    process = WitnessProcess(directory)
    process.start()
    try:
        cp1 = go_log.signed(1)
        assert _cosigned(add_checkpoint(process.url, spec_body(0, [], cp1)), cp1, key)
        held = 1
        for _ in range(rounds):
            size = held + step
            fork = _fork_of(go_log, held)
            logs = {"main": go_log, "fork": fork}
            bodies = {
                n: spec_body(held, lg.proof(held, size), lg.signed(size)) for n, lg in logs.items()
            }
            killer = process if kill_delay is not None else None
            requests = {n: (process.url, b) for n, b in bodies.items()}
            answers = _race(requests, killer, kill_delay or 0.0)
            answered = [n for n, a in answers.items() if a.status == 200]
            assert len(answered) <= 1, answers
            for name in answered:
                _cosigned(answers[name], logs[name].signed(size), key)
            if kill_delay is None:
                assert (
                    len(answered) == 1
                    and answers[({"main", "fork"} - set(answered)).pop()].status == 409
                )
                process.kill()
            process.start()
            # The restarted witness: same size, empty proof; only the held tree passes.
            again = {
                n: add_checkpoint(process.url, spec_body(size, [], lg.signed(size)))
                for n, lg in logs.items()
            }
            now_cosigned = [n for n, a in again.items() if a.status == 200]
            assert len(now_cosigned) <= 1, again
            assert set(answered) <= set(now_cosigned), (answers, again)
            if not now_cosigned:  # killed before either was stored: it still holds `held`
                assert all(
                    a.status == 409 and a.body == f"{held}\n".encode() for a in again.values()
                )
                winner = "main"
                assert _cosigned(
                    add_checkpoint(process.url, bodies[winner]), go_log.signed(size), key
                )
            else:
                winner = now_cosigned[0]
                loser = ({"main", "fork"} - {winner}).pop()
                _problem(again[loser], 409, "different root")
            go_log = logs[winner]  # the next round grows what the witness holds
            held = size
        state = latest(process.url, GO_ORIGIN)
        assert Checkpoint.parse(parse_note(state.body).text) == go_log.checkpoint(held)
    finally:
        process.stop()


def test_concurrent_requests_for_one_log_are_serialised(
    witness_dir: tuple[Path, Verifier], own_log: Log
) -> None:
    """Eight requests, each valid from the size the witness holds, to two processes
    serving one state directory at once: exactly one is cosigned, every other is
    told the winner's size (the spec's race: no check of `old` outlives the write)."""
    directory, key = witness_dir
    own_log.grow_to(20)
    first, second = WitnessProcess(directory), WitnessProcess(directory)
    for _ in started([first, second]):
        cp4 = own_log.signed(4)
        assert _cosigned(add_checkpoint(first.url, spec_body(0, [], cp4)), cp4, key)
        for held in (4, 12):
            sizes = range(held + 1, held + 9)
            bodies = {
                str(n): spec_body(held, own_log.proof(held, n), own_log.signed(n)) for n in sizes
            }
            urls = (first.url, second.url)  # alternate between the two processes
            answers = _race({n: (urls[int(n) % 2], b) for n, b in bodies.items()})
            winners = [int(n) for n, a in answers.items() if a.status == 200]
            assert len(winners) == 1, answers
            (won,) = winners
            _cosigned(answers[str(won)], own_log.signed(won), key)
            for n, a in answers.items():
                if int(n) != won:
                    _size_conflict(a, won)
            held_note = latest(second.url, OWN_ORIGIN).body
            assert Checkpoint.parse(parse_note(held_note).text).size == won
            if held == 4 and won != 12:  # bring the witness to 12 for the next round
                cp12 = own_log.signed(12)
                body = spec_body(won, own_log.proof(won, 12), cp12)
                _cosigned(add_checkpoint(second.url, body), cp12, key)
