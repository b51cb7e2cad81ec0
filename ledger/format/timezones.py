"""Indonesia's three time zones, by province, and local time as people read it.

The election runs on local time: polls close at 13:00 in the TPS's own zone, and
the recap windows and filing deadlines are local calendar days. Indonesia has
three zones (Peraturan Presiden 41/1987 on the division of time zones):

* WIB (Waktu Indonesia Barat, UTC+7): Sumatra and its islands, Java, Banten,
  Kalimantan Barat and Kalimantan Tengah;
* WITA (Waktu Indonesia Tengah, UTC+8): Bali, Nusa Tenggara, Kalimantan Selatan,
  Timur and Utara, and every province of Sulawesi;
* WIT (Waktu Indonesia Timur, UTC+9): Maluku, Maluku Utara and the six provinces
  of Papua.

No zone border runs through a province, so the province code (the first two
digits of any region code or TPS id) decides the zone. The province list is the
one of ledger/pilkada/data (38 provinces, Kepmendagri 2025 codes).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

from ledger.errors import SchemaError

__all__ = [
    "WIB",
    "WIT",
    "WITA",
    "ZONE_OFFSETS",
    "local_date",
    "local_datetime",
    "local_time_text",
    "time_text",
    "zone_for_region",
]

WIB, WITA, WIT = "WIB", "WITA", "WIT"
ZONE_OFFSETS = {WIB: timedelta(hours=7), WITA: timedelta(hours=8), WIT: timedelta(hours=9)}

_WITA_PROVINCES = frozenset(
    {
        "51",  # Bali
        "52",  # Nusa Tenggara Barat
        "53",  # Nusa Tenggara Timur
        "63",  # Kalimantan Selatan
        "64",  # Kalimantan Timur
        "65",  # Kalimantan Utara
        "71",  # Sulawesi Utara
        "72",  # Sulawesi Tengah
        "73",  # Sulawesi Selatan
        "74",  # Sulawesi Tenggara
        "75",  # Gorontalo
        "76",  # Sulawesi Barat
    }
)
_WIT_PROVINCES = frozenset(
    {
        "81",  # Maluku
        "82",  # Maluku Utara
        "91",  # Papua
        "92",  # Papua Barat
        "93",  # Papua Selatan
        "94",  # Papua Tengah
        "95",  # Papua Pegunungan
        "96",  # Papua Barat Daya
    }
)
_WIB_PROVINCES = frozenset(
    {
        "11", "12", "13", "14", "15", "16", "17", "18", "19", "21",  # Sumatra, islands
        "31", "32", "33", "34", "35", "36",  # Java and Banten
        "61",  # Kalimantan Barat
        "62",  # Kalimantan Tengah
    }
)  # fmt: skip


def zone_for_region(code: str) -> tuple[str, timedelta]:
    """The zone of a region code or TPS id: its name and its offset from UTC.

    Decided by the province (the first two digits). SchemaError for a code whose
    province is not one of Indonesia's 38.
    """
    province = code[:2]
    if len(code) >= 2 and code[2:3] in ("", "."):
        if province in _WIB_PROVINCES:
            return WIB, ZONE_OFFSETS[WIB]
        if province in _WITA_PROVINCES:
            return WITA, ZONE_OFFSETS[WITA]
        if province in _WIT_PROVINCES:
            return WIT, ZONE_OFFSETS[WIT]
    raise SchemaError(f"{code!r} is not in a known province: no time zone")


def local_datetime(unix: int, region: str) -> datetime:
    """``unix`` seconds as an aware datetime in the zone of ``region``."""
    _, offset = zone_for_region(region)
    return datetime.fromtimestamp(unix, tz=UTC).astimezone(timezone(offset))


def local_date(unix: int, region: str) -> date:
    """The local calendar day, in the zone of ``region``, of ``unix`` seconds."""
    return local_datetime(unix, region).date()


def time_text(unix: int, place: str) -> str:
    """A time as shown to people: in ``place``'s zone, the zone named; in UTC where
    there is no place (the election's own events, the roots' grants)."""
    if place:
        return local_time_text(unix, place)
    return f"{datetime.fromtimestamp(unix, tz=UTC).strftime('%Y-%m-%d %H:%M:%S')} UTC"


def local_time_text(unix: int, region: str) -> str:
    """``unix`` seconds as people there read it, the zone named: ``2024-11-27 13:00 WITA``."""
    name, _ = zone_for_region(region)
    return f"{local_datetime(unix, region).strftime('%Y-%m-%d %H:%M:%S')} {name}"
