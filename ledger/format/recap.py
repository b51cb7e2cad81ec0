"""Recap inputs and decisions by format version (docs/format.md 5.8).

Version 1 names every input stream in full (``{stream, head}``, about 85 bytes a
TPS), so the recap of a large kecamatan outgrows a tlog-tiles entry. Version 2
names them compactly and keeps every 32-byte head whole:

* a kecamatan recap's inputs are village groups ``{village, tps}``, ``tps`` the
  pairs ``[number, head]`` of the village's TPS (TPS id ``<village>/<number as
  3 digits>``), villages and numbers strictly ascending;
* a regency/city or province recap's inputs are pairs ``[region, head]`` of the
  recaps one level down, regions strictly ascending;

and bounds the decisions (:data:`MAX_DECISIONS`, :data:`MAX_DECISION_TEXT`). The
stream an input names is derived from the recap's own contest, so a version 2
recap names exactly the streams a version 1 recap would; :func:`recap_inputs`
gives them, for either version, to the ledger, the verifier and the projections.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ledger.errors import SchemaError
from ledger.format.regions import VILLAGE, level_of, parse_stream_id, recap_stream, sheet_stream
from ledger.format.statement import HASH_SIZE, Statement

__all__ = [
    "MAX_DECISIONS",
    "MAX_DECISION_TEXT",
    "MAX_TPS_NUMBER",
    "check_inputs_v2",
    "encode_inputs",
    "recap_inputs",
]

MAX_DECISIONS = 16  # per version 2 recap; more go into the next recap of the stream
MAX_DECISION_TEXT = 500  # code points of a version 2 decision's reason
MAX_TPS_NUMBER = 999  # a TPS number is three digits (format.md 4.4)


def encode_inputs(inputs: Sequence[tuple[str, bytes]], version: int) -> list[Any]:
    """The ``inputs`` of a recap body of ``version`` naming ``(stream, head)`` pairs.

    Version 2 sorts them (the encoding has one order); every stream of a version 2
    kecamatan recap must be a sheet stream, of a higher recap a recap stream.
    """
    if version == 1:
        return [{"stream": stream, "head": head} for stream, head in inputs]
    places = [(parse_stream_id(stream), head) for stream, head in inputs]
    if all(parts[0] == "recap" for parts, _ in places):
        return [[parts[2], head] for parts, head in sorted(places, key=lambda p: p[0][2])]
    if not all(parts[0] == "sheet" for parts, _ in places):
        raise SchemaError("a recap's inputs are all sheet streams or all recap streams")
    groups: dict[str, list[list[Any]]] = {}
    for parts, head in sorted(places, key=lambda p: p[0][2]):
        village, number = parts[2].split("/")
        groups.setdefault(village, []).append([int(number), head])
    return [{"village": village, "tps": tps} for village, tps in groups.items()]


def recap_inputs(statement: Statement) -> list[tuple[str, bytes]]:
    """The ``(stream, head)`` pairs a recap names, whatever its version.

    Precondition: the body passed :func:`ledger.format.schema.check_body`, and
    ``statement.stream`` is a recap stream (its contest names the inputs' streams).
    """
    inputs = statement.body["inputs"]
    if statement.version == 1:
        return [(item["stream"], item["head"]) for item in inputs]
    contest = parse_stream_id(statement.stream)[1]
    named: list[tuple[str, bytes]] = []
    for item in inputs:
        if isinstance(item, dict):
            named.extend(
                (sheet_stream(contest, f"{item['village']}/{number:03d}"), head)
                for number, head in item["tps"]
            )
        else:
            named.append((recap_stream(contest, item[0]), item[1]))
    return named


def _head(value: Any, what: str) -> None:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        raise SchemaError(f"{what} must be a 32-byte hash")


def _pair(value: Any, what: str) -> tuple[Any, Any]:
    if not isinstance(value, list) or len(value) != 2:
        raise SchemaError(f"{what} must be an array of 2 items")
    _head(value[1], f"{what}[1] (head)")
    return value[0], value[1]


def check_inputs_v2(inputs: Any) -> None:
    """Check the structure of a version 2 recap's ``inputs`` (format.md 5.8.2).

    Which streams they may name (the level of the recap) is authority, checked
    on :func:`recap_inputs` by ``ledger.format.authority``.
    """
    if not isinstance(inputs, list) or not inputs:
        raise SchemaError("recap.inputs must be a non-empty list")
    if all(isinstance(item, dict) for item in inputs):
        _check_village_groups(inputs)
        return
    if any(isinstance(item, dict) for item in inputs):
        raise SchemaError("recap.inputs mixes village groups and [region, head] pairs")
    last = ""
    for i, item in enumerate(inputs):
        region, _ = _pair(item, f"recap.inputs[{i}]")
        if not isinstance(region, str):
            raise SchemaError(f"recap.inputs[{i}][0] must be a region code")
        if region <= last:
            raise SchemaError(f"recap.inputs[{i}]: regions must be strictly ascending")
        last = region


def _check_village_groups(groups: list[dict[str, Any]]) -> None:
    last = ""
    for i, group in enumerate(groups):
        what = f"recap.inputs[{i}]"
        if set(group) != {"village", "tps"}:
            raise SchemaError(f"{what} must be a map of exactly village and tps")
        village = group["village"]
        if not isinstance(village, str) or level_of(village) != VILLAGE:
            raise SchemaError(f"{what}.village must be a village code, got {village!r}")
        if village <= last:
            raise SchemaError(f"{what}: villages must be strictly ascending")
        last = village
        tps = group["tps"]
        if not isinstance(tps, list) or not tps:
            raise SchemaError(f"{what}.tps must be a non-empty list")
        previous = -1
        for j, item in enumerate(tps):
            number, _ = _pair(item, f"{what}.tps[{j}]")
            if isinstance(number, bool) or not isinstance(number, int):
                raise SchemaError(f"{what}.tps[{j}][0] must be a TPS number")
            if not 0 <= number <= MAX_TPS_NUMBER:
                raise SchemaError(f"{what}.tps[{j}][0] must be 0..{MAX_TPS_NUMBER}, got {number}")
            if number <= previous:
                raise SchemaError(f"{what}.tps: TPS numbers must be strictly ascending")
            previous = number
