"""An election's statements in the order the real process submits them, for concurrent senders.

The process runs in phases: definitions and grants, then the counts, then
attestations and corrections, then the recaps. :func:`phases` splits a stream of
envelopes (e.g. a :class:`~ledger.pilkada.simulate.Simulation`'s) into those
phases, and each phase into *waves*: a statement depends only on statements of
earlier waves or earlier in its own stream, so the streams of one wave can be
sent concurrently (each stream in seq order) and every statement finds what it
depends on already in the ledger.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from ledger.format.aftercount import AFTERCOUNT_KINDS
from ledger.format.recap import recap_inputs
from ledger.format.regions import key_stream
from ledger.format.statement import Envelope

__all__ = ["PHASES", "phases", "shares"]

PHASES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("definitions and grants", ("election", "contest", "grant", "revoke")),
    ("counts", ("count",)),
    ("attestations and corrections", ("attest", "correct")),
    ("recaps", ("recap",)),
)


def phases(envelopes: Sequence[Envelope]) -> list[tuple[str, list[list[Envelope]]]]:
    """``(phase name, waves)`` in process order; each wave keeps the envelopes' order."""
    grant_of = {e.statement.stream: e for e in envelopes if e.statement.kind == "grant"}
    depth: dict[bytes, int] = {}

    def grant_depth(e: Envelope) -> int:  # grant chains are a few links long
        if e.hash not in depth:
            granter = grant_of.get(key_stream(e.statement.signer))
            depth[e.hash] = 0 if granter is None else grant_depth(granter) + 1
        return depth[e.hash]

    # After the count (format.md 5.5-5.13) a sheet stream may interleave counts, orders,
    # recommendations and attestations, and a recap stream recaps and attestations of
    # them: such a sheet stream goes whole into the third phase, a recap stream into
    # the last, each in seq order.
    whole = {
        e.statement.stream: PHASES[2][0]
        for e in envelopes
        if e.statement.kind in AFTERCOUNT_KINDS and e.statement.stream.startswith("sheet:")
    }
    whole.update(
        (e.statement.stream, PHASES[3][0])
        for e in envelopes
        if e.statement.kind != "recap" and e.statement.stream.startswith("recap:")
    )
    recap_depth: dict[str, int] = {}
    out: list[tuple[str, list[list[Envelope]]]] = []
    for name, kinds in PHASES:
        by_wave: dict[int, list[Envelope]] = defaultdict(list)
        for e in envelopes:
            s = e.statement
            if s.stream in whole:
                if whole[s.stream] != name:
                    continue
            elif s.kind not in kinds:
                continue
            if s.stream == "election":
                wave = -1  # the election and its contests: one stream, before any grant
            elif s.kind == "grant":
                wave = grant_depth(e)
            elif s.kind == "recap":
                inputs = [stream for stream, _ in recap_inputs(s)]
                wave = 1 + max((recap_depth.get(i, -1) for i in inputs), default=-1)
                recap_depth[s.stream] = max(recap_depth.get(s.stream, 0), wave)
            elif s.stream.startswith("recap:"):
                wave = recap_depth.get(s.stream, 0)  # with the recap it attests
            else:
                wave = 0
            by_wave[wave].append(e)
        if by_wave:
            out.append((name, [by_wave[w] for w in sorted(by_wave)]))
    return out


def shares(wave: Sequence[Envelope], senders: int) -> list[list[Envelope]]:
    """The wave dealt to ``senders`` by stream (round robin), each stream whole and in order."""
    streams: dict[str, list[Envelope]] = defaultdict(list)
    for e in wave:
        streams[e.statement.stream].append(e)
    out: list[list[Envelope]] = [[] for _ in range(senders)]
    for i, stream in enumerate(streams.values()):
        out[i % senders] += stream
    return out
