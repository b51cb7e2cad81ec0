"""``ledger monitor`` against real logs on 127.0.0.1: a ledger server (SQLite and
PostgreSQL) that grows while the monitor runs, a restart in the middle, a proxy that
tampers with tiles, a static tile tree that serves a bad entry, and a split view shown
to three witness services (real processes, quorum two of three).
"""

from __future__ import annotations

import hashlib
import http.server
import io
import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger.checks.verify import Replay, VerifyReport, load_policy
from ledger.cli import main
from ledger.errors import ConfigurationError, FormatError, WitnessConflictError
from ledger.format import merkle
from ledger.format.note import Checkpoint, Verifier, parse_note, sign_note
from ledger.format.policy import policy_text
from ledger.log import tiles
from ledger.log.static import CHECKPOINT_FILE
from ledger.log.tlog import TransparencyLog
from ledger.log.witness import Witness
from ledger.log.witness_client import request_cosignature
from ledger.monitor.follow import Monitor
from ledger.pilkada.scenario import Scenario
from tests.servers import LEDGER, PASSPHRASE, Server, server_env
from tests.witness_processes import WitnessProcess, make_witness, started
from tests.world import (
    TPS,
    TPS2,
    World,
    home_world,
    tally,
    witnessed_policy,
    world_statements,
)

WAIT_S = 60.0  # the most any one wait for the running monitor may take
POLL_S = 0.2


# --- the pieces ----------------------------------------------------------------------


@pytest.fixture
def world(tmp_path: Path, database_url: str) -> Iterator[World]:
    """The test world in a ledger directory a server can serve, on each backend."""
    w = home_world(tmp_path / "ledger", database_url, PASSPHRASE)
    yield w
    w.ledger.close()


@pytest.fixture
def server(world: World, tmp_path: Path) -> Iterator[Server]:
    """``ledger serve`` of the world; it issues no checkpoint of its own (the test does)."""
    with Server(tmp_path / "ledger", args=("--checkpoint-interval", "3600")) as running:
        yield running


class InProcessWitness:
    """The Bawaslu witness of the scenario, cosigning in this process (ledger.log.witness)."""

    def __init__(self, directory: Path, s: Scenario) -> None:
        directory.mkdir()
        self.witness = Witness(s.witness_signer, directory, {s.origin: s.log_signer.verifier})
        self.origin = s.origin

    def cosign(self, log: TransparencyLog, signer: Any) -> bytes:
        """A new checkpoint of the whole log, cosigned and stored beside the log's signature."""
        note = log.issue_checkpoint(signer)
        state = self.witness.state(self.origin)
        old = 0 if state is None else state.size
        new = Checkpoint.parse(parse_note(note).text).size
        proof = merkle.consistency_proof(old, new, log.store) if 0 < old < new else []
        line = self.witness.cosign(note, proof, now=1_733_000_000)
        return log.add_cosignatures(note + line, [self.witness.verifier])


def _policy(tmp_path: Path, s: Scenario) -> str:
    path = tmp_path / "bawaslu.policy"
    path.write_text(policy_text(s.log_signer.verifier.vkey, [s.witness_signer.verifier.vkey]))
    return str(path)


def _grow(world: World, n: int) -> None:
    """``n`` more leaves: recounts of two sheets (each its own stream chain)."""
    for i in range(n):
        key, tps = ("kpps", TPS) if i % 2 else ("kpps2", TPS2)
        world.append(world.scenario.count(world.keys[key], "bupati-33.16", tps, tally()))


def _monitor(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(["monitor", *argv])
    return code, out.getvalue(), err.getvalue()


def _state(directory: Path) -> dict[str, Any]:
    state: dict[str, Any] = json.loads((directory / "state.json").read_text())
    return state


def _wait_for(what: str, check: Callable[[], bool], process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"the monitor exited {process.returncode} waiting for {what}")
        if check():
            return
        time.sleep(POLL_S)
    raise AssertionError(f"the monitor did not reach {what} in {WAIT_S} s")


def _at(directory: Path, size: int) -> Callable[[], bool]:
    def check() -> bool:
        try:
            return bool(_state(directory)["size"] == size)
        except (OSError, ValueError):
            return False

    return check


# --- a growing log, a restart, exit codes ----------------------------------------------


def test_the_monitor_follows_a_growing_log_and_resumes_after_a_restart(
    world: World, server: Server, tmp_path: Path
) -> None:
    s = world.scenario
    log = TransparencyLog(world.ledger)
    witness = InProcessWitness(tmp_path / "witness", s)
    trust = str(tmp_path / "ledger" / "trust.json")
    args = [server.url, "--trust", trust, "--policy", _policy(tmp_path, s)]
    state = tmp_path / "monitor"

    # The server's first checkpoint carries only the log's signature: a missing quorum.
    code, out, _ = _monitor(*args, "--state", str(state), "--once")
    assert code == 1
    size0 = log.size()
    assert re.search(
        rf"FINDING: UnwitnessedError at checkpoint {size0} \(root [0-9a-f]{{16}}, served at "
        rf"{re.escape(server.url)}/checkpoint\): cosigned by no witness of the policy",
        out,
    ), out
    assert _state(state)["size"] == 0 and _state(state)["fetched"]["bundles"] == 0

    # Cosigned: accepted, every leaf checked; the same finding is not new again.
    witness.cosign(log, s.log_signer)
    code, out, _ = _monitor(*args, "--state", str(state), "--once")
    assert code == 0, out
    assert f"checkpoint {size0} accepted, cosigned by {s.witness_signer.name}: leaves 0 to" in out
    first = _state(state)
    assert first["checked"] == size0 and first["replay"]["failure_counts"] == {}
    assert sum(first["replay"]["events"].values()) == size0

    # The monitor runs while the log grows past a full tile (256 leaves). It may poll
    # between the log's signature and the witness's (the test stores them one after
    # the other): that checkpoint has no quorum, which --keep-going records.
    process = subprocess.Popen(
        [LEDGER, "monitor", *args, "--state", str(state), "--interval", "0.2", "--keep-going"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=server_env(),
    )
    try:
        _grow(world, 260 - size0)
        witness.cosign(log, s.log_signer)
        size1 = log.size()
        _wait_for(f"checkpoint {size1}", _at(state, size1), process)
        _grow(world, 5)
        witness.cosign(log, s.log_signer)
        size2 = log.size()
        _wait_for(f"checkpoint {size2}", _at(state, size2), process)
    finally:
        process.send_signal(signal.SIGTERM)  # killed between polls: the state is whole
        output, _ = process.communicate(timeout=10)
    assert f"checkpoint {size1} accepted".encode() in output
    before = _state(state)
    assert before["checked"] == size2 and before["replay"]["failure_counts"] == {}
    assert {f["error"] for f in before["findings"]} == {"UnwitnessedError"}

    # Restarted: it resumes from its state and fetches only what is new; no leaf is
    # checked twice (a second replay of an event would fail its chain).
    _grow(world, 3)
    witness.cosign(log, s.log_signer)
    size3 = log.size()
    code, out, _ = _monitor(*args, "--state", str(state), "--once")
    assert code == 0, out
    assert (
        f"checkpoint {size3} accepted, cosigned by {s.witness_signer.name}: "
        f"leaves {size2} to {size3 - 1} checked" in out
    )
    after = _state(state)
    assert after["checked"] == size3 and after["replay"]["failure_counts"] == {}
    assert sum(after["replay"]["events"].values()) == size3
    new_tiles = list(tiles.tiles_of(size3, size2))
    assert after["fetched"]["bundles"] - before["fetched"]["bundles"] == sum(
        1 for t in new_tiles if t.level == 0
    )
    assert after["fetched"]["tiles"] - before["fetched"]["tiles"] <= len(new_tiles) + 2
    totals = after["totals"]["bupati-33.16"]["total"]
    assert totals["sheets"] == 2 and totals["valid"] == 2 * 180

    # A second monitor on the same state is refused; so is a state that is not one.
    with Monitor(server.url, load_policy(trust, args[4]), state):
        code, _, err = _monitor(*args, "--state", str(state), "--once")
    assert code == 1 and err.startswith("ledger: error: another monitor holds"), err
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "state.json").write_text('{"format": "ledger-monitor-state/v1"}')
    code, _, err = _monitor(*args, "--state", str(tmp_path / "broken"), "--once")
    assert code == 1 and err.count("\n") == 1 and "is not a monitor state" in err, err


# --- tampering ----------------------------------------------------------------------------


class TamperingProxy:
    """An HTTP proxy to ``target`` that flips the last byte of the responses whose path
    ``tamper`` selects (while it is set)."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.tamper: Callable[[str], bool] | None = None
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                upstream = httpx.get(proxy.target + self.path, timeout=10)
                body = upstream.content
                if proxy.tamper is not None and proxy.tamper(self.path) and body:
                    body = body[:-1] + bytes([body[-1] ^ 1])
                self.send_response(upstream.status_code)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_a_tampered_tile_or_entry_is_named_and_nothing_is_kept(
    world: World, server: Server, tmp_path: Path
) -> None:
    s = world.scenario
    log = TransparencyLog(world.ledger)
    witness = InProcessWitness(tmp_path / "witness", s)
    witness.cosign(log, s.log_signer)
    size = log.size()
    proxy = TamperingProxy(server.url)
    trust = str(tmp_path / "ledger" / "trust.json")
    args = [proxy.url, "--trust", trust, "--policy", _policy(tmp_path, s)]
    state = tmp_path / "monitor"
    try:
        proxy.tamper = lambda path: path.startswith("/tile/0/")
        code, out, _ = _monitor(*args, "--state", str(state), "--once")
        assert code == 1
        assert re.search(
            rf"FINDING: RootMismatchError at checkpoint {size} \(root [0-9a-f]{{16}}, served at "
            rf"{re.escape(proxy.url)}/checkpoint\), its tiles: the tiles of tree size {size} "
            r"lead to root [0-9a-f]{16}, the checkpoint signs [0-9a-f]{16}",
            out,
        ), out
        assert _state(state)["size"] == 0 and _state(state)["checked"] == 0

        # An entry changed in its bundle: named by its leaf; --keep-going records it.
        proxy.tamper = lambda path: path.startswith("/tile/entries/")
        code, out, _ = _monitor(*args, "--state", str(state), "--once", "--keep-going")
        assert code == 1
        assert (
            f"FINDING: RootMismatchError at checkpoint {size}" in out
            and f"{tiles.entries_path(0, size)}: entry {size - 1} (leaf {size - 1}) does not "
            "hash to its leaf in the level-0 tile"
            in out
        ), out
        findings = _state(state)["findings"]
        assert [f["error"] for f in findings] == ["RootMismatchError", "RootMismatchError"]
        assert _state(state)["size"] == 0

        # The proxy stops lying: the same checkpoint is accepted, the findings stay.
        proxy.tamper = None
        code, out, _ = _monitor(*args, "--state", str(state), "--once")
        assert code == 0, out
        assert _state(state)["size"] == size and len(_state(state)["findings"]) == 2
    finally:
        proxy.close()


# --- a bad entry in a witnessed tree -------------------------------------------------------


def _tile_tree(root: Path, entries: list[bytes], s: Scenario, witness_dir: Path) -> None:
    """A static tile tree of ``entries`` (under 256), its checkpoint cosigned by the
    scenario's witness: what a log that committed to a bad entry would serve."""
    assert len(entries) < tiles.TILE_WIDTH
    n = len(entries)
    leaves = [merkle.leaf_hash(e) for e in entries]
    for path, data in (
        (tiles.tile_path(0, 0, n), b"".join(leaves)),
        (tiles.entries_path(0, n), tiles.encode_entry_bundle(entries)),
    ):
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_bytes(data)
    rng = merkle.CompactRange()
    rng.extend(leaves)
    note = sign_note(Checkpoint(s.origin, n, rng.root()).to_text(), [s.log_signer])
    witness_dir.mkdir()
    witness = Witness(s.witness_signer, witness_dir, {s.origin: s.log_signer.verifier})
    (root / CHECKPOINT_FILE).write_bytes(note + witness.cosign(note, [], now=1_733_000_000))


def test_a_bad_entry_is_named_by_its_leaf_and_the_rest_is_checked(
    served: tuple[Path, str], tmp_path: Path
) -> None:
    s = Scenario()
    envelopes, keys = world_statements(s)
    count = s.count(keys["kpps"], "bupati-33.16", TPS, tally())
    bad_leaf = len(envelopes) + 1
    entries = [e.raw for e in envelopes] + [count.raw, count.raw]  # the same count twice
    root, base = served
    _tile_tree(root / "bad", entries, s, tmp_path / "witness")
    trust = tmp_path / "trust.json"
    from ledger.format.trust import trust_to_json

    trust.write_text(trust_to_json(s.trust()))
    args = [f"{base}/bad", "--trust", str(trust), "--policy", _policy(tmp_path, s)]
    state = tmp_path / "monitor"
    code, out, _ = _monitor(*args, "--state", str(state), "--once")
    assert code == 1
    assert re.search(
        rf"FINDING: StaleHeadError at leaf {bad_leaf} \(sheet:bupati-33.16:{re.escape(TPS)} seq 1, "
        r"[0-9a-f]{16}\): stream \S+ is at seq 1, statement is for seq 1",
        out,
    ), out
    saved = _state(state)  # the tree is witnessed: accepted, the finding kept
    assert saved["size"] == len(entries) and saved["replay"]["failure_counts"] == {
        "StaleHeadError": 1
    }
    assert saved["totals"]["bupati-33.16"]["total"]["sheets"] == 1
    # Nothing new: exit 0, the finding stays in the state.
    code, out, _ = _monitor(*args, "--state", str(state), "--once")
    assert code == 0 and "findings: 1" in out, out


# --- a split view, three witness services, quorum two of three -----------------------------

NAMES = ("w1.example/witness", "w2.example/witness", "w3.example/witness")


@pytest.fixture
def witnesses(tmp_path: Path, world: World) -> Iterator[list[tuple[WitnessProcess, Verifier]]]:
    log = (world.scenario.log_signer.verifier.vkey, world.scenario.origin)
    keys = [make_witness(tmp_path / f"w{i}", name, [log]) for i, name in enumerate(NAMES)]
    processes = [WitnessProcess(tmp_path / f"w{i}") for i in range(len(NAMES))]
    for running in started(processes):
        yield list(zip(running, keys, strict=True))


def _forged(s: Scenario, size: int) -> bytes:
    """A checkpoint of ``size`` leaves over another history, signed with the log key."""
    rng = merkle.CompactRange()
    rng.extend(hashlib.sha256(b"forged %d" % i).digest() for i in range(size))
    return sign_note(Checkpoint(s.origin, size, rng.root()).to_text(), [s.log_signer])


def test_a_split_view_never_gets_two_quorums_and_the_monitor_names_both_checkpoints(
    world: World,
    server: Server,
    witnesses: list[tuple[WitnessProcess, Verifier]],
    tmp_path: Path,
) -> None:
    s = world.scenario
    log = TransparencyLog(world.ledger)
    honest = log.issue_checkpoint(s.log_signer)
    size = log.size()
    forged = _forged(s, size)
    assert parse_note(forged).text != parse_note(honest).text

    def no_proof(old: int, new: int) -> list[bytes]:
        return []

    # The log shows the honest tree to w1 and w2, the forged one to w3; then tries the
    # other tree at every witness: each cosigns one tree of a size, never both (409).
    shown = {honest: [0, 1], forged: [2]}
    cosigned: dict[bytes, list[bytes]] = {honest: [], forged: []}
    for note, who in shown.items():
        for i in who:
            process, key = witnesses[i]
            cosigned[note].append(request_cosignature(process.url, key, note, no_proof))
    for note, who in shown.items():
        other = forged if note == honest else honest
        for i in who:
            process, key = witnesses[i]
            with pytest.raises(WitnessConflictError):
                request_cosignature(process.url, key, other, no_proof)
    quorums = [note for note, notes in cosigned.items() if len(notes) >= 2]
    assert quorums == [honest]  # at most one of the two trees reaches 2 of 3

    # The log publishes the honest tree with its two cosignatures.
    for note in cosigned[honest]:
        log.add_cosignatures(note, [key for _, key in witnesses])
    lines = [f"log {s.log_signer.verifier.vkey}"]
    lines += [
        f"witness w{i} {key.vkey} {process.url}" for i, (process, key) in enumerate(witnesses)
    ]
    lines += ["group q 2 w0 w1 w2", "quorum q"]
    policy = tmp_path / "two-of-three.policy"
    policy.write_text("\n".join(lines) + "\n")
    trust = str(tmp_path / "ledger" / "trust.json")
    state = tmp_path / "monitor"
    code, out, _ = _monitor(
        server.url, "--trust", trust, "--policy", str(policy), "--state", str(state), "--once"
    )
    assert code == 1, out
    root_h = Checkpoint.parse(parse_note(honest).text).root_hash.hex()[:16]
    root_f = Checkpoint.parse(parse_note(forged).text).root_hash.hex()[:16]
    w3 = witnesses[2][0].url
    assert f"checkpoint {size} accepted, cosigned by {NAMES[0]}, {NAMES[1]}" in out
    assert (
        f"FINDING: InconsistentCheckpointError at checkpoint {size} (root {root_h}, accepted "
        f"from the log) and checkpoint {size} (root {root_f}, cosigned by {NAMES[2]} at {w3}): "
        "a fork: the log signed two trees, neither extends the other"
    ) in out, out
    assert f"witness {witnesses[0][0].url}: checkpoint {size}, the same as the log's {size}" in out
    findings = _state(state)["findings"]
    assert len(findings) == 1 and root_f in findings[0]["where"]

    # `ledger checkpoint cosign` asks witness services by hand: w1 cosigns the honest tree
    # again; w3, which holds the forged one, refuses (409); two of three still stand.
    out_buf, err_buf = io.StringIO(), io.StringIO()
    argv = ["checkpoint", "cosign", "-L", str(tmp_path / "ledger"), "--policy", str(policy)]
    argv += ["--witness", f"w0={witnesses[0][0].url}", "--witness", f"w2={w3}"]
    with redirect_stdout(out_buf), redirect_stderr(err_buf):
        assert main(argv) == 0
    assert out_buf.getvalue() == (
        f"checkpoint {size} cosigned by {NAMES[0]}, {NAMES[1]}: the trust policy's quorum "
        f"2 of ({', '.join(NAMES)}) is met\n"
    )
    assert err_buf.getvalue().startswith(f"ledger: {NAMES[2]} did not cosign: witness {w3}")

    # The log grows; w1 and w2 cosign the new tree, w3 still holds the forged one. The
    # monitor accepts the new tree and proves again, from the log's tiles, that w3's
    # tree is no prefix of it: a new finding, naming the new checkpoint.
    _grow(world, 2)
    newer = log.issue_checkpoint(s.log_signer)
    size2 = log.size()

    def proofs(old: int, new: int) -> list[bytes]:
        return merkle.consistency_proof(old, new, log.store)

    for process, key in witnesses[:2]:
        cosigned2 = request_cosignature(process.url, key, newer, proofs, old_size=size)
        log.add_cosignatures(cosigned2, [key])
    code, out, _ = _monitor(
        server.url,
        "--trust",
        trust,
        "--policy",
        str(policy),
        "--state",
        str(state),
        "--once",
        "--keep-going",
    )
    assert code == 1, out
    root2 = Checkpoint.parse(parse_note(newer).text).root_hash.hex()[:16]
    assert (
        f"checkpoint {size2} accepted, cosigned by {NAMES[0]}, {NAMES[1]}: "
        f"leaves {size} to {size2 - 1} checked"
    ) in out, out
    assert (
        f"witness {witnesses[1][0].url}: checkpoint {size2}, the same as the log's {size2}" in out
    )
    assert (
        f"FINDING: InconsistentCheckpointError at checkpoint {size2} (root {root2}, accepted "
        f"from the log) and checkpoint {size} (root {root_f}, cosigned by {NAMES[2]} at {w3})"
    ) in out, out
    assert len(_state(state)["findings"]) == 2


# --- the verifier's replay, saved and restored -----------------------------------------------


def test_a_replay_saved_and_restored_halfway_ends_as_one_that_never_stopped() -> None:
    s = Scenario()
    envelopes, keys = world_statements(s)
    count = s.count(keys["kpps"], "bupati-33.16", TPS, tally())
    recount = s.count(keys["kpps"], "bupati-33.16", TPS, tally((100, 80)))
    entries = [e.raw for e in envelopes] + [count.raw, count.raw, recount.raw]
    policy = witnessed_policy(s.trust(), s.witness_signer.verifier)
    whole = Replay(policy, VerifyReport())
    for leaf, entry in enumerate(entries):
        whole.apply(leaf, entry)
    half = len(envelopes) + 1
    first = Replay(policy, VerifyReport())
    for leaf, entry in enumerate(entries[:half]):
        first.apply(leaf, entry)
    resumed = Replay.restore(policy, json.loads(json.dumps(first.snapshot())))
    for leaf, entry in enumerate(entries[half:], start=half):
        resumed.apply(leaf, entry)
    assert resumed.snapshot() == whole.snapshot()
    assert resumed.totals() == whole.totals() and resumed.tree.root() == whole.tree.root()
    assert resumed.report.failure_counts == {"StaleHeadError": 1}
    assert resumed.totals()["bupati-33.16"]["total"]["valid"] == 180

    other = Scenario("pilkada2029")
    with pytest.raises(ConfigurationError):
        Replay.restore(
            witnessed_policy(other.trust(), other.witness_signer.verifier), first.snapshot()
        )
    saved = first.snapshot()
    odd_pair = [{**signer, "pair": "1"} for signer in saved["signers"]]
    for broken in (
        {},
        {**saved, "tree": ["00"]},
        {**saved, "heads": []},
        {**saved, "signers": odd_pair},
    ):
        with pytest.raises(FormatError):
            Replay.restore(policy, broken)
