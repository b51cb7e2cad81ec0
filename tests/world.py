"""A small election world for tests: Blora's two contests, one signer per role."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.checks.verify import TrustPolicy
from ledger.format.note import Verifier
from ledger.format.policy import parse_policy, policy_text
from ledger.format.schema import REGISTERED_FIELDS, TALLY_INT_FIELDS, tally_form
from ledger.format.statement import FORMAT_VERSION, Envelope
from ledger.format.trust import TrustRoots
from ledger.pilkada.scenario import Scenario
from ledger.store.application import Ledger
from ledger.store.home import LedgerHome
from projections.recorder import Projections

BUPATI = "bupati-33.16"
GUBERNUR = "gubernur-33"
KECAMATAN = "33.16.09"
TPS = "33.16.09.2001/001"
TPS2 = "33.16.09.2001/002"
TPS_ELSEWHERE = "33.16.01.2001/001"


def witnessed_policy(roots: TrustRoots, *witnesses: Verifier) -> TrustPolicy:
    """The roots, with a trust policy that needs every one of ``witnesses``."""
    return TrustPolicy(
        roots, parse_policy(policy_text(roots.log_vkey, [w.vkey for w in witnesses]))
    )


def unwitnessed_policy(roots: TrustRoots) -> TrustPolicy:
    """The roots, with a trust policy that says, in so many words, ``quorum none``."""
    return TrustPolicy(roots, parse_policy(f"log {roots.log_vkey}\nquorum none\n"))


def form(values: dict[str, Any], version: int = FORMAT_VERSION) -> dict[str, Any]:
    """A tally as the C.Hasil of format ``version`` has it (version 2: no registered
    DPTb or DPK), for tests that write a tally file themselves."""
    return tally_form(values, version)


def tally(
    pair_votes: tuple[int, ...] = (120, 60), invalid: int = 5, **overrides: Any
) -> dict[str, Any]:
    """An arithmetic-clean C.Hasil tally with the given votes, then any overrides."""
    valid = sum(pair_votes)
    used = valid + invalid
    values: dict[str, Any] = {name: 0 for name in TALLY_INT_FIELDS}
    values.update(
        dpt_m=150,
        dpt_f=150,
        voted_dpt_m=used // 2,
        voted_dpt_f=used - used // 2,
        disabled_registered=3,
        disabled_voted=2,
        ballots_received=310,
        ballots_used=used,
        ballots_damaged=2,
        ballots_unused=310 - used - 2,
        valid=valid,
        invalid=invalid,
    )
    values["votes"] = {str(i): v for i, v in enumerate(pair_votes, start=1)}
    values.update(overrides)
    assert all(name in values for name in REGISTERED_FIELDS)
    return values


@dataclass
class World:
    scenario: Scenario
    ledger: Ledger
    keys: dict[str, Ed25519PrivateKey] = field(default_factory=dict)

    def append(self, *envelopes: Any) -> Any:
        results = [self.ledger.append(e.raw) for e in envelopes]
        return results[-1] if results else None


def build_world(url: str, ledger: Ledger | None = None) -> World:
    """The world on a new ledger at ``url``, or on ``ledger`` (created with Scenario().trust())."""
    s = Scenario()
    if ledger is None:
        ledger = Ledger.create(url, s.trust())
        Projections.create(ledger)  # the projection's tables, as `ledger create` makes them
    w = World(s, ledger)
    envelopes, w.keys = world_statements(s)
    w.append(*envelopes)
    return w


def home_world(directory: Path, database_url: str, passphrase: str) -> World:
    """The world in a ledger directory (``ledger create``'s layout, for the CLI and the
    servers) at ``directory``, its database on the backend of ``database_url``."""
    s = Scenario()
    database = "sqlite:ledger.db" if database_url.startswith("sqlite:") else database_url
    ledger = LedgerHome(directory).create(
        election=s.election,
        origin=s.origin,
        kpu_root=s.trust().kpu_root,
        bawaslu_root=s.trust().bawaslu_root,
        passphrase=passphrase.encode(),
        database=database,
        log_key=s.log_key,
    )
    Projections.create(ledger)  # as `ledger create` makes them
    return build_world(database_url, ledger)


def world_statements(s: Scenario) -> tuple[list[Envelope], dict[str, Ed25519PrivateKey]]:
    """The world's election, contests and grants, in an order a ledger accepts."""
    out = [
        s.define_election("Pilkada Serentak 2024"),
        s.define_contest("bupati", "33.16", "Bupati Blora", ["Arief - Sri", "Abu - Andika"]),
        s.define_contest(
            "gubernur", "33", "Gubernur Jawa Tengah", ["Andika - Hendi", "Luthfi - Yasin"]
        ),
    ]
    k: dict[str, Ed25519PrivateKey] = {}
    k["kab"], g = s.grant(s.kpu, "kpu-kab-blora", "kpu-kab", "33.16")
    out.append(g)
    k["ppk"], g = s.grant(k["kab"], "ppk-blora", "ppk", KECAMATAN)
    out.append(g)
    for name, tps in (("kpps", TPS), ("kpps2", TPS2), ("kpps_elsewhere", TPS_ELSEWHERE)):
        k[name], g = s.grant(k["kab"], name, "kpps", tps)
        out.append(g)
    k["ptps"], g = s.grant(s.bawaslu, "ptps", "ptps", TPS)
    out.append(g)
    # Version 2 names the Panwaslu Kecamatan; version 1 has the flat panwas role.
    panwas_role = "panwas" if s.chain.version == 1 else "panwaslu-kec"
    k["panwas"], g = s.grant(s.bawaslu, "panwas-blora", panwas_role, KECAMATAN)
    out.append(g)
    for pair in (1, 2):
        k[f"paslon{pair}"], g = s.grant(
            s.kpu, f"paslon{pair}", "paslon", "33.16", contest=BUPATI, pair=pair
        )
        out.append(g)
        k[f"saksi{pair}"], g = s.grant(
            k[f"paslon{pair}"], f"saksi{pair}", "saksi", TPS, contest=BUPATI, pair=pair
        )
        out.append(g)
    return out, k
