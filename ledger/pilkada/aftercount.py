"""How often the simulator plants the process after the count, and where.

In Pilkada 2024 (KPU, as of 29 November 2024) there were 46 re-votes
(pemungutan suara ulang), 231 delayed votes (susulan) and 10 continued votes
(lanjutan) among about 435,000 TPS. :class:`AfterCount` holds those as rates
per TPS, so a simulated region gets its share; :func:`after_plan` picks the TPS
from the seed alone.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["NATIONAL_TPS", "AfterCount", "after_plan", "first_count", "rng"]

NATIONAL_TPS = 435_000  # TPS in the reference data, nationally (about)
REVOTES_2024, DELAYED_2024, CONTINUED_2024 = 46, 231, 10


@dataclass(frozen=True, slots=True)
class AfterCount:
    """Per-TPS rates of re-votes, delayed and continued votes (2024's by default)."""

    revote: float = REVOTES_2024 / NATIONAL_TPS
    delayed: float = DELAYED_2024 / NATIONAL_TPS
    continued: float = CONTINUED_2024 / NATIONAL_TPS
    # Per kecamatan recap: a saksi objects at the PPK plenary and the PPK answers. No
    # national figure is published; an assumption of about one plenary in fifty.
    plenary_objection: float = 0.02

    def __post_init__(self) -> None:
        rates = (self.revote, self.delayed, self.continued)
        if any(r < 0 for r in rates) or sum(rates) > 1:
            raise ValueError("after-count rates must be >= 0 and sum to at most 1")
        if not 0 <= self.plenary_objection <= 1:
            raise ValueError("the plenary objection rate must be within [0, 1]")

    @classmethod
    def national(cls, revote: int, delayed: int, continued: int) -> AfterCount:
        """Rates from national counts of each (scaled to any region by its TPS)."""
        return cls(revote / NATIONAL_TPS, delayed / NATIONAL_TPS, continued / NATIONAL_TPS)

    @classmethod
    def none(cls) -> AfterCount:
        return cls(0.0, 0.0, 0.0, 0.0)


def rng(*parts: object) -> random.Random:
    """A Random seeded from SHA-256 of ``parts`` (never Python's salted hash)."""
    text = "\x1f".join(str(p) for p in parts).encode("utf-8")
    return random.Random(int.from_bytes(hashlib.sha256(text).digest()[:8], "big"))


def after_plan(
    after: AfterCount,
    seed: int,
    all_tps: Iterable[str],
    tallies: Mapping[str, Mapping[str, Any]],
    touched: Mapping[str, Mapping[str, Any]],
) -> dict[str, str]:
    """TPS -> "revote", "delayed" or "continued", for TPS counted in every contest
    (``tallies``: contest -> TPS -> tally) that no planted fault touches."""
    out: dict[str, str] = {}
    for tps in all_tps:
        draw = rng("simulate-aftercount", seed, tps).random()
        if not tallies or any(tps not in split for split in tallies.values()):
            continue
        if any(tps in sheets for sheets in touched.values()):
            continue
        if draw < after.revote:
            out[tps] = "revote"
        elif draw < after.revote + after.delayed:
            out[tps] = "delayed"
        elif draw < after.revote + after.delayed + after.continued:
            out[tps] = "continued"
    return out


def first_count(tally: Mapping[str, Any]) -> dict[str, Any]:
    """The count a re-vote replaces: one vote of the leading ballot counted for the next
    (valid and the arithmetic unchanged), so the two counts differ."""
    shown = dict(tally, votes=dict(tally["votes"]))
    votes = shown["votes"]
    numbers = sorted(votes, key=int)
    source = max(numbers, key=lambda n: (votes[n], -int(n)))
    if votes[source] and len(numbers) > 1:
        target = numbers[(numbers.index(source) + 1) % len(numbers)]
        votes[source] -= 1
        votes[target] += 1
    return shown
