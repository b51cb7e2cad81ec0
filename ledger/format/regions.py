"""Kemendagri region codes, TPS ids, contest ids and stream ids.

``33`` province, ``33.16`` regency/city, ``33.16.01`` kecamatan,
``33.16.01.2001`` village; a TPS is a village code, ``/`` and a 3-digit number
(``33.16.01.2001/001``). A scope *covers* a place when the place is the scope or
lies inside it; the empty scope covers everything (the roots' scope).
"""

from __future__ import annotations

import re

from ledger.errors import SchemaError

__all__ = [
    "LEVELS",
    "contest_id",
    "covers",
    "kecamatan_of",
    "key_stream",
    "level_of",
    "parse_contest_id",
    "parse_stream_id",
    "recap_stream",
    "result_stream",
    "sheet_stream",
    "stream_contest",
    "tps_region",
]

PROVINCE, KABKOTA, KECAMATAN, VILLAGE, TPS = "provinsi", "kabkota", "kecamatan", "desa", "tps"
LEVELS = (PROVINCE, KABKOTA, KECAMATAN, VILLAGE, TPS)

_REGION = re.compile(r"[0-9]{2}(?:\.[0-9]{2}(?:\.[0-9]{2}(?:\.[0-9]{4})?)?)?")
_TPS = re.compile(r"([0-9]{2}\.[0-9]{2}\.[0-9]{2}\.[0-9]{4})/([0-9]{3})")
OFFICES = {"gubernur": PROVINCE, "bupati": KABKOTA, "walikota": KABKOTA}


def level_of(place: str) -> str:
    """The level of a region code or TPS id; SchemaError if it is neither."""
    if _TPS.fullmatch(place):
        return TPS
    if not _REGION.fullmatch(place):
        raise SchemaError(f"{place!r} is not a region code or TPS id")
    return LEVELS[place.count(".")]


def tps_region(tps: str) -> str:
    """The village code of a TPS id."""
    match = _TPS.fullmatch(tps)
    if not match:
        raise SchemaError(f"{tps!r} is not a TPS id (village code '/' 3 digits)")
    return match.group(1)


def kecamatan_of(place: str) -> str:
    """The kecamatan code containing a village or TPS (or the kecamatan itself)."""
    code = tps_region(place) if "/" in place else place
    parts = code.split(".")
    if len(parts) < 3:
        raise SchemaError(f"{place!r} is above kecamatan level")
    return ".".join(parts[:3])


def covers(scope: str, place: str) -> bool:
    """True when ``place`` is ``scope`` or lies inside it."""
    return scope in ("", place) or place.startswith(scope + ".") or place.startswith(scope + "/")


def contest_id(office: str, region: str) -> str:
    return f"{office}-{region}"


def parse_contest_id(contest: str) -> tuple[str, str]:
    office, _, region = contest.partition("-")
    if office not in OFFICES or not region or level_of(region) != OFFICES[office]:
        raise SchemaError(
            f"{contest!r} is not a contest id (gubernur-<province>, bupati-<regency> "
            "or walikota-<city>)"
        )
    return office, region


def sheet_stream(contest: str, tps: str) -> str:
    return f"sheet:{contest}:{tps}"


def key_stream(key_id: bytes) -> str:
    return f"key:{key_id.hex()}"


def recap_stream(contest: str, region: str) -> str:
    return f"recap:{contest}:{region}"


def result_stream(contest: str) -> str:
    """The stream of a contest's determinations (format.md 4.3, version 2)."""
    return f"result:{contest}"


def stream_contest(stream: str) -> str:
    """The contest of a sheet, recap or result stream; SchemaError for any other stream."""
    parts = parse_stream_id(stream)
    if parts[0] not in ("sheet", "recap", "result"):
        raise SchemaError(f"stream {stream!r} is not a sheet, recap or result stream")
    return parts[1]


def parse_stream_id(stream: str) -> tuple[str, ...]:
    """Split a stream id into its type and parts, checking its shape.

    ``election`` -> ("election",); ``key:<hex key id>`` -> ("key", hex);
    ``sheet:<contest>:<tps>`` and ``recap:<contest>:<region>`` -> (type, contest, place);
    ``result:<contest>`` -> ("result", contest, the contest's region).
    """
    head, _, rest = stream.partition(":")
    if head == "election" and not rest:
        return ("election",)
    if head == "key" and re.fullmatch(r"[0-9a-f]{64}", rest) is not None:
        return ("key", rest)
    if head == "result":
        # result:<contest>: the contest's determinations; its place is the contest's region.
        return (head, rest, parse_contest_id(rest)[1])
    if head in ("sheet", "recap"):
        contest, _, place = rest.partition(":")
        _, region = parse_contest_id(contest)
        level = level_of(place)
        if head == "sheet" and level != TPS:
            raise SchemaError(f"sheet stream {stream!r} must name a TPS")
        if head == "recap" and level not in (PROVINCE, KABKOTA, KECAMATAN):
            raise SchemaError(f"recap stream {stream!r} must name a kecamatan or wider region")
        if not covers(region, place):
            raise SchemaError(f"stream {stream!r}: {place} is outside contest region {region}")
        return (head, contest, place)
    raise SchemaError(
        f"{stream!r} is not a stream id (election, key:<hex>, sheet:, recap: or result:)"
    )
