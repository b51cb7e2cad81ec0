"""The public web view over HTTP, without a browser (issue 17).

A real `ledger serve` process over kecamatan Blora (33.16.09) of the 2024 demo
pipeline, on SQLite and PostgreSQL: the pages answer in Indonesian or English,
readable without JavaScript, their figures are the projection's, input is escaped,
errors are pages (no traceback), and ``/v1/dossier`` is a dossier that the
offline verifier accepts. The in-browser checks are in test_web_browser.py.
"""

from __future__ import annotations

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
from ledger.format.policy import parse_policy
from ledger.format.regions import KECAMATAN
from ledger.format.trust import policy_from_json, trust_from_json
from ledger.pilkada.demo import build
from ledger.pilkada.simulate import Faults, Simulation
from ledger.store.home import LedgerHome
from ledger.web.i18n import fmt_int, fmt_time
from projections import views
from projections.recorder import Projections
from tests.conftest import postgres_schema
from tests.servers import PASSPHRASE, Server

REGION = "33.16.09"
RUTAN = pilkada.RUTAN_BLORA_TPS
BUPATI = "bupati-33.16"
# findings to filter, and a correction (an objection answered by the PPK) to show
FAULTS = Faults(arithmetic=1, objections_answered=1, objections_unanswered=1, recap_mismatches=1)


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
            Simulation(REGION, seed=7, faults=FAULTS),
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
