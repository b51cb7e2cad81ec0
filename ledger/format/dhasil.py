"""The recap's administrative block: what a D.Hasil carries besides the votes (format.md 5.8.3).

A version 2 recap may carry ``admin``: the registered DPT voters, the voters who
used their right by list (DPT, DPTb, DPK) and sex, the disabled voters who voted,
the ballots received, used, returned damaged or mis-marked and unused, and the
number of TPS summed. Only the DPT has registered figures on the form (so no
registered DPTb or DPK). Its structure is checked on acceptance; its arithmetic,
like the C.Hasil's, is evidence: :func:`admin_flags` reports the rules it breaks,
and the projections compare it with the sum of the level below.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ledger.errors import SchemaError

__all__ = ["ADMIN_FIELDS", "add_admin", "admin_flags", "admin_of_tally", "check_admin"]

VOTED = tuple(f"voted_{lst}_{sex}" for lst in ("dpt", "dptb", "dpk") for sex in ("m", "f"))
ADMIN_FIELDS = (
    "tps",
    "dpt_m",
    "dpt_f",
    *VOTED,
    "disabled_voted",
    "ballots_received",
    "ballots_used",
    "ballots_damaged",
    "ballots_unused",
)
# Ballots a TPS receives: its DPT and a 2.5% reserve (PKPU 17/2024), the reserve in
# whole ballots at each TPS; summed over ``tps`` TPS that rounding adds under one each.
RESERVE_PER_MILLE = 25


def check_admin(admin: Any) -> None:
    """Check the structure of a recap's ``admin`` block (exactly ADMIN_FIELDS, counts)."""
    if not isinstance(admin, dict):
        raise SchemaError("recap.admin must be a map")
    missing = set(ADMIN_FIELDS) - set(admin)
    if missing:
        raise SchemaError(f"recap.admin lacks field(s) {', '.join(sorted(missing))}")
    unknown = set(admin) - set(ADMIN_FIELDS)
    if unknown:
        raise SchemaError(f"recap.admin has unknown field(s) {', '.join(sorted(unknown))}")
    for name in ADMIN_FIELDS:
        value = admin[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise SchemaError(f"recap.admin.{name} must be a non-negative integer")


def admin_flags(admin: Mapping[str, Any], totals: Mapping[str, Any]) -> list[str]:
    """The D.Hasil rules an (accepted) admin block breaks, with the recap's totals."""
    flags = []
    voted = sum(admin[name] for name in VOTED)
    used = admin["ballots_used"]
    if voted != used:
        flags.append(f"ballots used {used} != voters who voted {voted}")
    if totals["valid"] + totals["invalid"] != used:
        flags.append(
            f"valid + invalid {totals['valid'] + totals['invalid']} != ballots used {used}"
        )
    if totals["voted"] != voted:
        flags.append(f"totals.voted {totals['voted']} != voters who voted {voted}")
    accounted = used + admin["ballots_unused"] + admin["ballots_damaged"]
    if accounted != admin["ballots_received"]:
        flags.append(
            f"ballots received {admin['ballots_received']} != used + unused + damaged {accounted}"
        )
    for sex in ("m", "f"):
        if admin[f"voted_dpt_{sex}"] > admin[f"dpt_{sex}"]:
            flags.append(
                f"voted_dpt_{sex} {admin[f'voted_dpt_{sex}']} > registered dpt_{sex} "
                f"{admin[f'dpt_{sex}']}"
            )
    dpt = admin["dpt_m"] + admin["dpt_f"]
    allowed = dpt + (dpt * RESERVE_PER_MILLE + 999) // 1000 + admin["tps"]
    if admin["ballots_received"] > allowed:
        flags.append(
            f"ballots received {admin['ballots_received']} > DPT {dpt} + 2.5% ({allowed} "
            f"with each of {admin['tps']} TPS's reserve rounded up)"
        )
    return flags


def admin_of_tally(tally: Mapping[str, Any]) -> dict[str, int]:
    """One C.Hasil's figures as the admin block of one TPS."""
    return {"tps": 1, **{name: tally[name] for name in ADMIN_FIELDS if name != "tps"}}


def add_admin(into: dict[str, int], admin: Mapping[str, int]) -> None:
    for name in ADMIN_FIELDS:
        into[name] = into.get(name, 0) + admin[name]
