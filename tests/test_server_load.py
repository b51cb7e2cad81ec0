"""The whole Blora election over HTTP: 16 clients, 2 server processes, PostgreSQL, one kill -9.

The demo's statements (every grant, count, attestation, correction, recap and
determination of Kabupaten Blora) are submitted phase by phase as the real
process runs them (ledger.pilkada.phases): definitions and grants, then counts,
then attestations and corrections, then recaps, then the determination; within
a phase concurrently, by 16 clients (each keeps the streams it was given in
order), spread over two ``ledger serve`` processes on one PostgreSQL ledger,
each envelope in its own ``POST /v1/envelopes`` as a field device sends it.
Halfway through the counts one server is killed with SIGKILL and started again;
its clients retry (the field client, ledger.server.client) until they have a receipt.

The run happens once (module fixture); each test checks one property of it.
"""

from __future__ import annotations

import random
import subprocess
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from ledger import pilkada
from ledger.cli._demo import DEMO_FAULTS
from ledger.format.note import Verifier
from ledger.format.policy import policy_text
from ledger.format.statement import Envelope
from ledger.format.trust import trust_to_json
from ledger.log import tiles
from ledger.log.proofs import Receipt
from ledger.log.tlog import TransparencyLog
from ledger.log.witness import Witness
from ledger.pilkada.phases import PHASES, phases, shares
from ledger.pilkada.simulate import Simulation
from ledger.server.client import LedgerClient, Receipted
from ledger.store.home import LedgerHome
from tests.conftest import postgres_schema
from tests.servers import LEDGER, Server, make_home, server_env

pytestmark = [pytest.mark.postgres, pytest.mark.slow]

CLIENTS = 16
RESUBMITTED_PER_PHASE = 40
CHECKPOINT_WAIT_S = 60  # a bound for a loaded machine, not a timing assertion


@dataclass
class Run:
    home: Path
    servers: list[Server]
    simulation: Simulation
    envelopes: list[Envelope]
    log: Verifier
    answers: dict[bytes, list[Receipted]] = field(default_factory=lambda: defaultdict(list))
    before_crash: dict[bytes, Receipted] = field(default_factory=dict)
    resubmitted: list[tuple[Receipted, Receipted]] = field(default_factory=list)
    killed_at: int = 0


def _submit_wave(
    run: Run, clients: list[LedgerClient], wave: list[Envelope], progress: Callable[[], None] | None
) -> None:
    lock = threading.Lock()

    def work(n: int, share: list[Envelope]) -> None:
        for e in share:
            answer = clients[n].submit(e.raw, run.log)
            with lock:
                run.answers[e.hash].append(answer)
                if progress is not None:
                    progress()

    with ThreadPoolExecutor(len(clients)) as pool:
        list(pool.map(work, range(len(clients)), shares(wave, len(clients))))


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    with postgres_schema() as url:
        yield from _load(tmp_path_factory, url)


def _load(tmp_path_factory: pytest.TempPathFactory, url: str) -> Iterator[Run]:
    simulation = Simulation(pilkada.BLORA, seed=2024, faults=DEMO_FAULTS)
    envelopes = list(simulation.envelopes())
    home = make_home(
        tmp_path_factory.mktemp("load") / "ledger",
        simulation.scenario,
        url,
    )
    servers = [Server(home), Server(home)]
    try:
        for server in servers:
            server.start().wait_ready()
        r = Run(home, servers, simulation, envelopes, simulation.scenario.log_signer.verifier)
        clients = [LedgerClient(servers[i % 2].url, retry_for_s=120) for i in range(CLIENTS)]
        rng = random.Random(13)
        for name, waves in phases(envelopes):
            crash = _crasher(r) if name == "counts" else None
            for wave in waves:
                _submit_wave(r, clients, wave, crash)
            # Resubmissions are recognised: the same position and receipt.
            sent = [e for wave in waves for e in wave]
            for e in rng.sample(sent, min(RESUBMITTED_PER_PHASE, len(sent))):
                again = clients[rng.randrange(CLIENTS)].submit(e.raw, r.log)
                r.resubmitted.append((r.answers[e.hash][0], again))
        for client in clients:
            client.close()
        yield r
    finally:
        for server in servers:
            server.stop()


def _crasher(run: Run) -> Callable[[], None]:
    """A progress hook that kills server 0 with SIGKILL once, halfway through the counts."""
    counts = sum(e.statement.kind == "count" for e in run.envelopes)
    seen = [0]

    def progress() -> None:
        seen[0] += 1
        if seen[0] == counts // 2:
            run.before_crash.update({h: a[0] for h, a in run.answers.items()})
            run.killed_at = seen[0]
            run.servers[0].kill()
            threading.Thread(
                target=lambda: run.servers[0].start().wait_ready(), daemon=True
            ).start()

    return progress


def test_every_statement_is_accepted_exactly_once(run: Run) -> None:
    assert set(run.answers) == {e.hash for e in run.envelopes}
    leaves = [answers[0].leaf_index for answers in run.answers.values()]
    for answers in run.answers.values():
        assert len({a.leaf_index for a in answers}) == 1
    assert sorted(leaves) == list(range(len(run.envelopes)))
    with httpx.Client(base_url=run.servers[1].url) as http:
        assert http.get("/healthz").json()["log_size"] == len(run.envelopes)
    assert run.killed_at > 0, "the crash happened during the load"


def test_resubmissions_are_recognised_as_duplicates(run: Run) -> None:
    sizes = [sum(map(len, waves)) for _, waves in phases(run.envelopes)]
    assert len(sizes) == len(PHASES)
    assert len(run.resubmitted) == sum(min(RESUBMITTED_PER_PHASE, n) for n in sizes)
    for first, again in run.resubmitted:
        assert again.duplicate
        assert (again.leaf_index, again.receipt) == (first.leaf_index, first.receipt)


def test_every_receipt_given_before_the_crash_is_in_the_log(run: Run) -> None:
    assert run.before_crash
    size = len(run.envelopes)
    leaf_of: dict[bytes, int] = {}
    with httpx.Client(base_url=run.servers[0].url, timeout=60) as http:
        for index in range(-(-size // tiles.TILE_WIDTH)):
            width = min(tiles.TILE_WIDTH, size - index * tiles.TILE_WIDTH)
            bundle = http.get("/" + tiles.entries_path(index, width))
            assert bundle.status_code == 200, bundle.text
            for offset, raw in enumerate(tiles.decode_entry_bundle(bundle.content)):
                leaf_of[Envelope.parse(raw).hash] = index * tiles.TILE_WIDTH + offset
    for event_hash, answer in run.before_crash.items():
        receipt = Receipt.open(answer.receipt, run.log)
        assert (receipt.event_hash, receipt.leaf_index) == (event_hash, answer.leaf_index)
        assert leaf_of[event_hash] == answer.leaf_index


def test_totals_are_the_provisional_figures(run: Run) -> None:
    expected = run.simulation.expected_totals()
    with httpx.Client(base_url=run.servers[0].url, timeout=120) as http:
        for contest, want in expected.items():
            doc = http.get("/v1/totals", params={"contest": contest, "level": "kabkota"}).json()
            (row,) = doc["totals"][contest]
            assert row["votes"] == want.region
            assert doc["position"] == len(run.envelopes)


def test_checkpoint_mirror_export_and_verify_say_ok(run: Run, tmp_path: Path) -> None:
    # The Bawaslu witness cosigns the server's latest checkpoint, once the checkpointer
    # (every second, tests.servers.Server) has published one of the whole log.
    with httpx.Client(base_url=run.servers[1].url, timeout=60) as http:
        deadline = time.monotonic() + CHECKPOINT_WAIT_S
        while True:
            note = http.get("/checkpoint").content
            published = int(note.split(b"\n")[1])
            if published == len(run.envelopes):
                break
            assert time.monotonic() < deadline, (
                f"/checkpoint still publishes size {published} of {len(run.envelopes)} "
                f"after {CHECKPOINT_WAIT_S} s"
            )
            time.sleep(0.5)
    scenario = run.simulation.scenario
    witness_dir = tmp_path / "witness"
    witness_dir.mkdir()
    ledger = LedgerHome(run.home).open()
    try:
        log = TransparencyLog(ledger)
        witness = Witness(scenario.witness_signer, witness_dir, {scenario.origin: log.log_verifier})
        line = witness.cosign(note, [], now=int(time.time()))
        log.add_cosignatures(note + line, [witness.verifier])
    finally:
        ledger.close()
    trust = tmp_path / "trust.json"
    roots = run.simulation.trust()
    trust.write_text(
        trust_to_json(roots, policy=policy_text(roots.log_vkey, [witness.verifier.vkey]))
    )
    env = server_env()

    def ledger_cli(*args: str) -> str:
        result = subprocess.run(
            [LEDGER, *args], env=env, capture_output=True, text=True, timeout=300, check=False
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    export = tmp_path / "ledger.export"
    ledger_cli("export", "-L", str(run.home), str(export))
    verdict = ledger_cli("verify", str(export), "--trust", str(trust))
    assert f"events: {len(run.envelopes):,} in the log" in verdict
    assert "VERDICT: OK" in verdict and "cosigned by bawaslu.example/witness" in verdict
    mirror = tmp_path / "mirror"
    ledger_cli("mirror", run.servers[0].url, str(mirror), "--trust", str(trust))
    assert "VERDICT: OK" in ledger_cli("verify", str(mirror), "--trust", str(trust))
    with httpx.Client(base_url=run.servers[0].url) as http:
        checkpoint = http.get("/checkpoint").text
    assert checkpoint.split("\n")[1] == str(len(run.envelopes))
