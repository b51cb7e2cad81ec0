"""``python -m bench``: the ledger's throughput against the speed of Ed25519.

Measures, in one run on this machine, side by side:

* ``bound_verify_per_s``: raw Ed25519 verifications per second of the chosen
  backend on all cores (the physical floor: every event is verified once on
  ingest and once by every auditor);
* ``ingest_per_s``: events through the ledger on SQLite (decode, verify,
  authorize, chain, store, sequence) and the live projection;
* ``project_per_s``, ``project_per_s_first`` and ``project_per_s_last``: the live
  projection's catch-up over the whole log, and over the first and the last tenth
  of the log after its definitions prefix (``project_prefix_events``: the
  election, contests and grants before the first count, whose events are of
  other kinds); their ratio ``project_flat_ratio`` is near 1 when no query grows
  with the log;
* ``verify_per_s`` and ``verify_peak_rss_mib``: the offline verifier on an export
  of that ledger (in a child process, so its peak memory is its own);
* ``proof_ms_p99``: inclusion and consistency proofs from the stored tree;
* ``peer_store_per_s``: a plain eventsourcing application storing the same
  payloads with its default JSON transcoder and no cryptography (the peer);
* ``append_latency_ms_p99``: one submission's append on SQLite, one at a time;
* ``http_submit_per_s``, ``http_latency_ms_p99``, ``http_ratio``: single-envelope
  ``POST /v1/envelopes`` from 16 concurrent clients to ``ledger serve`` on
  PostgreSQL, beside the in-process ingest of the same envelopes on PostgreSQL
  (``http_inprocess_per_s``; bench/http.py);
* ``web_page_ms_p99`` (and per page: ``web_election_ms_p99``, ``web_contest_ms_p99``,
  ``web_tps_ms_p99``): the server time of the public pages over a simulated region
  (``--web-region``, default Blora; ``33`` builds Jawa Tengah; bench/web.py).

The events are the first ``--events`` statements of the national simulation
(real Pilkada 2024 data, kecamatan by kecamatan). It prints one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Any

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.http import http
from bench.proofs import synthetic_tree
from bench.web import web
from ledger.format import merkle
from ledger.format.statement import Envelope
from ledger.log.export import export_ledger
from ledger.log.tlog import TransparencyLog
from ledger.pilkada.simulate import Simulation
from ledger.progress import Progress
from ledger.store.application import Ledger
from projections.recorder import PAGE, Projections

DEFAULT_EVENTS = 20_000
DEFAULT_HTTP_EVENTS = 5_000
DEFAULT_WEB_REGION = "33.16"
DEFAULT_WEB_SAMPLES = 100
BATCH = 1000
PAGES_PER_RUN = 40  # the least number of projection pages after the definitions prefix


def _verify_loop(seconds: float) -> int:
    """Verify one signature over and over for ``seconds``; return how many."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.format import ed25519

    key = Ed25519PrivateKey.generate()
    message = os.urandom(600)
    signature = key.sign(message)
    public = ed25519.public_bytes(key)
    count = 0
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        for _ in range(200):
            ed25519.verify(public, signature, message)
        count += 200
    return count


def bound(seconds: float = 3.0) -> dict[str, float]:
    """Ed25519 verifications per second: one core, and all cores at once."""
    one = _verify_loop(seconds) / seconds
    cores = os.cpu_count() or 1
    with ProcessPoolExecutor(cores) as pool:
        counts = list(pool.map(_verify_loop, [seconds] * cores))
    return {"one_core": one, "all_cores": sum(counts) / seconds, "cores": cores}


def generate(n: int) -> tuple[Simulation, list[bytes]]:
    simulation = Simulation("", seed=2024)
    with Progress("generating", n) as progress:
        raws = []
        for envelope in islice(simulation.envelopes(), n):
            raws.append(envelope.raw)
            progress.advance()
    return simulation, raws


def ingest(
    url: str, simulation: Simulation, raws: list[bytes]
) -> tuple[Ledger, float, list[tuple[int, float]]]:
    """Append every envelope, then project them; return the ledger, the seconds and
    the projection's timeline (see :func:`project`)."""
    ledger = Ledger.create(url, simulation.trust())
    started = time.perf_counter()
    with Progress("ingesting", len(raws)) as progress:
        for i in range(0, len(raws), BATCH):
            chunk = raws[i : i + BATCH]
            ledger.append_batch(chunk)
            progress.advance(len(chunk))
    timeline = project(ledger, len(raws), definitions_prefix(raws))
    return ledger, time.perf_counter() - started, timeline


def definitions_prefix(raws: list[bytes]) -> int:
    """How many events open the log before the first result (count, attestation,
    correction or recap): the election, every contest definition and the grants
    made before any count. The projection's work per event there is of another
    kind (a contest row, a signer row, no tallies), so its rate there says
    nothing about whether the fold slows down as the log grows."""
    for i, raw in enumerate(raws):
        if Envelope.parse(raw).statement.kind not in ("election", "contest", "grant"):
            return i
    return len(raws)


def project(ledger: Ledger, events: int, prefix: int = 0) -> list[tuple[int, float]]:
    """Catch the live projection up; return (events projected, seconds) after each page.

    Pages are the live size, or a fortieth of the log after its definitions
    ``prefix`` when that is smaller, so that the first and last tenths of that
    part each span several pages.
    """
    page = max(1, min(PAGE, (events - prefix) // PAGES_PER_RUN))
    timeline = [(0, 0.0)]
    started = time.perf_counter()
    with Progress("projecting", events) as progress:

        def step(n: int) -> None:
            timeline.append((timeline[-1][0] + n, time.perf_counter() - started))
            progress.advance(n)

        Projections.create(ledger).catch_up(page=page, progress=step)
    return timeline


def tenth_rates(timeline: list[tuple[int, float]], start: int = 0) -> tuple[float, float]:
    """Events per second over the first and the last tenth of a projection timeline
    after its first ``start`` events (the definitions prefix: like is compared
    with like).

    Each tenth is widened to the page boundaries that enclose it.
    """
    total, seconds = timeline[-1]
    tenth = (total - start) / 10
    begin = max(p for p in timeline if p[0] <= start)
    first = next(p for p in timeline if p[0] >= start + tenth)
    last = next(p for p in reversed(timeline) if p[0] <= total - tenth)
    return (first[0] - begin[0]) / (first[1] - begin[1]), (total - last[0]) / (seconds - last[1])


def _process_tree(root: int) -> list[int]:
    """``root`` and every process descended from it (Linux /proc)."""
    children: dict[int, list[int]] = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(parent, []).append(int(name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo.extend(children.get(pid, []))
    return found


def _rss_kib(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def verify_in_child(export: Path, trust: Path) -> tuple[float, float]:
    """Run the verifier in a child process; return (seconds, peak RSS MiB summed over
    the child and its worker processes, sampled every 50 ms)."""
    code = (
        "import sys, time, json\n"
        "from ledger.checks.verify import load_policy, verify_export\n"
        "policy = load_policy(sys.argv[2], None)\n"
        "t = time.perf_counter()\n"
        "with open(sys.argv[1], 'rb') as f: report = verify_export(f, policy)\n"
        "print(json.dumps({'seconds': time.perf_counter() - t, 'ok': report.ok}))\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(export), str(trust)], stdout=subprocess.PIPE, text=True
    )
    peak_kib = 0
    while child.poll() is None:
        peak_kib = max(peak_kib, sum(_rss_kib(pid) for pid in _process_tree(child.pid)))
        time.sleep(0.05)
    out = child.stdout.read() if child.stdout is not None else ""
    if child.returncode != 0:
        raise SystemExit(f"bench: the verifier failed (exit {child.returncode})")
    result = json.loads(out)
    if not result["ok"]:
        raise SystemExit("bench: the verifier rejected the export")
    return result["seconds"], peak_kib / 1024


def proofs(ledger: Ledger, samples: int = 1000) -> float:
    """p99 milliseconds of inclusion and consistency proofs from the stored tree."""
    store = ledger.log_store
    size = store.log_size()
    rng = random.Random(7)
    timings = []
    for _ in range(samples):
        index = rng.randrange(size)
        old = rng.randrange(1, size + 1)
        started = time.perf_counter()
        merkle.inclusion_proof(index, size, store)
        if old < size:
            merkle.consistency_proof(old, size, store)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(timings, n=100)[98]


def proofs_at(leaves: int, directory: Path) -> float:
    """p99 proof milliseconds from a stored tree of ``leaves`` synthetic leaves.

    The tree is written through the ledger's own LogRecorder (its node table
    and queries), so this measures the production read path at a size the
    ingest run may not reach (the target is stated at 5 million leaves). A tree
    of that size already in ``directory`` is reused (bench/proofs.py, which also
    times each kind of proof on its own).
    """
    ledger = synthetic_tree(leaves, directory)
    try:
        return proofs(ledger)
    finally:
        ledger.close()


class _PeerStream(Aggregate):
    """The peer baseline's aggregate: one per stream, storing a JSON payload."""

    @event("Started")
    def __init__(self, payload: dict[str, Any]) -> None:
        self.payloads = [payload]

    @event("Appended")
    def append(self, payload: dict[str, Any]) -> None:
        self.payloads.append(payload)


def peer(raws: list[bytes], directory: Path) -> float:
    """Events per second for plain eventsourcing + JSON + SQLite, no cryptography."""
    app: Application[uuid.UUID] = Application(
        env={
            "PERSISTENCE_MODULE": "eventsourcing.sqlite",
            "SQLITE_DBNAME": str(directory / "peer.db"),
        }
    )
    payloads = []
    for raw in raws:
        statement = Envelope.parse(raw).statement
        payloads.append(
            (
                statement.stream,
                {
                    "kind": statement.kind,
                    "seq": statement.seq,
                    "envelope": base64.b64encode(raw).decode(),
                },
            )
        )
    streams: dict[str, _PeerStream] = {}
    started = time.perf_counter()
    for i in range(0, len(payloads), BATCH):
        pending = []
        for stream_id, payload in payloads[i : i + BATCH]:
            aggregate = streams.get(stream_id)
            if aggregate is None:
                aggregate = streams[stream_id] = _PeerStream(payload)
            else:
                aggregate.append(payload)
            pending.append(aggregate)
        app.save(*{id(a): a for a in pending}.values())
    return len(payloads) / (time.perf_counter() - started)


def append_latency(ledger: Ledger, raws: list[bytes], n: int) -> float:
    timings = []
    for raw in raws[:n]:
        started = time.perf_counter()
        ledger.append(raw)
        timings.append((time.perf_counter() - started) * 1000)
    return statistics.quantiles(timings, n=100)[98] if len(timings) > 1 else timings[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--events",
        type=int,
        default=DEFAULT_EVENTS,
        help=f"events to ingest (default {DEFAULT_EVENTS})",
    )
    parser.add_argument("--latency-samples", type=int, default=300)
    parser.add_argument(
        "--workdir", help="keep the databases and export here (default: a temp dir)"
    )
    parser.add_argument(
        "--proof-leaves",
        type=int,
        default=0,
        help="also time proofs on a synthetic stored tree of this many leaves",
    )
    parser.add_argument(
        "--http-events",
        type=int,
        default=DEFAULT_HTTP_EVENTS,
        help="events to submit over HTTP to `ledger serve` on PostgreSQL (0: skip)",
    )
    parser.add_argument(
        "--web-region",
        default=DEFAULT_WEB_REGION,
        help=f"region to simulate for the web pages' times (default {DEFAULT_WEB_REGION}, "
        "Blora; a province such as 33 builds a large one)",
    )
    parser.add_argument(
        "--web-samples",
        type=int,
        default=DEFAULT_WEB_SAMPLES,
        help=f"fetches of each page kind (default {DEFAULT_WEB_SAMPLES}; 0: skip)",
    )
    args = parser.parse_args(argv)

    workdir = Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="ledger-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    limits = bound()
    simulation, raws = generate(args.events + args.latency_samples)
    # The last envelopes are kept for the one-at-a-time latency test, even when
    # --events asks for more than the simulation holds.
    split = min(args.events, len(raws) - args.latency_samples)
    bulk, singles = raws[:split], raws[split:]

    ledger, ingest_seconds, timeline = ingest(f"sqlite:{workdir / 'ledger.db'}", simulation, bulk)
    TransparencyLog(ledger).issue_checkpoint(simulation.scenario.log_signer)
    export = workdir / "ledger.export"
    with open(export, "wb") as out:
        export_ledger(ledger, out)
    trust = workdir / "trust.json"
    from ledger.format.trust import trust_to_json

    # The bench's checkpoint is signed by the log alone: a policy that says so.
    policy = f"log {ledger.trust.log_vkey}\nquorum none\n"
    trust.write_text(trust_to_json(ledger.trust, policy=policy))
    verify_seconds, verify_rss = verify_in_child(export, trust)
    proof_p99 = proofs(ledger)
    latency_p99 = append_latency(ledger, singles, args.latency_samples)
    ledger.close()
    peer_rate = peer(bulk, workdir)

    proof_p99_at = proofs_at(args.proof_leaves, workdir) if args.proof_leaves else None
    http_figures = http(simulation, bulk[: args.http_events]) if args.http_events else {}
    web_figures = web(args.web_region, args.web_samples) if args.web_samples else {}
    ingest_rate = len(bulk) / ingest_seconds
    verify_rate = len(bulk) / verify_seconds
    prefix = definitions_prefix(bulk)
    project_first, project_last = tenth_rates(timeline, prefix)
    result = {
        "events": len(bulk),
        "bound_verify_per_s": round(limits["all_cores"]),
        "bound_verify_per_s_one_core": round(limits["one_core"]),
        "cores": limits["cores"],
        "ingest_per_s": round(ingest_rate),
        "project_per_s": round(len(bulk) / timeline[-1][1]),
        "project_per_s_first": round(project_first),
        "project_per_s_last": round(project_last),
        "project_flat_ratio": round(project_last / project_first, 3),
        "project_prefix_events": prefix,
        "verify_per_s": round(verify_rate),
        "peer_store_per_s": round(peer_rate),
        "ingest_ratio": round(ingest_rate / limits["all_cores"], 3),
        "verify_ratio": round(verify_rate / limits["all_cores"], 3),
        "verify_peak_rss_mib": round(verify_rss, 1),
        "proof_ms_p99": round(proof_p99, 3),
        "append_latency_ms_p99": round(latency_p99, 3),
        "proof_leaves": args.proof_leaves or len(bulk),
        "proof_ms_p99_at_proof_leaves": None if proof_p99_at is None else round(proof_p99_at, 3),
        **http_figures,
        **web_figures,
        "machine": f"{platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, Python {platform.python_version()}".strip(),
        "workdir": str(workdir),
    }
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
