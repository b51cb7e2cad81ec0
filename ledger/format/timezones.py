"""Indonesia's three time zones, by province (Kemendagri code).

Waktu Indonesia Barat (WIB, UTC+7): Sumatra, Java, West and Central Kalimantan;
Waktu Indonesia Tengah (WITA, UTC+8): Bali, Nusa Tenggara, South, East and North
Kalimantan, Sulawesi; Waktu Indonesia Timur (WIT, UTC+9): Maluku and Papua
(Presidential Decree 41/1987). A place's zone is its province's: no province
spans two zones.
"""

from __future__ import annotations

from datetime import timedelta

from ledger.errors import SchemaError

__all__ = ["WIB", "WIT", "WITA", "zone_for_region"]

WIB = ("WIB", timedelta(hours=7))
WITA = ("WITA", timedelta(hours=8))
WIT = ("WIT", timedelta(hours=9))

_PROVINCE_ZONE: dict[str, tuple[str, timedelta]] = {
    **dict.fromkeys(("11", "12", "13", "14", "15", "16", "17", "18", "19", "21"), WIB),
    **dict.fromkeys(("31", "32", "33", "34", "35", "36"), WIB),
    **dict.fromkeys(("61", "62"), WIB),
    **dict.fromkeys(("51", "52", "53"), WITA),
    **dict.fromkeys(("63", "64", "65"), WITA),
    **dict.fromkeys(("71", "72", "73", "74", "75", "76"), WITA),
    **dict.fromkeys(("81", "82"), WIT),
    **dict.fromkeys(("91", "92", "93", "94", "95", "96"), WIT),
}


def zone_for_region(code: str) -> tuple[str, timedelta]:
    """The zone (name, offset from UTC) of a region code or TPS id (docs/format.md 4.4).

    Precondition: ``code`` starts with a two-digit province code. Raises
    SchemaError for a province this table does not know.
    """
    zone = _PROVINCE_ZONE.get(code[:2])
    if zone is None or (len(code) > 2 and code[2] != "."):
        raise SchemaError(f"no time zone is known for region {code[:32]!r}")
    return zone
