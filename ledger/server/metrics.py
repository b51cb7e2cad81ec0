"""Prometheus metrics of the server (``GET /metrics``).

With several worker processes, prometheus_client's multiprocess mode sums the
counters of every worker: ``ledger serve`` points ``PROMETHEUS_MULTIPROC_DIR``
at a fresh directory before the workers start (it must be set before this
module is imported). The log size is read from the database at each scrape, so
it is the same whichever worker answers.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Mapping

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

__all__ = ["ACCEPTED", "CONTENT_TYPE_LATEST", "GROUP_SIZE", "LATENCY", "REFUSED", "render"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"

ACCEPTED = Counter(
    "ledger_submissions_accepted_total",
    "Envelopes accepted (duplicate=true: already in the ledger, answered with its position)",
    ["duplicate"],
)
REFUSED = Counter(
    "ledger_submissions_refused_total",
    "Submissions refused, by the problem code of the answer",
    ["code"],
)
LATENCY = Histogram(
    "ledger_submit_seconds",
    "Time from a submission's arrival to its answer",
    ["endpoint"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
GROUP_SIZE = Histogram(
    "ledger_group_commit_envelopes",
    "Single-envelope submissions appended together in one group commit",
    buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512),
)


class _LogSize(Collector):
    def __init__(self, size: Callable[[], int], checkpoints: Mapping[str, int]) -> None:
        self.size = size
        self.checkpoints = checkpoints

    def collect(self) -> Iterator[GaugeMetricFamily]:
        yield GaugeMetricFamily("ledger_log_size", "Leaves in the transparency log", self.size())
        sizes = GaugeMetricFamily(
            "ledger_checkpoint_size",
            "Tree size of the latest checkpoint issued (state=latest) and of the latest one "
            "meeting the trust policy's quorum, served at /checkpoint (state=published); "
            "-1 if none; the two differ while the quorum is not met",
            labels=["state"],
        )
        for state, size in self.checkpoints.items():
            sizes.add_metric([state], size)
        yield sizes


def render(log_size: Callable[[], int], checkpoints: Mapping[str, int] | None = None) -> bytes:
    """The text exposition of every metric of every worker, the log size, and the
    checkpoint sizes (read from the database: the same whichever worker answers)."""
    if os.environ.get(MULTIPROC_ENV):
        workers = CollectorRegistry()
        multiprocess.MultiProcessCollector(workers)  # type: ignore[no-untyped-call]
    else:
        workers = REGISTRY
    size = CollectorRegistry()
    size.register(_LogSize(log_size, checkpoints or {}))
    return generate_latest(workers) + generate_latest(size)
