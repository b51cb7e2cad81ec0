"""The public web view over HTTP, without a browser (issue 17).

A real `ledger serve` process over kecamatan Blora (33.16.09) of the 2024 demo
pipeline, on SQLite and PostgreSQL: the pages answer in Indonesian or English,
readable without JavaScript, their figures are the projection's, input is escaped,
errors are pages (no traceback), and ``/v1/dossier`` is a dossier that the
offline verifier accepts. The process after the count (issue 15) is on the pages: the
C.Hasil of each tally's own form, orders (a re-vote, a delayed vote), recommendations
and follow-ups, superseded counts, objections and refusals with what answers them, the
plenary and the D.Hasil block. The in-browser checks are in test_web_browser.py.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import httpx
import pytest

from ledger import pilkada
from ledger.checks.dossier import verify_dossier
from ledger.checks.verify import TrustPolicy
from ledger.format.dhasil import ADMIN_FIELDS
from ledger.format.policy import parse_policy
from ledger.format.regions import KECAMATAN
from ledger.format.schema import V1_ONLY_FIELDS, tally_fields
from ledger.format.trust import policy_from_json, trust_from_json
from ledger.pilkada.demo import build
from ledger.pilkada.scenario import Scenario
from ledger.pilkada.simulate import AfterCount, Faults, Simulation
from ledger.store.home import LedgerHome
from ledger.web.i18n import fmt_int, fmt_time
from projections import views
from projections.recorder import Projections
from tests import world
from tests.conftest import postgres_schema
from tests.servers import PASSPHRASE, Server, make_home
from tests.world import world_statements

REGION = "33.16.09"
RUTAN = pilkada.RUTAN_BLORA_TPS
BUPATI = "bupati-33.16"
# findings to filter, a correction (an objection answered by the PPK) to show, and of
# the process after the count: a recommendation nobody follows up, a saksi's refusal to
# sign the D.Hasil that nothing answers, a D.Hasil block that differs from its sheets
FAULTS = Faults(
    arithmetic=1,
    objections_answered=1,
    objections_unanswered=1,
    recap_mismatches=1,
    unfollowed_recommendations=1,
    unanswered_plenary_objections=1,
    admin_mismatches=1,
)
# Re-votes and delayed votes at rates that put both into this one kecamatan (as the
# demo holds both in Blora), and a saksi's objection at every PPK plenary, answered.
AFTER = AfterCount(revote=0.01, delayed=0.01, continued=0.0, plenary_objection=1.0)


def test_numbers_and_times_are_written_the_readers_way() -> None:
    assert fmt_int("id", 1234567) == "1.234.567"
    assert fmt_int("en", 1234567) == "1,234,567"
    noon_wib = 1732683600  # 27 Nov 2024 12:00 WIB = 05:00 UTC
    assert fmt_time("id", noon_wib, "33.16") == "27 November 2024, 12.00 WIB"
    assert fmt_time("en", noon_wib, "73.71") == "27 Nov 2024, 13:00 WITA"
    assert fmt_time("en", noon_wib, "91.01") == "27 Nov 2024, 14:00 WIT"


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, httpx.Client]]:
    context = nullcontext("sqlite:ledger.db") if request.param == "sqlite" else postgres_schema()
    with context as database:
        directory = tmp_path_factory.mktemp(request.param) / "ledger"
        build(
            Simulation(REGION, seed=7, faults=FAULTS, after=AFTER),
            directory,
            passphrase=PASSPHRASE.encode(),
            database=database,
        )
        with Server(directory) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            yield directory, http


@pytest.fixture
def store(served: tuple[Path, httpx.Client]) -> Iterator[Any]:
    ledger = LedgerHome(served[0]).open()
    try:
        projections = Projections(ledger)
        projections.catch_up()
        yield projections.store()
    finally:
        ledger.close()


def _main(html: str) -> str:
    match = re.search(r"<main[^>]*>(.*)</main>", html, flags=re.DOTALL)
    assert match is not None
    return match.group(1)


def test_pages_answer_in_indonesian_and_english_and_remember_the_choice(
    served: tuple[Path, httpx.Client],
) -> None:
    _, http = served
    page = http.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert '<html lang="id">' in page.text and "Pemilihan" in page.text
    english = http.get("/", params={"lang": "en"})
    assert '<html lang="en">' in english.text and "Contests" in english.text
    assert english.cookies.get("lang") == "en"
    again = httpx.get(f"{http.base_url}/findings", cookies={"lang": "en"})
    assert '<html lang="en">' in again.text
    http.cookies.clear()


def test_the_contest_pages_figures_are_the_projections(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    text = _main(http.get(f"/contest/{BUPATI}/{REGION}").text)
    rows = views.totals(store, BUPATI, KECAMATAN, REGION)
    for number in ("1", "2"):
        cell = re.search(rf'<td data-pair="{number}">([0-9.]+)</td>', text)
        assert cell is not None
        assert int(cell.group(1).replace(".", "")) == sum(r["votes"][number] for r in rows)
    villages = views.totals(store, BUPATI, "desa", REGION)
    assert len(re.findall(r'<tr data-region="33\.16\.09\.\d{4}">', text)) == len(villages)
    assert "<svg" in text and 'role="img"' in text and "aria-label=" in text


def test_the_tps_page_is_readable_without_javascript(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    text = http.get(f"/tps/{RUTAN}").text
    tally = views.effective(store.get("sheet", f"sheet:{BUPATI}:{RUTAN}"))["tally"]
    section = text.split(f'data-stream="sheet:{BUPATI}:{RUTAN}"')[1]
    for field in ("valid", "invalid", "ballots_used", "dpt_m"):
        cell = re.search(rf'<td data-field="{field}">([0-9.]+)</td>', section)
        assert cell is not None and int(cell.group(1).replace(".", "")) == tally[field]
    assert "TPS Lokasi Khusus" in text
    assert "<noscript>" in text and 'id="verification"' in text
    assert "tidak ada koreksi lain setelah checkpoint" in text  # what "verified" does not prove
    assert "WIB" in text


def test_input_is_escaped_and_errors_are_pages(served: tuple[Path, httpx.Client]) -> None:
    _, http = served
    hostile = '<script>alert("x")</script>'
    page = http.get("/search", params={"q": hostile})
    assert page.status_code == 200
    assert hostile not in page.text and "&lt;script&gt;" in page.text
    missing = http.get("/tps/33.16.09.1016/999")
    assert missing.status_code == 404 and "<h1>" in missing.text
    malformed = http.get("/tps/not-a-tps")
    assert malformed.status_code == 422 and "Traceback" not in malformed.text
    assert http.get("/contest/bupati-99.99").status_code == 404
    assert http.get(f"/contest/{BUPATI}/35.01").status_code == 404


def test_findings_filter_by_kind_and_region(served: tuple[Path, httpx.Client], store: Any) -> None:
    _, http = served
    every = views.findings(store)
    kind = every[0]["kind"]
    page = http.get("/findings", params={"kind": kind, "region": REGION}).text
    count = re.search(r'data-count="(\d+)"', page)
    assert count is not None
    assert int(count.group(1)) == len(
        [f for f in views.findings(store, within=REGION) if f["kind"] == kind]
    )
    home = http.get("/").text
    assert f'data-findings="{len(every)}"' in home


def test_search_finds_a_tps_a_village_and_a_regency(served: tuple[Path, httpx.Client]) -> None:
    _, http = served
    assert f'href="/tps/{RUTAN}"' in http.get("/search", params={"q": RUTAN}).text
    assert "33.16.09.1016" in http.get("/search", params={"q": "Tempelan"}).text
    assert "/contest/bupati-33.16/33.16" in http.get("/search", params={"q": "blora"}).text


def test_the_dossier_endpoint_serves_what_the_offline_verifier_accepts(
    served: tuple[Path, httpx.Client],
) -> None:
    directory, http = served
    answer = http.get("/v1/dossier", params={"subject": f"sheet:{BUPATI}:{RUTAN}"})
    assert answer.status_code == 200
    text = (directory / "trust.json").read_text()
    policy_text = policy_from_json(text)
    assert policy_text is not None
    report = verify_dossier(
        answer.content, TrustPolicy(trust_from_json(text), parse_policy(policy_text))
    )
    assert report.ok
    contest = http.get("/v1/dossier", params={"subject": BUPATI})
    assert contest.status_code == 400 and contest.json()["code"] == "InvalidRequest"
    bad = http.get("/v1/dossier", params={"subject": "sheet:nope"})
    assert bad.status_code == 422 and bad.headers["content-type"] == "application/problem+json"
    unknown = http.get("/v1/dossier", params={"subject": f"sheet:{BUPATI}:33.16.09.1016/999"})
    assert unknown.status_code == 404


def test_the_pages_cached_sums_are_the_views(store: Any) -> None:
    from ledger.web.cache import ViewCache

    cached = ViewCache().bind(store)
    for contest in views.contests(store):
        cid = contest["id"]
        levels = ("provinsi", "kabkota", "kecamatan", "desa")
        for depth, level in enumerate(levels, start=1):
            for within in ("", "33", "33.16", REGION, f"{REGION}.1016"):
                if within and len(within.split(".")) > depth:
                    continue  # a level above the region: no page asks for it
                assert cached.totals(cid, level, within) == views.totals(store, cid, level, within)
        assert cached.recap_checks(cid, REGION) == views.recap_checks(store, cid, REGION)
        objections = sum(s["open_objections"] for s in views.sheet_status(store, cid, REGION))
        assert cached.open_objections(cid, REGION) == objections
    assert cached.findings() == views.findings(store)


def test_a_corrected_sheet_shows_what_changed_and_the_superseded_count(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    corrected = [
        sheet
        for sheet in store.scan("sheet")
        if any(t["kind"] == "correct" for t in sheet["tallies"])
    ]
    assert corrected, "the world has a correction"
    sheet = corrected[0]
    text = http.get(f"/tps/{sheet['tps']}", params={"lang": "en"}).text
    section = text.split(f'data-stream="{sheet["stream"]}"')[1].split("</section>")[0]
    assert 'data-state="superseded"' in section and 'data-state="effective"' in section
    correction = next(t for t in sheet["tallies"] if t["kind"] == "correct")
    assert f"corrected: {correction['reason']}" in section
    assert "What changed: " in section and "→" in section
    http.cookies.clear()


# --- the KPU's determination (issue 16) -------------------------------------------------

PANGKALPINANG = "19.71"  # 7 kecamatan; the kolom kosong won the 2024 walikota contest
WALIKOTA = "walikota-19.71"
GUBERNUR = "gubernur-19"  # not determined: the simulation holds one city of the province


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def determined(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Path, httpx.Client]]:
    """Kota Pangkalpinang, simulated up to the KPU's determinations (ledger simulate's)."""
    context = nullcontext("sqlite:ledger.db") if request.param == "sqlite" else postgres_schema()
    with context as database:
        directory = tmp_path_factory.mktemp(f"pangkalpinang-{request.param}") / "ledger"
        build(
            Simulation(PANGKALPINANG, seed=2024),
            directory,
            passphrase=PASSPHRASE.encode(),
            database=database,
        )
        with Server(directory) as server, httpx.Client(base_url=server.url, timeout=30) as http:
            yield directory, http


def _section(text: str, marker: str) -> str:
    """The element that ``marker`` opens, up to the end of its section."""
    return text.split(marker, 1)[1].split("</section>", 1)[0]


def _results(directory: Path) -> dict[str, Any]:
    from projections.outcomes import results

    ledger = LedgerHome(directory).open()
    try:
        projections = Projections(ledger)
        projections.catch_up()
        return {r["contest"]: r for r in results(projections.store())}
    finally:
        ledger.close()


def test_the_contest_pages_show_the_kpus_determination(
    determined: tuple[Path, httpx.Client],
) -> None:
    """The kolom kosong won: a new election, the column named as a column; then a
    later determination (seq 2, other figures) replaces it and names the elected pair."""
    from ledger.format.outcome import ELECTED, NEW_ELECTION
    from ledger.format.regions import result_stream
    from ledger.format.signing import Chainer, determination_body
    from ledger.pilkada.scenario import Scenario
    from ledger.server.wire import ENVELOPE_TYPE

    directory, http = determined
    found = _results(directory)
    first = found[WALIKOTA]["determination"]
    assert first is not None and first["outcome"] == NEW_ELECTION
    assert found[GUBERNUR]["determination"] is None

    page = _main(http.get(f"/contest/{WALIKOTA}").text)
    section = _section(page, 'id="determination"')
    assert 'data-determination="new-election"' in page
    assert "kolom kosong menang" in section and first["decree"] in section
    assert fmt_time("id", first["announced"], PANGKALPINANG) in section
    assert fmt_time("id", first["filing_deadline"], PANGKALPINANG) in section
    column = next(c for c in found[WALIKOTA]["columns"] if c["kolom_kosong"])
    assert f"{column['number']}. " + "kolom kosong" not in page.lower()
    assert re.search(
        rf"<th scope=\"row\">Kolom kosong</th>\s*<td data-pair=\"{column['number']}\">", section
    )
    english = _main(http.get(f"/contest/{WALIKOTA}", params={"lang": "en"}).text)
    assert "A new election" in english and f"pair {column['number']}" not in english.lower()
    http.cookies.clear()
    gubernur = _section(_main(http.get(f"/contest/{GUBERNUR}").text), 'class="determination"')
    assert gubernur.split(">", 1)[0] == ' data-determination="none"' and "Belum ada." in gubernur
    home = _main(http.get("/").text)
    card = _section(home, f'data-contest="{WALIKOTA}"')
    assert 'data-determination="new-election"' in card

    # A later determination replaces it: here on figures where the pair won (they
    # differ from the recap it names, which the page says).
    pair = next(c for c in found[WALIKOTA]["columns"] if not c["kolom_kosong"])
    totals = first["totals"]
    swapped = {
        **totals,
        "votes": {
            str(column["number"]): totals["votes"][str(pair["number"])],
            str(pair["number"]): totals["votes"][str(column["number"])],
        },
    }
    stream = result_stream(WALIKOTA)
    held = http.get(f"/v1/streams/{stream}").json()
    chain = Chainer(Scenario().election)
    chain.follow(stream, held["seq"], bytes.fromhex(held["head"]))
    body = determination_body(
        bytes.fromhex(first["recap"]),
        "Nomor 2/PL.02.6-Kpt/19.71/2024",
        first["announced"] + 3600,
        swapped,
        kolom_kosong=column["number"],
        office="walikota",
    )
    assert body["outcome"] == ELECTED
    envelope = chain.sign(
        Scenario().key(f"kpu-kab:{PANGKALPINANG}"),
        stream,
        "determination",
        body,
        time=first["announced"] + 3600,
    )
    answer = http.post(
        "/v1/envelopes", content=envelope.raw, headers={"Content-Type": ENVELOPE_TYPE}
    )
    assert answer.status_code == 201, answer.text
    page = _main(http.get(f"/contest/{WALIKOTA}").text)
    section = _section(page, 'id="determination"')
    assert 'data-determination="elected"' in page
    assert f"Terpilih: {pair['number']}. {pair['name']}" in section
    assert "Nomor 2/PL.02.6-Kpt/19.71/2024" in section
    assert 'data-differs-from-recap="true"' in section
    card = _section(_main(http.get("/").text), f'data-contest="{WALIKOTA}"')
    assert 'data-determination="elected"' in card


# --- the process after the count (issue 15) ------------------------------------------------


def _sheet_html(http: httpx.Client, stream: str) -> str:
    """The section of a sheet stream on its TPS page, in English."""
    tps = stream.split(":", 2)[2]
    page = http.get(f"/tps/{tps}", params={"lang": "en"})
    assert page.status_code == 200, page.text
    return page.text.split(f'data-stream="{stream}"')[1].split("</section>")[0]


def _contest_html(http: httpx.Client, contest: str, place: str, section: str) -> str:
    page = http.get(f"/contest/{contest}/{place}", params={"lang": "en"})
    assert page.status_code == 200, page.text
    return page.text.split(f'<section id="{section}"')[1].split("</section>")[0]


def _orders(store: Any, action: str) -> list[dict[str, Any]]:
    found = [o for o in store.scan("order") if o["action"] == action]
    assert found, f"the world holds a {action}"
    return found


def test_the_tps_page_shows_the_c_hasil_of_its_own_form(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    for contest in (BUPATI, "gubernur-33"):
        stream = f"sheet:{contest}:{RUTAN}"
        tally = views.effective(store.get("sheet", stream))["tally"]
        section = _sheet_html(http, stream)
        assert 'data-form="2"' in section
        shown = dict(re.findall(r'<td data-field="([a-z_]+)">([0-9,]+)</td>', section))
        assert {f: int(v.replace(",", "")) for f, v in shown.items()} == {
            f: tally[f] for f in tally_fields(2)
        }
        assert not set(V1_ONLY_FIELDS) & set(shown)  # no registered DPTb/DPK on form 2
    http.cookies.clear()


def test_a_re_vote_supersedes_the_count_it_replaces(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    for order in _orders(store, "revote"):
        sheet = store.get("sheet", order["stream"])
        first, revote = sheet["tallies"][0], sheet["tallies"][-1]
        assert revote["order"] == order["hash"] and first["order"] is None
        section = _sheet_html(http, order["stream"])
        item = section.split(f'data-order="{order["hash"]}"')[1].split("</ul></li>")[0]
        assert 'data-action="revote"' in section and "re-vote (PSU)" in item
        assert html.escape(order["reason"]) in item and html.escape(order["basis"]) in item
        assert fmt_time("en", order["deadline"], sheet["tps"]) in item
        assert "Follows the recommendation" in item and order["recommendation"][:16] in item
        assert "Carried out by the count" in item and revote["hash"][:16] in item
        # the count the re-vote replaced: superseded by the re-vote's count, by name
        old = section.split(f'data-event="{first["hash"]}"')[1].split("</li>")[0]
        assert 'data-state="superseded"' in section.split(f'data-event="{first["hash"]}"')[0][-80:]
        assert f'data-superseded-by="{revote["hash"]}"' in old
        assert "superseded by the count of the re-vote (PSU)" in old
        new = section.split(f'data-event="{revote["hash"]}"')[0][-120:]
        assert 'data-state="effective"' in new
        # the recommendation it followed, with the KPU's acceptance
        recommendation = store.get("recommendation", order["recommendation"])
        rec = section.split(f'data-recommendation="{recommendation["hash"]}"')[1]
        assert 'data-remedy="revote"' in rec and "recommends a re-vote" in rec
        assert 'data-followup="accepted"' in rec.split("</ul></li>")[0]
        assert "Panwaslu Kecamatan" in rec and "KPU Kabupaten/Kota" in rec
    findings = {f["kind"] for f in views.findings(store)}
    assert "equivocation" not in findings  # a superseded count is no equivocation
    http.cookies.clear()


def test_a_delayed_vote_shows_its_order_and_the_count_that_carried_it_out(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    for order in _orders(store, "delayed"):
        sheet = store.get("sheet", order["stream"])
        (count,) = sheet["tallies"]
        section = _sheet_html(http, order["stream"])
        item = section.split(f'data-order="{order["hash"]}"')[1].split("</ul></li>")[0]
        assert "delayed vote (susulan)" in item and html.escape(order["reason"]) in item
        assert count["hash"][:16] in item and 'data-pending="true"' not in item
        assert "Follows the recommendation" not in item and "data-ruling" not in item
        assert "the count of the delayed vote (susulan)" in section
        cell = re.search(r'<td data-field="valid">([0-9,]+)</td>', section)
        assert cell is not None and int(cell.group(1).replace(",", "")) == count["tally"]["valid"]
    # and the region's contest page lists the orders below it
    text = _contest_html(http, BUPATI, REGION, "recommendations")
    for order in (o for o in store.scan("order", contest=BUPATI)):
        assert f'data-order="{order["hash"]}" data-action="{order["action"]}"' in text
    http.cookies.clear()


def test_recommendations_show_their_follow_ups_or_their_absence(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    unfollowed = [r for r in store.scan("recommendation") if not r["followups"]]
    assert unfollowed, "the world has a recommendation nobody followed up"
    for rec in unfollowed:
        section = _sheet_html(http, rec["stream"])
        item = section.split(f'data-recommendation="{rec["hash"]}"')[1].split("</li>")[0]
        assert f'data-remedy="{rec["remedy"]}"' in item and html.escape(rec["reason"]) in item
        assert 'data-followup="none"' in item and "No follow-up yet." in item
        assert rec["event"] is None or f'href="#event-{rec["event"][:16]}"' in item
        contest = rec["stream"].split(":")[1]
        below = _contest_html(http, contest, REGION, "recommendations")
        assert f'data-recommendation="{rec["hash"]}" data-followup="none"' in below
    http.cookies.clear()


def test_sheet_objections_name_what_answers_them(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    seen = {"answered": 0, "open": 0}
    for sheet in store.scan("sheet", within=REGION):
        for a in (a for a in sheet["attestations"] if a["verdict"] == "object"):
            section = _sheet_html(http, sheet["stream"])
            item = section.split(f'data-event="{a["hash"]}"')[1].split("</li>")[0]
            answer = views.objection_answer(sheet, a)
            if answer is None:
                assert 'data-answered="none"' in item and "not answered" in item
                seen["open"] += 1
            else:
                correction = next(t for t in sheet["tallies"] if t["hash"] == answer)
                assert a["hash"] in correction["answers"]  # version 2 names it
                assert f'data-answered="{answer}"' in item
                assert "answered by the correction" in item
                seen["answered"] += 1
    assert seen == {"answered": 1, "open": 1}
    http.cookies.clear()


def test_the_plenary_shows_objections_refusals_and_the_decisions_answering_them(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    verdicts = set()
    for recap in store.scan("recap", within=REGION):
        contest = recap["contest"]
        text = _contest_html(http, contest, recap["region"], "objections")
        objections = [a for a in recap.get("attestations", []) if a["verdict"] != "agree"]
        assert objections, "a saksi objects or refuses at every plenary here"
        for a in objections:
            verdicts.add(a["verdict"])
            item = text.split(f'data-verdict="{a["verdict"]}" data-event="{a["hash"]}"')[1]
            item = item.split("</li>")[0]
            assert html.escape(a["reason"]) in item
            answer = recap.get("answered", {}).get(a["hash"])
            if a["verdict"] == "refuse":
                assert "refuses to sign" in item
            if answer is None:
                assert 'data-answered="none"' in item
                continue
            entry = next(r for r in recap["recaps"] if r["hash"] == answer)
            decision = next(d for d in entry["decisions"] if d["objection"] == a["hash"])
            assert (
                f'data-answered="{answer}"' in item
                and html.escape("answered by the plenary's decision") in item
            )
            assert decision["ruling"] in item and html.escape(decision["reason"]) in item
        # the plenary's decisions on the sheets' objections, each linking its TPS
        for entry in recap["recaps"]:
            for d in entry["decisions"]:
                objection = store.get("objection", d["objection"])
                if objection["stream"].startswith("sheet:"):
                    item = text.split(f'data-decision="{d["objection"]}"')[1].split("</li>")[0]
                    tps = objection["stream"].split(":", 2)[2]
                    assert f'href="/tps/{tps}"' in item and d["ruling"] in item
    assert verdicts == {"object", "refuse"}
    http.cookies.clear()


def test_the_d_hasil_block_stands_beside_the_sum_of_the_level_below(
    served: tuple[Path, httpx.Client], store: Any
) -> None:
    _, http = served
    differs = 0
    for recap in store.scan("recap", within=REGION):
        latest = recap["recaps"][-1]
        admin, below = latest["admin"], latest["admin_computed"]
        text = _contest_html(http, recap["contest"], recap["region"], "recap")
        rows = re.findall(
            r'<td data-admin="([a-z_]+)">([0-9,]+)</td><td>([0-9,]+)</td><td( class="differs")?>',
            text,
        )
        assert [r[0] for r in rows] == list(ADMIN_FIELDS)
        for name, stated, summed, marked in rows:
            assert int(stated.replace(",", "")) == admin[name]
            assert int(summed.replace(",", "")) == below[name]
            assert bool(marked) == (admin[name] != below[name])
            differs += bool(marked)
    assert differs == 2  # the planted mismatch moves one voter between two fields
    http.cookies.clear()


@pytest.mark.parametrize("version", [1, 2])
def test_a_sheets_whole_story_on_a_small_ledger_of_either_version(
    version: int, database_url: str, tmp_path: Path
) -> None:
    """A version 1 ledger's C.Hasil keeps its registered DPTb and DPK; on version 2 a
    saksi refuses to sign, a correction answers the refusal by name (not the objection
    it does not name), and a recount the Court ordered supersedes the correction."""
    s = Scenario(version=version)
    directory = make_home(tmp_path / "ledger", s, database_url)
    envelopes, k = world_statements(s)
    registered = {"dptb_m": 4, "dptb_f": 3, "dpk_m": 2, "dpk_f": 1}
    count = s.count(k["kpps"], BUPATI, world.TPS, world.tally(**registered))
    envelopes.append(count)
    story: dict[str, bytes] = {"count": count.hash}
    if version == 2:
        refusal = s.attest(k["saksi1"], BUPATI, world.TPS, count.hash, "refuse", "not my count")
        objection = s.attest(k["saksi2"], BUPATI, world.TPS, count.hash, "object", "pair 2 lost 3")
        fixed = s.correct(
            k["ppk"], BUPATI, world.TPS, count.hash, "recounted", world.tally((121, 59)),
            answers=[refusal.hash],
        )  # fmt: skip
        stream = f"sheet:{BUPATI}:{world.TPS}"
        recommend = s.recommend(k["ptps"], stream, "recount", "seals broken", fixed.hash)
        followup = s.followup(k["kab"], stream, recommend.hash, "accepted", "recount ordered")
        order = s.order(
            k["kab"], stream, "recount", "seals broken", ruling="135/PHPU.BUP-XXIII/2025",
            deadline=s.time + 40 * 86_400, recommendation=recommend.hash,
        )  # fmt: skip
        recount = s.recount_count(k["kpps"], BUPATI, world.TPS, world.tally((122, 58)), order.hash)
        late = s.attest(k["saksi2"], BUPATI, world.TPS, recount.hash, "object", "still short")
        decision = {"objection": late.hash, "ruling": "dismissed", "reason": "the form agrees"}
        recap = s.recap(
            k["ppk"], BUPATI, world.KECAMATAN, [(stream, s.head(stream))], {"1": 122, "2": 58},
            180, 5, 185, decisions=[decision],
        )  # fmt: skip
        envelopes += [refusal, objection, fixed, recommend, followup, order, recount, late, recap]
        story.update(refusal=refusal.hash, objection=objection.hash, fixed=fixed.hash)
        story.update(order=order.hash, recount=recount.hash, late=late.hash, recap=recap.hash)
    ledger = LedgerHome(directory).open()
    try:
        for envelope in envelopes:
            ledger.append(envelope.raw)
    finally:
        ledger.close()
    with Server(directory) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        section = _sheet_html(http, f"sheet:{BUPATI}:{world.TPS}")
        plenary = _contest_html(http, BUPATI, world.KECAMATAN, "objections") if version == 2 else ""
    assert f'data-form="{version}"' in section
    shown = set(re.findall(r'<td data-field="([a-z_]+)">', section))
    assert shown == set(tally_fields(version))
    if version == 1:
        for name, value in registered.items():
            assert f'<td data-field="{name}">{value}</td>' in section
        return
    hexes = {name: h.hex() for name, h in story.items()}

    def item(event: str) -> str:
        return section.split(f'data-event="{event}"')[1].split("</li>")[0]

    assert "refuses to sign" in item(hexes["refusal"])
    assert f'data-answered="{hexes["fixed"]}"' in item(hexes["refusal"])
    assert 'data-answered="none"' in item(hexes["objection"])  # the correction names it not
    assert f'data-superseded-by="{hexes["fixed"]}"' in item(hexes["count"])
    assert "superseded by the correction" in item(hexes["count"])
    assert f'data-superseded-by="{hexes["recount"]}"' in item(hexes["fixed"])
    assert "superseded by the count of the recount" in item(hexes["fixed"])
    ordered = section.split(f'data-order="{hexes["order"]}"')[1].split("</ul></li>")[0]
    assert "<span data-ruling>135/PHPU.BUP-XXIII/2025</span>" in ordered
    assert "Constitutional Court ruling" in ordered and hexes["recount"][:16] in ordered
    assert '<td data-field="votes.1">122</td>' in section  # the recount's figures
    # an objection the PPK's recap decides, by name: on the TPS page and the plenary's
    decided = item(hexes["late"])
    assert f'data-answered="{hexes["recap"]}"' in decided and "dismissed" in decided
    assert html.escape("answered by the plenary's decision") in decided
    on_plenary = plenary.split(f'data-decision="{hexes["late"]}"')[1].split("</li>")[0]
    assert f'href="/tps/{world.TPS}"' in on_plenary and "the form agrees" in on_plenary
