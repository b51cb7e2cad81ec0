"""The election's schedule, as data in its definition, and the deadlines it sets.

The ``election`` statement (version 2) MAY carry a ``schedule`` (docs/format.md
5.1): the voting day, the hour polls close, the recap window of each level, the
re-vote limit and the national holidays of the period. Every date and hour is
local: a TPS closes at 13:00 in its own zone, a recap window is a range of
calendar days in the recap's zone (ledger.format.timezones). From it:

* :func:`polls_close` - when a TPS's polls closed (a count signed earlier is a
  finding);
* :func:`in_recap_window` - whether a recap was signed within its level's window;
* :func:`revote_deadline` - the end of the last day a re-vote may be held (at most
  ``revote_days`` after voting day, UU 1/2015 Art. 112(1) as amended: PSU "paling
  lama 10 (sepuluh) hari setelah hari pemungutan suara");
* :func:`filing_deadline` - the end of the third working day after a
  determination's announcement, the last moment to petition the Constitutional
  Court (UU 10/2016 Art. 157(5): "paling lambat 3 (tiga) hari kerja terhitung
  sejak diumumkan penetapan perolehan suara hasil Pemilihan"). Working days are
  Monday to Friday except the period's national holidays (the schedule's
  ``holidays``, so that they are data, signed with the election, not code).

All functions are pure: the time to judge is passed in.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

from ledger.errors import SchemaError
from ledger.format.regions import KABKOTA, KECAMATAN, PROVINCE
from ledger.format.timezones import local_date, zone_for_region

__all__ = [
    "FILING_WORKING_DAYS",
    "PILKADA_2024",
    "RECAP_LEVELS",
    "Schedule",
    "check_schedule",
    "filing_deadline",
    "in_recap_window",
    "polls_close",
    "revote_deadline",
]

RECAP_LEVELS = (KECAMATAN, KABKOTA, PROVINCE)
FILING_WORKING_DAYS = 3  # UU 10/2016 Art. 157(5)
MAX_REVOTE_DAYS = 366  # a bound on the field, not a rule of law
MAX_HOLIDAYS = 100
_SATURDAY = 5  # date.weekday(): Monday 0 .. Sunday 6

# The schedule of the 27 November 2024 elections: PKPU 2/2024 as amended (voting
# day; recap windows as KPU announced them on 27 November 2024), polls closing at
# 13:00 local time (PKPU 17/2024), re-votes within 10 days, and the national
# holidays and joint leave days (cuti bersama) up to the end of January 2025
# (Keppres 33/2024 made voting day a holiday; SKB 3 Menteri on 2024 and 2025).
PILKADA_2024: dict[str, Any] = {
    "voting_day": "2024-11-27",
    "polls_close": "13:00",
    "recap": {
        KECAMATAN: ["2024-11-28", "2024-12-03"],
        KABKOTA: ["2024-11-29", "2024-12-06"],
        PROVINCE: ["2024-11-30", "2024-12-09"],
    },
    "revote_days": 10,
    "holidays": [
        "2024-11-27",
        "2024-12-25",
        "2024-12-26",
        "2025-01-01",
        "2025-01-27",
        "2025-01-28",
        "2025-01-29",
    ],
}


@dataclass(frozen=True, slots=True)
class Schedule:
    """A checked schedule (see :func:`check_schedule`)."""

    voting_day: date
    polls_close: time
    recap: Mapping[str, tuple[date, date]]
    revote_days: int
    holidays: frozenset[date]


def _date(value: Any, name: str) -> date:
    if not isinstance(value, str) or len(value) != 10:
        raise SchemaError(f"{name} must be a date written YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise SchemaError(f"{name} must be a date written YYYY-MM-DD, got {value!r}") from None


def check_schedule(value: Any) -> Schedule:
    """Check an election's ``schedule`` map (format.md 5.1) and return it parsed.

    SchemaError for a missing or unknown key, a date not written ``YYYY-MM-DD``,
    an hour not ``HH:MM``, a window that ends before it starts, holidays not
    strictly ascending.
    """
    if not isinstance(value, dict):
        raise SchemaError("election.schedule must be a map")
    fields = {"voting_day", "polls_close", "recap", "revote_days", "holidays"}
    if set(value) != fields:
        raise SchemaError(f"election.schedule must have exactly {', '.join(sorted(fields))}")
    voting_day = _date(value["voting_day"], "schedule.voting_day")
    close = value["polls_close"]
    try:
        if not isinstance(close, str) or len(close) != 5:
            raise ValueError
        closes = time.fromisoformat(close)
    except ValueError:
        raise SchemaError("schedule.polls_close must be an hour written HH:MM") from None
    recap = value["recap"]
    if not isinstance(recap, dict) or set(recap) != set(RECAP_LEVELS):
        raise SchemaError(f"schedule.recap must have exactly {', '.join(RECAP_LEVELS)}")
    windows = {}
    for level in RECAP_LEVELS:
        window = recap[level]
        if not isinstance(window, list) or len(window) != 2:
            raise SchemaError(f"schedule.recap.{level} must be [first day, last day]")
        first = _date(window[0], f"schedule.recap.{level}[0]")
        last = _date(window[1], f"schedule.recap.{level}[1]")
        if last < first:
            raise SchemaError(f"schedule.recap.{level} ends before it starts")
        windows[level] = (first, last)
    days = value["revote_days"]
    if isinstance(days, bool) or not isinstance(days, int) or not 0 <= days <= MAX_REVOTE_DAYS:
        raise SchemaError(f"schedule.revote_days must be an integer 0..{MAX_REVOTE_DAYS}")
    holidays = value["holidays"]
    if not isinstance(holidays, list) or len(holidays) > MAX_HOLIDAYS:
        raise SchemaError(f"schedule.holidays must be a list of at most {MAX_HOLIDAYS} dates")
    parsed = [_date(h, f"schedule.holidays[{i}]") for i, h in enumerate(holidays)]
    if any(b <= a for a, b in itertools.pairwise(parsed)):
        raise SchemaError("schedule.holidays must be strictly ascending")
    return Schedule(voting_day, closes, windows, days, frozenset(parsed))


def _start_of(day: date, region: str) -> int:
    """Unix seconds of local midnight starting ``day`` in the zone of ``region``."""
    _, offset = zone_for_region(region)
    return int(datetime.combine(day, time(0), tzinfo=timezone(offset)).timestamp())


def _end_of(day: date, region: str) -> int:
    """The last second of local ``day`` in the zone of ``region``."""
    return _start_of(day + timedelta(days=1), region) - 1


def polls_close(schedule: Schedule, tps: str) -> int:
    """Unix seconds when polls closed at ``tps`` on voting day, in its zone."""
    _, offset = zone_for_region(tps)
    closes = datetime.combine(schedule.voting_day, schedule.polls_close, tzinfo=timezone(offset))
    return int(closes.timestamp())


def in_recap_window(schedule: Schedule, level: str, region: str, unix: int) -> bool:
    """Whether ``unix`` falls on a day of the recap window of ``level``, locally."""
    first, last = schedule.recap[level]
    return first <= local_date(unix, region) <= last


def revote_deadline(schedule: Schedule, place: str, days: int | None = None) -> int:
    """The last second a re-vote at ``place`` may be held: the end of voting day +
    ``days`` (the schedule's limit unless a ruling sets another), locally."""
    limit = schedule.revote_days if days is None else days
    return _end_of(schedule.voting_day + timedelta(days=limit), place)


def _working(day: date, holidays: frozenset[date]) -> bool:
    return day.weekday() < _SATURDAY and day not in holidays


def filing_deadline(announced: int, region: str, holidays: frozenset[date]) -> tuple[date, int]:
    """The last day to petition the Court against a determination announced at
    ``announced`` in ``region``, and the last second of it (local).

    The third working day after the announcement's local day: weekends and
    ``holidays`` do not count, and neither does the day of the announcement
    itself (the plenary that announces usually ends late in the day).
    """
    day = local_date(announced, region)
    counted = 0
    while counted < FILING_WORKING_DAYS:
        day += timedelta(days=1)
        counted += _working(day, holidays)
    return day, _end_of(day, region)
