"""``python -m bench.proofs DIR``: inclusion and consistency proofs, each kind timed
on its own, from a synthetic stored tree kept in DIR (built once, reused after).

Issue 18 asks for proofs under 1 ms at p99 at 5 million leaves. The tree is
written through the ledger's own LogRecorder and tile table (``DIR/proofs.db``;
building 5 million leaves takes minutes, so a tree of the asked size already
there is reused). After a warm-up (the upper tiles' folds cached, as in a
serving process), each sample times one inclusion proof of a random leaf and one
consistency proof from a random older size to the whole tree. Prints one JSON
object: per kind the mean, p50 and p99 wall milliseconds, the pair's (what
``python -m bench`` reports as ``proof_ms_p99``), and the same of each proof's
CPU time (its thread's, which waiting for a core on a loaded machine does not
add to).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from ledger.format import merkle
from ledger.pilkada.scenario import Scenario
from ledger.progress import Progress
from ledger.store.application import Ledger
from ledger.store.persistence import LeafRow, LogRecorder

DEFAULT_LEAVES = 5_000_000
DEFAULT_SAMPLES = 3000
WARMUP = 500


def synthetic_tree(leaves: int, directory: Path) -> Ledger:
    """The ledger at ``directory/proofs.db`` holding a synthetic tree of ``leaves``
    leaves: the one there if it has that size, else a new one (``ValueError`` if a
    tree of another size is there)."""
    path = directory / "proofs.db"
    if path.exists():
        ledger = Ledger(f"sqlite:{path}")
        size = ledger.log_store.log_size()
        if size != leaves:
            ledger.close()
            raise ValueError(f"{path} holds a tree of {size:,} leaves, not {leaves:,}")
        return ledger
    # Trust roots only to make a ledger database: the tree below is synthetic.
    ledger = Ledger.create(f"sqlite:{path}", Scenario().trust())
    store = ledger.log_store
    tree = merkle.CompactRange()
    page = 100_000
    with Progress("building a tree", leaves) as progress:
        for start in range(0, leaves, page):
            rows, nodes = [], []
            for i in range(start, min(leaves, start + page)):
                leaf = hashlib.sha256(i.to_bytes(8, "big")).digest()
                nodes.extend(tree.append(merkle.leaf_hash(leaf)))
                rows.append(LeafRow(i, i + 1, leaf, f"synthetic:{i}", 1))
            store.record_leaves("bench-proofs", rows, nodes, rows[-1].notification_id)
            progress.advance(len(rows))
    return ledger


def _summary(ms: list[float]) -> dict[str, float]:
    q = statistics.quantiles(ms, n=100)
    return {"mean": round(statistics.fmean(ms), 3), "p50": round(q[49], 3), "p99": round(q[98], 3)}


def time_proofs(store: LogRecorder, samples: int, seed: int = 18) -> dict[str, Any]:
    """Time ``samples`` inclusion and consistency proofs over the whole stored tree:
    wall milliseconds, and CPU milliseconds (the thread's own time, which waiting
    for a core does not add to)."""
    size = store.log_size()
    if size < 2:
        raise ValueError("proofs need a tree of two leaves or more")
    rng = random.Random(seed)
    wall: dict[str, list[float]] = {"inclusion": [], "consistency": [], "pair": []}
    cpu: dict[str, list[float]] = {"inclusion": [], "consistency": []}
    clock, thread = time.perf_counter, time.thread_time
    for i in range(WARMUP + samples):
        index = rng.randrange(size)
        old = rng.randrange(1, size)
        c0, t0 = thread(), clock()
        merkle.inclusion_proof(index, size, store)
        t1, c1 = clock(), thread()
        merkle.consistency_proof(old, size, store)
        t2, c2 = clock(), thread()
        if i >= WARMUP:
            wall["inclusion"].append((t1 - t0) * 1000)
            wall["consistency"].append((t2 - t1) * 1000)
            wall["pair"].append((t2 - t0) * 1000)
            cpu["inclusion"].append((c1 - c0) * 1000)
            cpu["consistency"].append((c2 - c1) * 1000)
    return {
        "leaves": size,
        "samples": samples,
        **{f"{kind}_ms": _summary(ms) for kind, ms in wall.items()},
        **{f"{kind}_cpu_ms": _summary(ms) for kind, ms in cpu.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.proofs",
        description="Time inclusion and consistency proofs on a kept synthetic tree.",
    )
    parser.add_argument("directory", type=Path, help="where the tree is kept (proofs.db)")
    parser.add_argument("--leaves", type=int, default=DEFAULT_LEAVES)
    parser.add_argument("--samples", type=int, default=DEFAULT_SAMPLES)
    args = parser.parse_args(argv)
    args.directory.mkdir(parents=True, exist_ok=True)
    ledger = synthetic_tree(args.leaves, args.directory)
    try:
        print(json.dumps(time_proofs(ledger.log_store, args.samples), indent=2))
    finally:
        ledger.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
