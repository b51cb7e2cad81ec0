"""The public pages, rendered on the server: readable without JavaScript.

Each page is a pure function of the projection (projections.views), the stored
checkpoints and the trust roots, and the reader's language; the HTTP layer
(ledger.server.pages) fetches those and answers. Every value written into HTML
goes through :func:`html.escape`. The TPS page carries what its script
(static/tps.js) needs to check the sheets in the reader's browser.

Issue #15 (objections, recommendations, re-votes) adds sections: their places
are the functions :func:`_objections` and :func:`_recommendations`. Issue #16's
determination of the outcome is :func:`_determination`.
"""

from __future__ import annotations

from dataclasses import dataclass
from html import escape
from typing import Any
from urllib.parse import quote, urlencode

from ledger.errors import LedgerError, UnknownEventError
from ledger.format.aftercount import OBJECTING
from ledger.format.dhasil import ADMIN_FIELDS, admin_flags
from ledger.format.note import Checkpoint, Verifier, cosignature_timestamp, parse_note
from ledger.format.outcome import NEW_ELECTION
from ledger.format.policy import TlogPolicy
from ledger.format.regions import (
    KABKOTA,
    KECAMATAN,
    PROVINCE,
    TPS,
    VILLAGE,
    covers,
    kecamatan_of,
    level_of,
    recap_stream,
    tps_region,
)
from ledger.format.schema import V1_ONLY_FIELDS, tally_fields
from ledger.format.timezones import zone_for_region
from ledger.pilkada import reference
from ledger.web.cache import CachedViews, ViewCache
from ledger.web.chart import bar_chart
from ledger.web.i18n import fmt_int, fmt_percent, fmt_time, role_name, t, tally_label
from projections import outcomes, views
from projections.store import Entity, Store

__all__ = [
    "CheckpointInfo",
    "checkpoint_info",
    "contest_page",
    "election_page",
    "findings_page",
    "not_found_page",
    "search_page",
    "tps_page",
]

CHILD_LEVEL = {PROVINCE: KABKOTA, KABKOTA: KECAMATAN, KECAMATAN: VILLAGE}
MAX_SEARCH_RESULTS = 50
MAX_LISTED = 50  # recommendations and orders below a region listed on its page (the count says all)
NAME_IN_CHART = 28  # characters of a pair's name in the chart (the table has it whole)


def e(value: object) -> str:
    return escape(str(value), quote=True)


@dataclass(frozen=True, slots=True)
class CheckpointInfo:
    """A stored checkpoint as the pages show it."""

    size: int
    root_hex: str
    witnesses: tuple[tuple[str, int], ...]  # verified cosigners of the policy: (name, time)
    meets_policy: bool


def checkpoint_info(note: bytes, log: Verifier, policy: TlogPolicy | None) -> CheckpointInfo:
    """What the pages say about ``note``: its size, root and verified cosignatures.

    Raises a LedgerError if the log did not sign it or a policy key's signature fails.
    """
    parsed = parse_note(note)
    checkpoint = Checkpoint.parse(parsed.text)
    witnesses: list[tuple[str, int]] = []
    meets = False
    if policy is not None:
        cosigners = policy.cosigners(note, log)
        names = {w.name for w in cosigners}
        for signature in parsed.signatures:
            if signature.name in names:
                witnesses.append((signature.name, cosignature_timestamp(signature)))
                names.discard(signature.name)
        meets = policy.meets(cosigners)
    return CheckpointInfo(checkpoint.size, checkpoint.root_hash.hex(), tuple(witnesses), meets)


# --- the frame --------------------------------------------------------------------------


def _href(path: str, **query: str) -> str:
    wanted = {k: v for k, v in query.items() if v}
    return e(quote(path, safe="/.-_:") + (f"?{urlencode(wanted)}" if wanted else ""))


def layout(lang: str, title: str, body: str, path: str, *, scripts: tuple[str, ...] = ()) -> str:
    other = "en" if lang == "id" else "id"
    switch = "English" if other == "en" else "Bahasa Indonesia"
    script_tags = "".join(f'<script type="module" src="{e(s)}"></script>' for s in scripts)
    return f"""<!doctype html>
<html lang="{lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{e(title)} · {e(t(lang, "site"))}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="/static/style.css">
{script_tags}
</head>
<body>
<a class="skip" href="#main">{e(t(lang, "skip"))}</a>
<header>
<p class="site"><a href="/">{e(t(lang, "site"))}</a></p>
<nav aria-label="{e(t(lang, "nav"))}"><ul>
<li><a href="/">{e(t(lang, "election"))}</a></li>
<li><a href="/findings">{e(t(lang, "findings"))}</a></li>
<li><a href="{_href(path, lang=other)}" hreflang="{other}" lang="{other}">{switch}</a></li>
</ul></nav>
<form class="search" role="search" action="/search" method="get">
<label for="q">{e(t(lang, "search_label"))}</label>
<span class="row"><input id="q" name="q" type="search" placeholder="{e(t(lang, "search_placeholder"))}">
<button type="submit">{e(t(lang, "search"))}</button></span>
</form>
</header>
<main id="main" tabindex="-1">
{body}
</main>
</body>
</html>
"""


def region_name(code: str) -> str:
    return reference.load().regions.get(code, code)


def _level_name(lang: str, level: str) -> str:
    return t(lang, level)


def _breadcrumb(lang: str, contest: Entity | None, place: str) -> str:
    items = [f'<li><a href="/">{e(t(lang, "election"))}</a></li>']
    if contest is not None:
        cid = contest["id"]
        items.append(f'<li><a href="{_href(f"/contest/{cid}")}">{e(contest["name"])}</a></li>')
        region = tps_region(place) if "/" in place else place
        parts = region.split(".") if region else []
        top = len(contest["region"].split("."))
        for n in range(top + 1, len(parts) + 1):
            code = ".".join(parts[:n])
            items.append(
                f'<li><a href="{_href(f"/contest/{cid}/{code}")}">{e(region_name(code))}</a></li>'
            )
    return f'<nav class="crumbs" aria-label="breadcrumb"><ol>{"".join(items)}</ol></nav>'


def _pair_names(contest: Entity) -> dict[str, str]:
    return {str(p["number"]): p["name"] for p in contest["body"]["pairs"]}


def _column_labels(lang: str, contest: Entity) -> dict[str, str]:
    """How each ballot column is named: ``1. <pair's names>``, or the kolom kosong as a
    column, never as a numbered pair (format.md 5.14)."""
    kolom_kosong = outcomes.kolom_kosong_of(contest)
    return {
        n: t(lang, "kolom_kosong")
        if kolom_kosong is not None and int(n) == kolom_kosong
        else f"{n}. {name}"
        for n, name in _pair_names(contest).items()
    }


def _column_heads(lang: str, contest: Entity) -> str:
    """Column heads of a drill-down table: the ballot number, or the kolom kosong's name."""
    kolom_kosong = outcomes.kolom_kosong_of(contest)
    heads = []
    for n in _pair_names(contest):
        named = kolom_kosong is not None and int(n) == kolom_kosong
        heads.append(f'<th scope="col">{e(t(lang, "kolom_kosong_short") if named else n)}</th>')
    return "".join(heads)


def _totals_table(lang: str, contest: Entity, row: dict[str, Any], caption: str) -> str:
    names = _column_labels(lang, contest)
    valid = row["valid"]
    body = "".join(
        f'<tr><th scope="row">{e(names[n])}</th>'
        f'<td data-pair="{e(n)}">{fmt_int(lang, row["votes"].get(n, 0))}</td>'
        f"<td>{fmt_percent(lang, row['votes'].get(n, 0), valid)}</td></tr>"
        for n in names
    )
    return (
        f'<div class="scroll"><table class="totals"><caption>{e(caption)}</caption>'
        f'<thead><tr><th scope="col">{e(t(lang, "pair"))}</th><th scope="col">{e(t(lang, "votes"))}</th>'
        f'<th scope="col">{e(t(lang, "share"))}</th></tr></thead><tbody>{body}</tbody>'
        f'<tfoot><tr><th scope="row">{e(t(lang, "valid"))}</th><td data-total="valid">{fmt_int(lang, valid)}</td><td></td></tr>'
        f'<tr><th scope="row">{e(t(lang, "invalid"))}</th><td data-total="invalid">{fmt_int(lang, row["invalid"])}</td><td></td></tr>'
        f"</tfoot></table></div>"
    )


def _chart(lang: str, contest: Entity, row: dict[str, Any], where: str) -> str:
    names = _column_labels(lang, contest)
    bars = []
    for n, name in names.items():
        short = name if len(name) <= NAME_IN_CHART else name[: NAME_IN_CHART - 1] + "…"
        value = row["votes"].get(n, 0)
        bars.append((short, value, fmt_int(lang, value)))
    desc = "; ".join(f"{n}: {fmt_int(lang, row['votes'].get(n, 0))}" for n in names)
    return bar_chart(bars, t(lang, "chart_label", desc=f"{where}, {desc}"))


def _progress(lang: str, reported: int, expected: int) -> str:
    return (
        f'<p class="progress"><progress max="{max(expected, 1)}" value="{reported}" '
        f'aria-label="{e(t(lang, "progress"))}"></progress> '
        f"{e(t(lang, 'sheets_of', n=fmt_int(lang, reported), m=fmt_int(lang, expected)))}</p>"
    )


def _sum_rows(contest: Entity, rows: list[dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {
        "votes": {n: 0 for n in _pair_names(contest)},
        "valid": 0,
        "invalid": 0,
        "voted": 0,
        "sheets_reported": 0,
        "sheets_expected": 0,
    }
    for row in rows:
        for n, v in row["votes"].items():
            total["votes"][n] = total["votes"].get(n, 0) + v
        for key in ("valid", "invalid", "voted", "sheets_reported", "sheets_expected"):
            total[key] += row[key]
    return total


# --- the election -----------------------------------------------------------------------


def election_page(
    lang: str,
    store: Store,
    latest: CheckpointInfo | None,
    witnessed: CheckpointInfo | None,
    cache: ViewCache | None = None,
) -> str:
    """The election: its contests with progress, the findings, the latest checkpoints."""
    v = (cache or ViewCache()).bind(store)
    election = store.get("election", "election")
    name = election["name"] if election else t(lang, "election")
    contests = views.contests(store)
    zone_region = contests[0]["region"] if contests else ""
    items = []
    for contest in contests:
        level = level_of(contest["region"])
        rows = v.totals(contest["id"], level, contest["region"])
        total = _sum_rows(contest, rows)
        link = _href(f"/contest/{contest['id']}")
        items.append(
            f'<li class="card" data-contest="{e(contest["id"])}">'
            f'<h3><a href="{link}">{e(contest["name"])}</a></h3>'
            f"{_progress(lang, total['sheets_reported'], total['sheets_expected'])}"
            f"{_determination(lang, v, contest, brief=True)}</li>"
        )
    found = v.findings()
    body = (
        f"<h1>{e(name)}</h1><p>{e(t(lang, 'tagline'))}</p>"
        f'<section aria-labelledby="contests-h"><h2 id="contests-h">{e(t(lang, "contests"))}</h2>'
        f'<ul class="cards">{"".join(items)}</ul></section>'
        f'<section aria-labelledby="findings-h"><h2 id="findings-h">{e(t(lang, "findings"))}</h2>'
        f'<p><a href="/findings" data-findings="{len(found)}">'
        f"{e(t(lang, 'findings_count', n=fmt_int(lang, len(found))))}</a></p></section>"
        f"{_checkpoint_section(lang, latest, witnessed, zone_region)}"
    )
    return layout(lang, name, body, "/")


def _checkpoint_section(
    lang: str, latest: CheckpointInfo | None, witnessed: CheckpointInfo | None, region: str
) -> str:
    head = f'<section id="checkpoint" aria-labelledby="cp-h"><h2 id="cp-h">{e(t(lang, "checkpoint"))}</h2>'
    if latest is None:
        return f"{head}<p>{e(t(lang, 'no_checkpoint'))}</p></section>"

    def when(ts: int) -> str:
        return fmt_time(lang, ts, region) if region else str(ts)

    parts = [
        f'<p data-size="{latest.size}">{e(t(lang, "checkpoint_size", n=fmt_int(lang, latest.size)))}</p>',
        f'<p>{e(t(lang, "checkpoint_root"))}: <code class="hash">{e(latest.root_hex)}</code></p>',
    ]
    shown = latest if latest.meets_policy else witnessed
    if shown is None:
        parts.append(f"<p>{e(t(lang, 'not_witnessed'))}</p>")
    else:
        if shown is not latest:
            parts.append(f"<p>{e(t(lang, 'not_witnessed'))}</p>")
            parts.append(f"<p>{e(t(lang, 'latest_witnessed', n=fmt_int(lang, shown.size)))}</p>")
        witnesses = "".join(
            f'<li data-witness="{e(n)}">{e(t(lang, "witness_at", name=n, time=when(ts)))}</li>'
            for n, ts in shown.witnesses
        )
        parts.append(f"<p>{e(t(lang, 'witnessed_by'))}:</p><ul>{witnesses}</ul>")
    return head + "".join(parts) + "</section>"


# --- a contest, at one of its regions -------------------------------------------------


def contest_page(
    lang: str, store: Store, contest_id: str, place: str = "", cache: ViewCache | None = None
) -> str:
    """A contest's totals at ``place`` (default: its region), its chart, recap and drill-down.

    Raises UnknownEventError for a contest that is not defined or a place outside it.
    """
    contest = store.get("contest", contest_id)
    if contest is None:
        raise UnknownEventError(f"contest {contest_id} is not defined")
    place = place or contest["region"]
    level = level_of(place)
    if level == TPS or not (covers(contest["region"], place)):
        raise UnknownEventError(f"{place} is not a region of contest {contest_id}")
    v = (cache or ViewCache()).bind(store)
    rows = v.totals(contest_id, level, place)
    total = _sum_rows(contest, rows)
    where = region_name(place)
    title = f"{contest['name']} — {where}"
    sections = [
        _breadcrumb(lang, contest, place),
        f"<h1>{e(contest['name'])}</h1>",
        f'<p class="where">{e(_level_name(lang, level))} {e(where)} <code>{e(place)}</code></p>',
        _progress(lang, total["sheets_reported"], total["sheets_expected"]),
        f'<section aria-labelledby="totals-h" id="totals"><h2 id="totals-h">{e(t(lang, "totals"))}</h2>'
        f"{_chart(lang, contest, total, where)}"
        f"{_totals_table(lang, contest, total, t(lang, 'sum_sheets') + ': ' + where)}</section>",
        _recap_section(lang, v, contest, place, total),
        _objections(lang, v, contest, place),
        _recommendations(lang, store, contest, place),
        _determination(lang, v, contest) if place == contest["region"] else "",
        _children(lang, v, contest, place, level),
    ]
    return layout(lang, title, "".join(sections), f"/contest/{contest_id}/{place}")


def _recap_section(
    lang: str, v: CachedViews, contest: Entity, place: str, sheets: dict[str, Any]
) -> str:
    head = (
        f'<section id="recap" aria-labelledby="recap-h"><h2 id="recap-h">'
        f"{e(t(lang, 'recap_vs_sheets'))}</h2>"
    )
    if level_of(place) == VILLAGE:
        return ""
    recaps = [r for r in v.recap_checks(contest["id"], place) if r["region"] == place]
    if not recaps:
        return f"{head}<p>{e(t(lang, 'no_recap'))}</p></section>"
    recap = recaps[0]
    names = _pair_names(contest)
    stated, computed = recap["totals"], recap["computed"]

    def cells(key: str, number: str | None = None) -> str:
        def get(d: dict[str, Any]) -> int:
            return int(d["votes"].get(number, 0) if number is not None else d[key])

        values = (get(sheets), get(stated), get(computed))
        diff = values[1] - values[0]
        cls = ' class="differs"' if diff else ""
        return (
            f'<td>{fmt_int(lang, values[0])}</td><td{cls} data-recap="{e(number or key)}">'
            f"{fmt_int(lang, values[1])}</td><td>{fmt_int(lang, values[2])}</td>"
            f"<td{cls}>{fmt_int(lang, diff)}</td>"
        )

    labels = _column_labels(lang, contest)
    body = "".join(
        f'<tr><th scope="row">{e(labels[n])}</th>{cells("votes", n)}</tr>' for n in names
    )
    body += "".join(
        f'<tr><th scope="row">{e(t(lang, k))}</th>{cells(k)}</tr>' for k in ("valid", "invalid")
    )
    status = t(lang, "recap_differs") if recap["difference"] else t(lang, "recap_ok")
    return (
        f"{head}<p>{e(t(lang, 'recap'))}: <code>{e(recap['stream'])}</code> — "
        f'<strong data-recap-status="{"differs" if recap["difference"] else "ok"}">{e(status)}</strong></p>'
        f'<div class="scroll"><table><thead><tr><th scope="col">{e(t(lang, "pair"))}</th>'
        f'<th scope="col">{e(t(lang, "sum_sheets"))}</th><th scope="col">{e(t(lang, "recap_stated"))}</th>'
        f'<th scope="col">{e(t(lang, "recap_inputs"))}</th><th scope="col">{e(t(lang, "difference"))}</th>'
        f"</tr></thead><tbody>{body}</tbody></table></div>"
        f"{_admin(lang, v.store.get('recap', recap['stream']))}</section>"
    )


def _objections(lang: str, v: CachedViews, contest: Entity, place: str) -> str:
    """The objections and refusals to sign at the plenary of ``place``'s recap, each with
    the decision that answers it by name, the plenary's other decisions (on the sheets'
    objections), and the sheets' unanswered objections in ``place`` (format.md 5.6, 5.8)."""
    open_count = v.open_objections(contest["id"], place)
    text = (
        t(lang, "open_objections", n=fmt_int(lang, open_count))
        if open_count
        else t(lang, "no_objections")
    )
    link = _href("/findings", kind="unanswered-objection", region=place)
    parts = [
        f'<section id="objections" aria-labelledby="obj-h"><h2 id="obj-h">{e(t(lang, "objections"))}</h2>'
    ]
    if level_of(place) != VILLAGE:
        parts.append(_plenary(lang, v.store, contest, place))
    parts.append(f'<p><a href="{link}">{e(text)}</a></p></section>')
    return "".join(parts)


def _plenary(lang: str, store: Store, contest: Entity, place: str) -> str:
    """The objections and refusals at the plenary of ``place``'s recap, and its decisions."""
    recap = store.get("recap", recap_stream(contest["id"], place))
    names = _pair_names(contest)
    heading = f"<h3>{e(t(lang, 'plenary'))}</h3>"
    if recap is None:
        return f"{heading}<p>{e(t(lang, 'no_plenary'))}</p>"
    rows = {r["hash"]: r for r in store.events(stream=recap["stream"])}
    items, named = [], set()
    for a in recap.get("attestations", []):
        if a["verdict"] not in OBJECTING:
            continue
        named.add(a["hash"])
        who, role = _attester(store, names, a)
        answer = (recap.get("answered") or {}).get(a["hash"])
        decision = _decision_of(recap, answer, a["hash"]) if answer else None
        items.append(
            f'<li data-verdict="{e(a["verdict"])}" data-event="{e(a["hash"])}">'
            f"{e(who.get('label', ''))} ({e(role)}): <strong>{e(_verdict(lang, a['verdict']))}</strong>"
            f" — {e(a['reason'])} {e(_when(lang, rows, a['hash'], place))} {_short(a['hash'])} "
            f"{_answer(lang, answer, decision)}</li>"
        )
    decisions = []
    for entry in recap["recaps"]:
        for d in entry["decisions"]:
            if d["objection"] in named:
                continue  # shown with its objection above
            objection = store.get("objection", d["objection"])
            where = ""
            if objection is not None and objection["stream"].startswith("sheet:"):
                tps = _place_of_stream(objection["stream"])
                where = f' <a href="{_href(f"/tps/{tps}")}">TPS {e(tps)}</a>'
            decisions.append(
                f'<li data-decision="{e(d["objection"])}">{e(t(lang, "decision_on"))} '
                f"{_short(d['objection'])}{where}: <strong>{e(t(lang, 'ruling_' + d['ruling']))}"
                f"</strong> — {e(d['reason'])} ({e(t(lang, 'recap'))} {_short(entry['hash'])})</li>"
            )
    listing = (
        f'<ul class="plenary">{"".join(items)}</ul>'
        if items
        else f"<p>{e(t(lang, 'no_plenary'))}</p>"
    )
    out = f"{heading}{listing}"
    if decisions:
        out += f'<h3>{e(t(lang, "decisions"))}</h3><ul class="decisions">{"".join(decisions)}</ul>'
    return out


def _recommendations(lang: str, store: Store, contest: Entity, place: str) -> str:
    """Bawaslu recommendations and KPU orders on the recap of ``place``, with their
    follow-ups, then those on the sheets and recaps below it (format.md 5.11-5.13)."""
    cid = contest["id"]
    parts = [
        f'<section id="recommendations" aria-labelledby="rec-h"><h2 id="rec-h">'
        f"{e(t(lang, 'recommendations'))}</h2>"
    ]
    stream = recap_stream(cid, place)
    if level_of(place) != VILLAGE:
        rows = {r["hash"]: r for r in store.events(stream=stream)}
        parts.append(_recommendations_in(lang, store, stream, place, rows, heading=False))
        parts.append(_orders(lang, store, stream, place, rows))
    below = sorted(
        (
            r
            for r in store.scan("recommendation", contest=cid, within=place)
            if r["stream"] != stream
        ),
        key=lambda r: r["leaf"],
    )
    items = []
    for rec in below[:MAX_LISTED]:
        where = _place_of_stream(rec["stream"])
        href = f"/tps/{where}" if "/" in where else f"/contest/{cid}/{where}"
        state = rec["followups"][-1]["verdict"] if rec["followups"] else "none"
        answer = t(lang, f"followup_{state}") if rec["followups"] else t(lang, "no_followup")
        remedy = t(lang, "recommends", remedy=t(lang, f"remedy_{rec['remedy']}"))
        items.append(
            f'<li data-recommendation="{e(rec["hash"])}" data-followup="{e(state)}">'
            f'<a href="{_href(href)}">{e(where)}</a>: {_signer(store, rec["signer"])} '
            f"{e(remedy)} — {e(answer)}</li>"
        )
    if items:
        parts.append(
            f"<h3>{e(t(lang, 'below'))} ({fmt_int(lang, len(below))})</h3>"
            f'<ul class="recommendations-below">{"".join(items)}</ul>'
        )
    orders = sorted(
        (o for o in store.scan("order", contest=cid, within=place) if o["stream"] != stream),
        key=lambda o: o["leaf"],
    )
    listed = []
    for order in orders[:MAX_LISTED]:
        where = _place_of_stream(order["stream"])
        href = f"/tps/{where}" if "/" in where else f"/contest/{cid}/{where}"
        listed.append(
            f'<li data-order="{e(order["hash"])}" data-action="{e(order["action"])}">'
            f'<a href="{_href(href)}">{e(where)}</a>: {e(_action(lang, order["action"]))} — '
            f"{e(order['reason'])}</li>"
        )
    if listed:
        parts.append(
            f"<h3>{e(t(lang, 'orders_below'))} ({fmt_int(lang, len(orders))})</h3>"
            f'<ul class="orders-below">{"".join(listed)}</ul>'
        )
    parts.append("</section>")
    return "".join(parts)


def _admin(lang: str, recap: Entity | None) -> str:
    """The D.Hasil's administrative block of a recap beside the sum of the level below
    (its inputs' C.Hasil figures or blocks, at the heads it names), and the D.Hasil rules
    it breaks (format.md 5.8.3)."""
    head = f'<h3 id="admin-h">{e(t(lang, "admin_block"))}</h3>'
    latest = recap["recaps"][-1] if recap else None
    admin = latest.get("admin") if latest else None
    if latest is None or admin is None:
        return f'{head}<p data-admin="none">{e(t(lang, "admin_none"))}</p>'
    below = latest.get("admin_computed")
    body = []
    for name in ADMIN_FIELDS:
        stated = admin[name]
        summed = below[name] if below is not None else None
        diff = stated - summed if summed is not None else None
        cls = ' class="differs"' if diff else ""
        label = t(lang, "admin_tps") if name == "tps" else tally_label(lang, name)
        body.append(
            f'<tr><th scope="row">{e(label)}</th><td data-admin="{e(name)}">{fmt_int(lang, stated)}</td>'
            f"<td>{'—' if summed is None else fmt_int(lang, summed)}</td>"
            f"<td{cls}>{'—' if diff is None else fmt_int(lang, diff)}</td></tr>"
        )
    flags = admin_flags(admin, latest["totals"])
    broken = (
        f'<p>{e(t(lang, "admin_flags"))}:</p><ul class="admin-flags">'
        + "".join(f"<li>{e(f)}</li>" for f in flags)
        + "</ul>"
        if flags
        else ""
    )
    return (
        f'{head}<div class="scroll"><table class="admin" aria-labelledby="admin-h"><thead><tr>'
        f'<th scope="col">{e(t(lang, "field"))}</th><th scope="col">{e(t(lang, "admin_stated"))}</th>'
        f'<th scope="col">{e(t(lang, "admin_below"))}</th><th scope="col">{e(t(lang, "difference"))}</th>'
        f"</tr></thead><tbody>{''.join(body)}</tbody></table></div>{broken}"
    )


def _determination(lang: str, v: CachedViews, contest: Entity, *, brief: bool = False) -> str:
    """The KPU's determination of a contest's result (format.md 5.14), from the
    projection (projections.outcomes.results): the decree, the announcement and the
    petition deadline in the contest's local time, the outcome the law gives the
    determined totals (a new election where the kolom kosong won) and those totals;
    ``brief`` (the election page's card): the outcome only."""
    found = v.determination(contest["id"])
    head = f"<h3>{e(t(lang, 'determination'))}</h3>"
    if found is None:
        return (
            f'<section class="determination" data-determination="none">{head}'
            f"<p>{e(t(lang, 'not_yet'))}</p></section>"
        )
    labels = _column_labels(lang, contest)
    if found["outcome"] == NEW_ELECTION:
        said = t(lang, "outcome_new_election")
    else:
        said = t(lang, "outcome_elected", pair=labels[str(found["elected"])])
    outcome = f'<p><strong data-outcome="{e(found["outcome"])}">{e(said)}</strong></p>'
    region = contest["region"]
    if brief:
        return (
            f'<section class="determination" data-determination="{e(found["outcome"])}">'
            f"{head}{outcome}</section>"
        )
    totals = found["totals"]
    parts = [
        outcome,
        f"<p>{e(t(lang, 'decree', decree=found['decree'], time=fmt_time(lang, found['announced'], region)))}</p>",
        _totals_table(lang, contest, totals, t(lang, "determined_totals")),
        f"<p>{e(t(lang, 'petition_deadline', time=fmt_time(lang, found['filing_deadline'], region)))}</p>",
    ]
    if found["differs_from_recap"]:
        fields = ", ".join(f"{k} {v:+d}" for k, v in found["differs_from_recap"].items())
        parts.append(
            f'<p class="warning" data-differs-from-recap="true">'
            f"{e(t(lang, 'determination_differs', fields=fields))}</p>"
        )
    return (
        f'<section id="determination" class="determination" '
        f'data-determination="{e(found["outcome"])}">{head}{"".join(parts)}</section>'
    )


def _children(lang: str, v: CachedViews, contest: Entity, place: str, level: str) -> str:
    cid = contest["id"]
    if level == VILLAGE:
        return _tps_list(lang, v.store, contest, place)
    child = CHILD_LEVEL[level]
    rows = v.totals(cid, child, place)
    names = _pair_names(contest)
    recaps = {}
    if child != VILLAGE:
        recaps = {r["region"]: r for r in v.recap_checks(cid, place)}
    head = _column_heads(lang, contest)
    body = []
    for row in rows:
        code = row["region"]
        recap = recaps.get(code)
        status = (
            ""
            if child == VILLAGE
            else (
                t(lang, "no_recap")
                if recap is None
                else t(lang, "recap_differs")
                if recap["difference"]
                else t(lang, "recap_ok")
            )
        )
        votes = "".join(f"<td>{fmt_int(lang, row['votes'].get(n, 0))}</td>" for n in names)
        body.append(
            f'<tr data-region="{e(code)}"><th scope="row"><a href="{_href(f"/contest/{cid}/{code}")}">'
            f"{e(region_name(code))}</a> <code>{e(code)}</code></th>{votes}"
            f"<td>{fmt_int(lang, row['sheets_reported'])}/{fmt_int(lang, row['sheets_expected'])}</td>"
            + (f"<td>{e(status)}</td>" if child != VILLAGE else "")
            + "</tr>"
        )
    recap_head = f'<th scope="col">{e(t(lang, "recap"))}</th>' if child != VILLAGE else ""
    return (
        f'<section id="drill" aria-labelledby="drill-h"><h2 id="drill-h">{e(t(lang, "drill"))}: '
        f"{e(_level_name(lang, child))}</h2>"
        f'<div class="scroll"><table><thead><tr><th scope="col">{e(t(lang, "region"))}</th>{head}'
        f'<th scope="col">{e(t(lang, "progress"))}</th>{recap_head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div></section>"
    )


def _tps_list(lang: str, store: Store, contest: Entity, village: str) -> str:
    names = _pair_names(contest)
    sheets = {s["tps"]: s for s in store.scan("sheet", contest=contest["id"], within=village)}
    registered = {x["tps"]: x for x in store.scan("tps", within=village)}
    head = _column_heads(lang, contest)
    body = []
    for tps in sorted(set(sheets) | set(registered)):
        sheet = sheets.get(tps)
        entry = views.effective(sheet) if sheet else None
        khusus = registered.get(tps, {}).get("khusus")
        label = f"TPS {tps.rsplit('/', 1)[1]}" + (f" ({t(lang, 'tps_khusus')})" if khusus else "")
        votes = (
            "".join(f"<td>{fmt_int(lang, entry['tally']['votes'].get(n, 0))}</td>" for n in names)
            if entry
            else f'<td colspan="{len(names)}">{e(t(lang, "not_counted"))}</td>'
        )
        body.append(
            f'<tr data-tps="{e(tps)}"><th scope="row"><a href="{_href(f"/tps/{tps}")}">{e(label)}</a></th>{votes}</tr>'
        )
    return (
        f'<section id="drill" aria-labelledby="drill-h"><h2 id="drill-h">{e(t(lang, "tps_list"))}</h2>'
        f'<div class="scroll"><table><thead><tr><th scope="col">{e(t(lang, "tps"))}</th>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div></section>"
    )


# --- a polling station -------------------------------------------------------------------


def tps_page(lang: str, store: Store, tps: str) -> str:
    """Every contest's C.Hasil at ``tps``: fields, signers, attestations, history, recap.

    The figures are the projection's; the page's script replaces them with the
    figures decoded from the signed bytes it verified. Raises UnknownEventError
    for a TPS with neither a KPPS nor a sheet.
    """
    if level_of(tps) != TPS:
        raise UnknownEventError(f"{tps} is not a TPS id")
    registered = store.get("tps", tps)
    sheets = store.scan("sheet", within=tps)
    sheets = [s for s in sheets if s["tps"] == tps]
    if registered is None and not sheets:
        raise UnknownEventError(f"no KPPS and no sheet at TPS {tps}")
    village = tps_region(tps)
    khusus = bool(registered and registered.get("khusus"))
    kpps = store.get("signer", registered["kpps"]) if registered else None
    title = f"TPS {tps}"
    place = [
        f"{t(lang, 'village')} {region_name(village)}",
        f"{t(lang, 'kecamatan')} {region_name(village[:8])}",
        region_name(village[:5]),
        region_name(village[:2]),
    ]
    contests = {c["id"]: c for c in views.contests(store)}
    first = contests.get(sheets[0]["contest"]) if sheets else None
    sections = [
        _breadcrumb(lang, first, tps),
        f"<h1>TPS {e(tps.rsplit('/', 1)[1])} <code>{e(tps)}</code></h1>",
        f'<p class="where">{e(", ".join(place))}</p>',
    ]
    if khusus:
        label = kpps["label"] if kpps else ""
        sections.append(
            f'<p class="khusus"><strong>{e(t(lang, "tps_khusus"))}</strong> {e(label)}</p>'
        )
    sections.append(f"<p>{e(t(lang, 'zone_note', zone=zone_for_region(tps)[0]))}</p>")
    sections.append(_verification_section(lang))
    for sheet in sheets:
        sections.append(_sheet_section(lang, store, contests[sheet["contest"]], sheet))
    streams = " ".join(s["stream"] for s in sheets)
    body = (
        f'<div id="tps" data-tps="{e(tps)}" data-streams="{e(streams)}">{"".join(sections)}</div>'
    )
    return layout(lang, title, body, f"/tps/{tps}", scripts=("/static/tps.js",))


def _sheet_section(lang: str, store: Store, contest: Entity, sheet: Entity) -> str:
    cid = contest["id"]
    entry = views.effective(sheet)
    anchor = f"sheet-{cid}"
    link = _href(f"/contest/{cid}/{tps_region(sheet['tps'])}")
    parts = [
        f'<section class="sheet" id="{e(anchor)}" data-stream="{e(sheet["stream"])}" '
        f'data-contest="{e(cid)}" aria-labelledby="{e(anchor)}-h">'
        f'<h2 id="{e(anchor)}-h"><a href="{link}">'
        f"{e(contest['name'])}</a></h2>"
    ]
    rows = {r["hash"]: r for r in store.events(stream=sheet["stream"])}
    if entry is None:
        parts.append(f"<p>{e(t(lang, 'not_counted'))}</p>")
    else:
        parts.append(_tally_table(lang, contest, entry["tally"]))
        parts.append(
            f'<p class="signer">{e(t(lang, "signed_by"))}: {_signer(store, entry["signer"])}, '
            f"{e(t(lang, 'key'))} "
            f'<code class="hash">{e(entry["signer"])}</code></p>'
        )
    place = sheet["tps"]
    parts.append(_orders(lang, store, sheet["stream"], place, rows, sheet))
    parts.append(_recommendations_in(lang, store, sheet["stream"], place, rows))
    if entry is not None:
        parts.append(_attestations(lang, store, sheet, contest, rows))
        parts.append(_history(lang, store, sheet, rows))
        parts.append(_recap_use(lang, store, contest, sheet))
    parts.append("</section>")
    return "".join(parts)


def _form_version(tally: dict[str, Any]) -> int:
    """The format version whose C.Hasil form ``tally`` has: only version 1 registers
    DPTb and DPK voters (format.md 5.9)."""
    return 1 if any(name in tally for name in V1_ONLY_FIELDS) else 2


def _tally_table(lang: str, contest: Entity, tally: dict[str, Any]) -> str:
    """Every field of a C.Hasil as signed, in the order of its version's form."""
    labels = _column_labels(lang, contest)
    version = _form_version(tally)
    rows = [
        f'<tr><th scope="row">{e(labels[n])}</th>'
        f'<td data-field="votes.{e(n)}">{fmt_int(lang, tally["votes"].get(n, 0))}</td></tr>'
        for n in labels
    ]
    for field in tally_fields(version):
        rows.append(
            f'<tr><th scope="row">{e(tally_label(lang, field))}</th>'
            f'<td data-field="{e(field)}">{fmt_int(lang, tally[field])}</td></tr>'
        )
    if "photo_sha256" in tally:
        rows.append(
            f'<tr><th scope="row">{e(tally_label(lang, "photo_sha256"))}</th>'
            f'<td data-field="photo_sha256"><code class="hash">{e(bytes(tally["photo_sha256"]).hex())}</code></td></tr>'
        )
    return (
        f"<h3>{e(t(lang, 'c_hasil'))} <small>({e(t(lang, 'form_version', n=version))})</small></h3>"
        f'<div class="scroll"><table class="tally" data-form="{version}">'
        f'<thead><tr><th scope="col">{e(t(lang, "field"))}</th><th scope="col">{e(t(lang, "value"))}</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div>"
    )


def _signer(store: Store, key_id: str) -> str:
    """A signer as people know it: the label of its grant and its role, escaped."""
    who = store.get("signer", key_id) or {}
    return f"{e(who.get('label', ''))} ({e(role_name(who.get('role', '?')))})"


def _when(lang: str, rows: dict[str, Any], event: str, place: str) -> str:
    row = rows.get(event)
    return fmt_time(lang, row["time"], place) if row and "time" in row else ""


def _short(event: str, prefix: str = "") -> str:
    """An event's hash as shown: its first 16 hex digits, linked to its place on the
    page when ``prefix`` names one (``event-``, ``order-``, ``rec-``)."""
    code = f'<code class="hash">{e(event[:16])}</code>'
    return f'<a href="#{e(prefix)}{e(event[:16])}">{code}</a>' if prefix else code


def _action(lang: str, action: str) -> str:
    return t(lang, f"action_{action}")


def _orders(
    lang: str,
    store: Store,
    stream: str,
    place: str,
    rows: dict[str, Any],
    sheet: Entity | None = None,
) -> str:
    """The orders of ``stream`` (format.md 5.11): what, why, by when, and the count that
    carried each out (for a sheet)."""
    orders = sorted(
        (o for o in store.scan("order", within=place) if o["stream"] == stream),
        key=lambda o: o["leaf"],
    )
    items = []
    for order in orders:
        facts = [
            f"{e(t(lang, 'reason'))}: {e(order['reason'])}",
            f"{e(t(lang, 'basis'))}: {e(order['basis'])}",
            f"{e(t(lang, 'voting_day'))}: {e(fmt_time(lang, order['voting_day'], place))}",
            f'{e(t(lang, "deadline"))}: <time data-deadline="{order["deadline"]}">'
            f"{e(fmt_time(lang, order['deadline'], place))}</time>",
        ]
        if order.get("ruling"):
            facts.append(f"{e(t(lang, 'ruling'))}: <span data-ruling>{e(order['ruling'])}</span>")
        if order.get("recommendation"):
            facts.append(
                f"{e(t(lang, 'follows_recommendation'))} {_short(order['recommendation'], 'rec-')}"
            )
        if sheet is not None:
            done = [c for c in sheet["tallies"] if c.get("order") == order["hash"]]
            facts.append(
                f"{e(t(lang, 'carried_out_by'))} "
                + ", ".join(_short(c["hash"], "event-") for c in done)
                if done
                else f'<span data-pending="true">{e(t(lang, "not_carried_out"))}</span>'
            )
        items.append(
            f'<li id="order-{e(order["hash"][:16])}" data-order="{e(order["hash"])}" '
            f'data-action="{e(order["action"])}"><strong>{e(_action(lang, order["action"]))}</strong>'
            f" — {_signer(store, order['signer'])}, {e(_when(lang, rows, order['hash'], place))} "
            f"{_short(order['hash'])}<ul>{''.join(f'<li>{f}</li>' for f in facts)}</ul></li>"
        )
    listing = (
        f'<ul class="orders">{"".join(items)}</ul>'
        if items
        else f"<p>{e(t(lang, 'no_orders'))}</p>"
    )
    return f"<h3>{e(t(lang, 'orders'))}</h3>{listing}"


def _recommendations_in(
    lang: str, store: Store, stream: str, place: str, rows: dict[str, Any], *, heading: bool = True
) -> str:
    """The Bawaslu recommendations of ``stream`` and their follow-ups (format.md 5.12-5.13)."""
    found = sorted(
        (r for r in store.scan("recommendation", within=place) if r["stream"] == stream),
        key=lambda r: r["leaf"],
    )
    items = []
    for rec in found:
        about = f" ({e(t(lang, 'about'))} {_short(rec['event'], 'event-')})" if rec["event"] else ""
        followups = "".join(
            f'<li data-followup="{e(f["verdict"])}">{_signer(store, f["signer"])} '
            f"<strong>{e(t(lang, 'followup_' + f['verdict']))}</strong> — {e(f['reason'])} "
            f"{e(_when(lang, rows, f['hash'], place))} {_short(f['hash'])}</li>"
            for f in rec["followups"]
        )
        answer = (
            f"<ul>{followups}</ul>"
            if followups
            else f'<p data-followup="none">{e(t(lang, "no_followup"))}</p>'
        )
        remedy = t(lang, "recommends", remedy=t(lang, f"remedy_{rec['remedy']}"))
        items.append(
            f'<li id="rec-{e(rec["hash"][:16])}" data-recommendation="{e(rec["hash"])}" '
            f'data-remedy="{e(rec["remedy"])}">{_signer(store, rec["signer"])} '
            f"<strong>{e(remedy)}</strong>{about}: {e(rec['reason'])} "
            f"{e(_when(lang, rows, rec['hash'], place))} {_short(rec['hash'])}{answer}</li>"
        )
    listing = (
        f'<ul class="recommendations">{"".join(items)}</ul>'
        if items
        else f"<p>{e(t(lang, 'no_recommendations'))}</p>"
    )
    return (f"<h3>{e(t(lang, 'recommendations'))}</h3>" if heading else "") + listing


def _attester(
    store: Store, names: dict[str, str], attestation: dict[str, Any]
) -> tuple[Entity, str]:
    """Who attested: the signer's grant, and its role (a saksi: of which pair)."""
    who = store.get("signer", attestation["signer"]) or {}
    if attestation["role"] != "saksi":
        return who, role_name(attestation["role"])
    return who, f"saksi {names.get(str(attestation['pair']), attestation['pair'])}"


def _verdict(lang: str, verdict: str) -> str:
    return t(lang, verdict)  # agree, object, refuse (format.md 5.6)


def _decision_of(recap: Entity | None, recap_event: str, objection: str) -> dict[str, Any] | None:
    """The decision of the recap ``recap_event`` (in the stream ``recap``) naming ``objection``."""
    for entry in recap["recaps"] if recap else ():
        if entry["hash"] == recap_event:
            return next((d for d in entry["decisions"] if d["objection"] == objection), None)
    return None


def _answer(
    lang: str, answer: str | None, decision: dict[str, Any] | None, *, correction: bool = False
) -> str:
    """What answered an objection, by name: a correction (on this page), or a recap
    whose ``decision`` names it."""
    if answer is None:
        return f'<em data-answered="none">{e(t(lang, "not_answered"))}</em>'
    if correction:
        return (
            f'<span data-answered="{e(answer)}">{e(t(lang, "answered_by_correction"))} '
            f"{_short(answer, 'event-')}</span>"
        )
    ruling = (
        f": <strong>{e(t(lang, 'ruling_' + decision['ruling']))}</strong> — {e(decision['reason'])}"
        if decision is not None
        else ""
    )
    return (
        f'<span data-answered="{e(answer)}">{e(t(lang, "answered_by_decision"))} '
        f"{_short(answer)}{ruling}</span>"
    )


def _attestations(
    lang: str, store: Store, sheet: Entity, contest: Entity, rows: dict[str, Any]
) -> str:
    names = _pair_names(contest)
    kecamatan_recap = store.get("recap", recap_stream(contest["id"], kecamatan_of(sheet["tps"])))
    items = []
    for a in sheet["attestations"]:
        who, role = _attester(store, names, a)
        reason = f" — {a['reason']}" if a["reason"] else ""
        answered = ""
        if a["verdict"] in OBJECTING:
            answer = views.objection_answer(sheet, a)
            corrected = any(c["hash"] == answer for c in sheet["tallies"])
            decision = _decision_of(kecamatan_recap, answer, a["hash"]) if answer else None
            answered = f" {_answer(lang, answer, decision, correction=corrected)}"
        items.append(
            f'<li id="event-{e(a["hash"][:16])}" data-verdict="{e(a["verdict"])}" '
            f'data-event="{e(a["hash"])}">{e(who.get("label", ""))} ({e(role)}): '
            f"<strong>{e(_verdict(lang, a['verdict']))}</strong>{e(reason)} "
            f"{_short(a['event'], 'event-')}{answered}</li>"
        )
    return f"<h3>{e(t(lang, 'attestations'))}</h3>" + (
        f"<ul>{''.join(items)}</ul>" if items else f"<p>{e(t(lang, 'not_yet'))}</p>"
    )


def _history(lang: str, store: Store, sheet: Entity, rows: dict[str, Any]) -> str:
    """Counts and corrections in log order; each superseded one says what superseded it
    (a correction, a later count, or the count of a re-vote or other order)."""
    effective = views.effective(sheet)
    tallies = sheet["tallies"]
    orders = {
        o["hash"]: o
        for o in store.scan("order", within=sheet["tps"])
        if o["stream"] == sheet["stream"]
    }

    def what(entry: dict[str, Any]) -> str:
        if entry["kind"] == "correct":
            return t(lang, "the_correction")
        order = orders.get(entry.get("order") or "")
        if order is not None:
            return t(lang, "count_of_order", action=_action(lang, order["action"]))
        return t(lang, "a_later_count")

    items = []
    for index, entry in enumerate(tallies):
        row = rows.get(entry["hash"], {})
        state = "effective" if entry is effective else "superseded"
        if entry["kind"] == "correct":
            said = e(t(lang, "corrected_because", reason=entry.get("reason", "")))
        elif entry.get("order") in orders:
            action = _action(lang, orders[entry["order"]]["action"])
            said = (
                f"{e(t(lang, 'count_of_order', action=action))} {_short(entry['order'], 'order-')}"
            )
        else:
            said = e(t(lang, "kpps_count"))
        when = fmt_time(lang, row["time"], sheet["tps"]) if "time" in row else ""
        changes = (row.get("detail") or {}).get("changes") if entry["kind"] == "correct" else None
        change_text = (
            f" {t(lang, 'changed')}: "
            + ", ".join(
                f"{c['field']} {fmt_int(lang, c['old'] or 0)} → {fmt_int(lang, c['new'] or 0)}"
                for c in changes
            )
            if changes
            else ""
        )
        by = ""
        if state == "superseded" and index + 1 < len(tallies):
            later = tallies[index + 1]
            by = (
                f' <span data-superseded-by="{e(later["hash"])}">'
                f"({e(t(lang, 'superseded_by', what=what(later)))} {_short(later['hash'], 'event-')})</span>"
            )
        items.append(
            f'<li id="event-{e(entry["hash"][:16])}" class="{state}" data-state="{state}" '
            f'data-event="{e(entry["hash"])}">'
            f"<strong>{e(t(lang, state))}</strong> — {said}{e(change_text)} {e(when)} "
            f"{_short(entry['hash'])}{by}</li>"
        )
    return f'<h3>{e(t(lang, "history"))}</h3><ol class="history">{"".join(items)}</ol>'


def _recap_use(lang: str, store: Store, contest: Entity, sheet: Entity) -> str:
    kecamatan = sheet["tps"][:8]
    recaps = [
        r for r in views.recap_checks(store, contest["id"], kecamatan) if r["region"] == kecamatan
    ]
    if not recaps:
        return f"<p>{e(t(lang, 'used_by_recap'))}: {e(t(lang, 'not_yet'))}</p>"
    recap = recaps[0]
    stream = sheet["stream"]
    if stream in recap["omitted"]:
        state = t(lang, "recap_omitted")
    elif any(s["stream"] == stream for s in recap["stale"]):
        state = t(lang, "recap_stale")
    else:
        state = t(lang, "recap_used")
    link = _href(f"/contest/{contest['id']}/{kecamatan}")
    return (
        f'<p>{e(t(lang, "used_by_recap"))}: <a href="{link}">{e(t(lang, "kecamatan"))} '
        f"{e(region_name(kecamatan))}</a> — <strong>{e(state)}</strong></p>"
    )


def _verification_section(lang: str) -> str:
    not_proved = "".join(f"<li>{e(t(lang, f'not_proved_{i}'))}</li>" for i in (1, 2, 3))
    return (
        f'<section aria-labelledby="verification-h" class="verify">'
        f'<h2 id="verification-h">{e(t(lang, "verification"))}</h2>'
        f'<div id="verification" data-verification="pending" role="status" aria-live="polite">'
        f"<p>{e(t(lang, 'verify_pending'))}</p></div>"
        f"<noscript><p>{e(t(lang, 'verify_noscript'))}</p></noscript>"
        f'<div id="trust-roots"></div>'
        f'<h3>{e(t(lang, "not_proved"))}</h3><ul class="not-proved">{not_proved}</ul></section>'
    )


# --- findings and search -----------------------------------------------------------------


def findings_page(lang: str, store: Store, kind: str = "", region: str = "") -> str:
    """Findings, filtered by kind and region, each linking the events that prove it."""
    rows = views.findings(store, within=region)
    if kind:
        rows = [r for r in rows if r["kind"] == kind]
    options = "".join(
        f'<option value="{e(k)}"{" selected" if k == kind else ""}>{e(k)}</option>'
        for k in views.FINDING_KINDS
    )
    form = (
        f'<form class="filters" method="get" action="/findings">'
        f'<label for="kind">{e(t(lang, "kind"))}</label>'
        f'<select id="kind" name="kind"><option value="">{e(t(lang, "all"))}</option>{options}</select>'
        f'<label for="region">{e(t(lang, "region"))}</label>'
        f'<input id="region" name="region" value="{e(region)}" inputmode="decimal" placeholder="33.16.09">'
        f'<button type="submit">{e(t(lang, "filter"))}</button></form>'
    )
    items = []
    for f in rows:
        place = _place_of_stream(f["stream"])
        link = (
            f'<a href="{_href(f"/tps/{place}")}">{e(f["stream"])}</a>'
            if "/" in place
            else e(f["stream"])
        )
        events = " ".join(
            f'<a href="{_href(f"/v1/events/{h}")}"><code class="hash">{e(h[:16])}</code></a>'
            for h in f["events"]
        )
        items.append(
            f'<li data-kind="{e(f["kind"])}"><strong>{e(f["kind"])}</strong> {link}: '
            f"{e(f['message'])} <span>{e(t(lang, 'events'))}: {events}</span></li>"
        )
    listing = (
        f'<ul class="findings">{"".join(items)}</ul>'
        if items
        else f"<p>{e(t(lang, 'no_findings'))}</p>"
    )
    body = (
        f"<h1>{e(t(lang, 'findings'))}</h1>{form}"
        f'<p data-count="{len(rows)}">{e(t(lang, "findings_count", n=fmt_int(lang, len(rows))))}</p>{listing}'
    )
    return layout(lang, t(lang, "findings"), body, "/findings")


def _place_of_stream(stream: str) -> str:
    parts = stream.split(":", 2)
    return parts[2] if len(parts) == 3 else ""


def search(store: Store, query: str) -> list[tuple[str, str]]:
    """(href, label) of TPS and regions matching ``query``: a code prefix or a name."""
    q = query.strip()
    if not q:
        return []
    found: list[tuple[str, str]] = []
    contests = views.contests(store)
    if q[0].isdigit():
        try:
            level = level_of(q)
        except LedgerError:
            level = ""
        if level == TPS:
            if store.get("tps", q) is not None or store.scan("sheet", within=q):
                found.append((f"/tps/{q}", f"TPS {q}"))
            return found
    lowered = q.lower()
    for code, name in reference.load().regions.items():
        if len(found) >= MAX_SEARCH_RESULTS:
            break
        if lowered in name.lower() or code.startswith(q):
            contest = next((c for c in contests if covers(c["region"], code)), None)
            if contest is None:
                continue
            if not store.scan("tps", within=code)[:1]:
                continue  # nothing of this region is in the ledger
            found.append((f"/contest/{contest['id']}/{code}", f"{name} ({code})"))
    return found


def search_page(lang: str, store: Store, query: str) -> str:
    results = search(store, query)
    items = "".join(f'<li><a href="{_href(href)}">{e(label)}</a></li>' for href, label in results)
    body = f"<h1>{e(t(lang, 'search_results'))}: {e(query)}</h1>" + (
        f'<ul class="results">{items}</ul>' if items else f"<p>{e(t(lang, 'no_results'))}</p>"
    )
    return layout(lang, t(lang, "search"), body, "/search")


def not_found_page(lang: str, message: str) -> str:
    body = f'<h1>{e(t(lang, "page_not_found"))}</h1><p>{e(message)}</p><p><a href="/">{e(t(lang, "home"))}</a></p>'
    return layout(lang, t(lang, "page_not_found"), body, "/")
