"""A whole election in a fresh ledger: the demo and the simulator's pipeline.

:func:`build` takes a :class:`~ledger.pilkada.simulate.Simulation` and a directory and
runs what a real deployment would: create the ledger (pinned to the
simulation's roots, with its log key), ingest every signed statement while the
live projection follows the log in a process of its own (projections.follow, as
beside ``ledger serve``), finish the projection's catch-up, sign a checkpoint,
have the Bawaslu witness cosign it, export the ledger and verify the export
offline. It returns what a person (or a test) wants to look at afterwards.

The keys of a demo are derived from a public seed: they demonstrate, they
protect nothing. Real signers generate their own (``ledger keys generate``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import Any

from keys import KeyDir, save_private_key, save_public_key
from ledger import pilkada
from ledger.checks.verify import TrustPolicy, VerifyReport, verify_export
from ledger.errors import ConfigurationError
from ledger.format.note import SIG_TYPE_COSIGNATURE_V1
from ledger.format.policy import parse_policy, policy_text
from ledger.format.regions import covers
from ledger.format.trust import trust_to_json
from ledger.log.export import export_ledger
from ledger.log.tlog import TransparencyLog
from ledger.log.witness import WITNESS_KEY, Witness
from ledger.pilkada.scenario import Scenario
from ledger.pilkada.simulate import Simulation
from ledger.progress import Progress
from ledger.store.home import LedgerHome
from projections import follow, views
from projections.recorder import Projections

__all__ = ["DEMO_PASSPHRASE", "DemoResult", "build"]

DEMO_PASSPHRASE = "demo-not-secret"
BATCH = 1000
# Keys written to DIR/keys so the README's journeys can sign with them.
SAMPLE_KEYS = ("kpu-root", "bawaslu-root")


@dataclass
class DemoResult:
    directory: Path
    events: int
    checkpoint: bytes
    findings: list[dict[str, Any]]
    report: VerifyReport
    totals: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    sample_keys: dict[str, str] = field(default_factory=dict)
    # Wall seconds of each step, in order (ingest, project, checkpoint, totals and
    # findings, export, verify): the national run's figures in BENCHMARKS.md come from
    # here. "project" is the time from the end of ingest until the projection has
    # caught up: the follower projected during ingest what it could.
    seconds: dict[str, float] = field(default_factory=dict)
    # How many events the follower had projected when ingest ended.
    projected_at_ingest: int = 0


def _batches(simulation: Simulation) -> Iterator[list[bytes]]:
    envelopes = (e.raw for e in simulation.envelopes())
    while chunk := list(islice(envelopes, BATCH)):
        yield chunk


def build(
    simulation: Simulation,
    directory: Path,
    *,
    passphrase: bytes,
    now: int | None = None,
    database: str = "sqlite:ledger.db",
) -> DemoResult:
    """Run the whole pipeline into ``directory`` (which must not hold a ledger yet),
    on ``database`` (a ledger.toml database URL: SQLite in the directory by default)."""
    if (directory / "ledger.toml").exists():
        raise ConfigurationError(f"{directory} already holds a ledger; choose a new directory")
    scenario = simulation.scenario
    trust = simulation.trust()
    home = LedgerHome(directory)
    ledger = home.create(
        election=trust.election,
        origin=trust.origin,
        kpu_root=trust.kpu_root,
        bawaslu_root=trust.bawaslu_root,
        passphrase=passphrase,
        database=database,
        log_key=scenario.log_key,
    )
    projections = Projections.create(ledger)
    follower = follow.start(directory, ledger.config.url)
    seconds: dict[str, float] = {}
    started = time.monotonic()

    def step(name: str) -> None:
        nonlocal started
        now_ = time.monotonic()
        seconds[name] = round(now_ - started, 3)
        started = now_

    try:
        events = 0
        with Progress("ingesting") as progress:
            for chunk in _batches(simulation):
                ledger.append_batch(chunk)
                events += len(chunk)
                progress.advance(len(chunk))
        step("ingest")
        projected_at_ingest = projections.position()
        follow.stop(follower)  # it commits the page in hand; this process does the rest
        with Progress("projecting", events - projections.position()) as progress:
            projections.catch_up(progress=progress.advance)
        step("project")

        log = TransparencyLog(ledger)
        checkpoint = log.issue_checkpoint(scenario.log_signer)

        witness_dir = directory / "witness"
        witness = _witness(scenario, witness_dir, passphrase, log)
        cosigned_at = int(time.time()) if now is None else now
        line = witness.cosign(checkpoint, [], now=cosigned_at)
        checkpoint = log.add_cosignatures(checkpoint + line, [witness.verifier])
        # The trust policy every verdict rests on: the Bawaslu witness must cosign.
        text = policy_text(trust.log_vkey, [witness.verifier.vkey])
        policy = parse_policy(text)
        (directory / "trust.json").write_text(trust_to_json(trust, policy=text))
        (directory / "checkpoint.txt").write_bytes(checkpoint)
        step("checkpoint")

        store = projections.store()
        totals = {
            c["id"]: views.totals(
                store, c["id"], "kabkota", within=_within(simulation, c["region"])
            )
            for c in views.contests(store)
        }
        found = views.findings(store, now=cosigned_at)  # the reviewer's clock: deadlines
        step("totals and findings")

        export = directory / "ledger.export"
        with open(export, "wb") as out, Progress("exporting", events) as progress:
            export_ledger(ledger, out, progress=progress.advance)
        step("export")
        with open(export, "rb") as stream, Progress("verifying", events) as progress:
            report = verify_export(stream, TrustPolicy(trust, policy), progress=progress.advance)
        step("verify")
        sample = _write_sample_keys(simulation, directory, passphrase)
    finally:
        follow.stop(follower)  # already stopped, unless a step failed before
        projections.close()
        ledger.close()
    return DemoResult(
        directory, events, checkpoint, found, report, totals, sample, seconds, projected_at_ingest
    )


def _witness(
    scenario: Scenario, directory: Path, passphrase: bytes, log: TransparencyLog
) -> Witness:
    """The Bawaslu witness, in the layout of `ledger witness init` (so `ledger witness
    cosign DIR/witness ...` works by hand with the demo passphrase)."""
    signer = scenario.witness_signer
    assert signer.sig_type == SIG_TYPE_COSIGNATURE_V1
    (directory / "state").mkdir(parents=True, exist_ok=True)
    keydir = KeyDir(directory)
    if not keydir.private_path(WITNESS_KEY).exists():
        save_private_key(keydir.private_path(WITNESS_KEY), scenario.witness_key, passphrase)
        save_public_key(keydir.public_path(WITNESS_KEY), scenario.witness_key.public_key())
    (directory / "name").write_text(signer.name + "\n")
    return Witness(signer, directory / "state", {log.log_verifier.name: log.log_verifier})


def _within(simulation: Simulation, contest_region: str) -> str:
    region = simulation.region
    return region if region and len(region) >= len(contest_region) else ""


def _write_sample_keys(
    simulation: Simulation, directory: Path, passphrase: bytes
) -> dict[str, str]:
    """Key files for the roots and a few signers, so people can sign by hand."""
    keydir = directory / "keys"
    keydir.mkdir(exist_ok=True)
    labels = list(SAMPLE_KEYS) + _sample_labels(simulation)
    written = {}
    for label in labels:
        name = label.replace(":", "_").replace("/", "-")
        key = simulation.scenario.key(label)
        if not (keydir / f"{name}.key").exists():
            save_private_key(KeyDir(keydir).private_path(name), key, passphrase)
            save_public_key(KeyDir(keydir).public_path(name), key.public_key())
        written[label] = str(keydir / f"{name}.key")
    return written


def _sample_labels(simulation: Simulation) -> list[str]:
    """A KPPS, PTPS, saksi, PPK and KPU kab/kota key of the region (Simulation's labels)."""
    data = pilkada.load()
    region = simulation.region or pilkada.BLORA
    kecamatan = data.kecamatan_of_region(region)
    kec = (
        pilkada.kecamatan_of_region(pilkada.RUTAN_BLORA_TPS)[0]
        if covers(region, pilkada.RUTAN_BLORA_TPS)
        else kecamatan[0]
    )
    tps = (
        pilkada.RUTAN_BLORA_TPS
        if covers(kec, pilkada.RUTAN_BLORA_TPS)
        else pilkada.tps_layout(kec)[0]
    )
    contest = (
        next(c for c in simulation.contests if c.office != "gubernur")
        if any(c.office != "gubernur" for c in simulation.contests)
        else simulation.contests[0]
    )
    return [
        f"kpps:{tps}",
        f"ptps:{tps}",
        f"ppk:{kec}",
        f"kpu-kab:{kec[:5]}",
        f"saksi:{contest.id}:1:{kec}",
    ]


def passphrase_for_demo() -> bytes:
    return os.fsencode(os.environ.get("LEDGER_PASSPHRASE", DEMO_PASSPHRASE))
