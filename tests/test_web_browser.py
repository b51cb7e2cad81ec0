"""The public web view in a real browser (issue 17): Debian's Chromium through Playwright.

One ledger per backend (SQLite, PostgreSQL): kecamatan Blora (33.16.09) of the
real 2024 elections, built by the demo pipeline with its Bawaslu witness, served
by `ledger serve` as a child process, with a tampering proxy in front of it. The
browser walks from the election page down to the TPS Lokasi Khusus at Rutan Kelas IIB
Blora, checks the figures against the projection, and reads the in-browser
verdict from ``#verification``. Skipped where Chromium is missing, unless
$LEDGER_REQUIRE_BROWSER (CI) is set.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import pilkada
from ledger.errors import FormatError, InvalidSignature
from ledger.format import ed25519
from ledger.format.regions import KECAMATAN, VILLAGE
from ledger.pilkada.demo import build
from ledger.pilkada.simulate import Simulation
from ledger.store.home import LedgerHome
from projections import views
from projections.recorder import Projections
from tests.conftest import VECTORS_DIR, postgres_schema
from tests.servers import PASSPHRASE, Server
from tests.test_format_doc import _canonical_examples, _noncanonical_examples
from tests.web_support import (  # noqa: F401
    TamperingProxy,
    browser,
    tamper_dossier,
    tamper_order,
)

REGION = "33.16.09"  # kecamatan Blora: the Rutan's TPS and 100-odd others
RUTAN = pilkada.RUTAN_BLORA_TPS
DELAYED_TPS = "33.16.09.1017/002"  # a delayed vote (susulan) by order, in REGION
REVOTE_REGION = "33.16.16"
REVOTE_TPS = "33.16.16.2014/002"  # recommended, accepted, ordered and re-voted
BUPATI = "bupati-33.16"
VERDICT_TIMEOUT_MS = 30_000
WIDTHS = (360, 1280)
GROUP_ORDER = 2**252 + 27742317777372353535851937790883648493  # Ed25519's L


@dataclass
class Site:
    directory: Path
    server: Server
    proxy: TamperingProxy

    @property
    def url(self) -> str:
        return self.proxy.url

    def projection(self) -> Any:
        ledger = LedgerHome(self.directory).open()
        projections = Projections(ledger)
        projections.catch_up()
        return ledger, projections.store()


@contextmanager
def _serve(backend: str, region: str, directory: Path) -> Iterator[Site]:
    """The demo of ``region`` built on ``backend`` and served behind a tampering proxy."""
    with _database(backend) as database:
        build(
            Simulation(region, seed=2024),
            directory,
            passphrase=PASSPHRASE.encode(),
            database=database,
        )
        with Server(directory) as server:
            proxy = TamperingProxy(server.url)
            try:
                yield Site(directory, server, proxy)
            finally:
                proxy.close()


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    from tests.web_support import require_browser

    require_browser()  # before building anything
    directory = tmp_path_factory.mktemp(request.param) / "ledger"
    with _serve(request.param, REGION, directory) as served:
        yield served


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def revote_site(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Site]:
    """The demo of kecamatan 33.16.16, whose TPS 33.16.16.2014/002 re-votes (issue 15)."""
    from tests.web_support import require_browser

    require_browser()
    directory = tmp_path_factory.mktemp(f"revote-{request.param}") / "ledger"
    with _serve(request.param, REVOTE_REGION, directory) as served:
        yield served


def _database(backend: str) -> Any:
    from contextlib import nullcontext

    return nullcontext("sqlite:ledger.db") if backend == "sqlite" else postgres_schema()


@contextmanager
def _page_of(browser: Any, site: Site) -> Iterator[Any]:  # noqa: F811
    context = browser.new_context(viewport={"width": 360, "height": 800})
    site.proxy.rewrite = None
    try:
        yield context.new_page()
    finally:
        site.proxy.rewrite = None
        context.close()


@pytest.fixture
def page(browser: Any, site: Site) -> Iterator[Any]:  # noqa: F811
    with _page_of(browser, site) as opened:
        yield opened


@pytest.fixture
def revote_page(browser: Any, revote_site: Site) -> Iterator[Any]:  # noqa: F811
    with _page_of(browser, revote_site) as opened:
        yield opened


def _verdict(page: Any) -> tuple[str, str, str]:
    page.wait_for_selector(
        "#verification:not([data-verification='pending'])", timeout=VERDICT_TIMEOUT_MS
    )
    box = page.locator("#verification")
    return (
        box.get_attribute("data-verification") or "",
        box.get_attribute("data-step") or "",
        box.inner_text(),
    )


def _number(text: str) -> int:
    return int("".join(ch for ch in text if ch.isdigit()))


def test_from_the_election_down_to_the_rutan_blora_tps(page: Any, site: Site) -> None:
    ledger, store = site.projection()
    try:
        page.goto(site.url + "/")
        contests = views.contests(store)
        assert page.locator("[data-contest]").count() == len(contests)
        assert _number(page.locator("[data-findings]").inner_text()) == len(views.findings(store))
        assert page.locator("#checkpoint [data-witness]").count() >= 1

        page.get_by_role("link", name="Bupati Blora").first.click()
        page.wait_for_url("**/contest/bupati-33.16")
        contest = store.get("contest", BUPATI)
        rows = views.totals(store, BUPATI, KECAMATAN, REGION)
        for number in (p["number"] for p in contest["body"]["pairs"]):
            cell = page.locator(f"#totals td[data-pair='{number}']")
            assert _number(cell.inner_text()) == sum(r["votes"].get(str(number), 0) for r in rows)

        page.locator(f"#drill tr[data-region='{REGION}'] a").click()
        page.wait_for_url(f"**/contest/{BUPATI}/{REGION}")
        recap = next(r for r in views.recap_checks(store, BUPATI, REGION) if r["region"] == REGION)
        assert (
            _number(page.locator("#recap [data-recap='valid']").inner_text())
            == recap["totals"]["valid"]
        )

        village = pilkada.RUTAN_BLORA_TPS.split("/")[0]
        page.locator(f"#drill tr[data-region='{village}'] a").click()
        page.wait_for_url(f"**/contest/{BUPATI}/{village}")
        assert views.totals(store, BUPATI, VILLAGE, village)

        page.locator(f"#drill tr[data-tps='{RUTAN}'] a").click()
        page.wait_for_url(f"**/tps/{RUTAN}")
        assert page.locator(".khusus").count() == 1
        verdict, step, text = _verdict(page)
        assert (verdict, step) == ("ok", ""), text

        sheet = store.get("sheet", f"sheet:{BUPATI}:{RUTAN}")
        tally = views.effective(sheet)["tally"]
        section = page.locator(f"section.sheet[data-contest='{BUPATI}']")
        for number, votes in tally["votes"].items():
            cell = section.locator(f"[data-field='votes.{number}']")
            assert cell.get_attribute("data-signed") == str(votes)
            assert _number(cell.inner_text()) == votes
        assert section.locator("[data-json-disagrees='false']").count() == 1
    finally:
        ledger.close()


@pytest.mark.parametrize(
    ("tampered", "step"),
    [
        ("count", "signature"),
        ("grant", "grant-chain"),
        ("proof", "inclusion"),
        ("cosignatures", "witnesses"),
        ("proof-checkpoint", "envelopes"),
        ("index", "envelopes"),
    ],
)
def test_a_tampered_dossier_fails_naming_the_step(
    page: Any, site: Site, tampered: str, step: str
) -> None:
    site.proxy.rewrite = tamper_dossier(tampered)
    page.goto(f"{site.url}/tps/{RUTAN}")
    verdict, failed_step, text = _verdict(page)
    assert (verdict, failed_step) == ("failed", step), text
    assert step in text


def test_a_version_1_dossier_still_verifies(page: Any, site: Site) -> None:
    """The same dossier, as a version 1 dossier (envelope and proof apart, format.md 10.2)."""
    site.proxy.rewrite = tamper_dossier("v1")
    page.goto(f"{site.url}/tps/{RUTAN}")
    verdict, step, text = _verdict(page)
    assert (verdict, step) == ("ok", ""), text
    section = page.locator(f"section.sheet[data-contest='{BUPATI}']")
    assert section.locator("[data-json-disagrees='false']").count() == 1


def test_pinned_roots_that_change_are_flagged(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/tps/{RUTAN}")
    assert _verdict(page)[0] == "ok"
    assert page.locator("[data-pinned='new']").count() == 1
    page.reload()
    assert _verdict(page)[0] == "ok"
    assert page.locator("[data-pinned='same']").count() == 1

    other_root = base64.b64encode(ed25519.public_bytes(Ed25519PrivateKey.generate())).decode()

    def other_roots(path: str, body: bytes) -> bytes:
        if path != "/v1/trust":
            return body
        return json.dumps({**json.loads(body), "kpu_root": other_root}).encode()

    site.proxy.rewrite = other_roots
    page.reload()
    verdict, step, text = _verdict(page)
    assert (verdict, step) == ("failed", "pinned-roots"), text
    assert page.locator("[data-pinned='changed']").count() == 1
    assert "kpu_root" in page.locator("[data-pinned='changed']").inner_text()


def test_json_that_disagrees_with_the_signed_bytes_shows_the_signed_figures(
    page: Any, site: Site
) -> None:
    stream = f"sheet:{BUPATI}:{RUTAN}"

    def inflate(path: str, body: bytes) -> bytes:
        if not path.startswith("/v1/streams/sheet:"):
            return body
        doc = json.loads(body)
        for event in doc["events"]:
            if event["kind"] in ("count", "correct"):
                event["body"]["tally"]["votes"]["1"] += 1000
        return json.dumps(doc).encode()

    site.proxy.rewrite = inflate
    page.goto(f"{site.url}/tps/{RUTAN}")
    verdict, _, text = _verdict(page)
    assert verdict == "ok", text
    section = page.locator(f"section.sheet[data-stream='{stream}']")
    warning = section.locator("[data-json-disagrees='true']")
    assert warning.count() == 1
    assert "votes.1" in warning.inner_text()
    ledger, store = site.projection()
    try:
        signed = views.effective(store.get("sheet", stream))["tally"]["votes"]["1"]
    finally:
        ledger.close()
    assert _number(section.locator("[data-field='votes.1']").inner_text()) == signed


@pytest.mark.parametrize("width", WIDTHS)
def test_pages_fit_the_screen_without_horizontal_scrolling(
    browser: Any,  # noqa: F811
    site: Site,
    width: int,
    tmp_path: Path,
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 900})
    try:
        page = context.new_page()
        village = RUTAN.split("/")[0]
        for path in (
            "/",
            f"/contest/{BUPATI}",
            f"/contest/{BUPATI}/{REGION}",
            f"/contest/{BUPATI}/{village}",
            f"/tps/{RUTAN}",
            "/findings",
            "/search?q=Blora",
        ):
            page.goto(site.url + path)
            if path.startswith("/tps/"):
                _verdict(page)
            page.screenshot(path=str(tmp_path / f"{width}-{len(path)}.png"), full_page=True)
            overflow = page.evaluate("document.scrollingElement.scrollWidth - innerWidth")
            assert overflow <= 0, f"{path} at {width} px scrolls sideways by {overflow} px"
    finally:
        context.close()


def test_english_switch_is_remembered_and_the_page_is_keyboard_navigable(
    page: Any, site: Site
) -> None:
    page.goto(site.url + "/")
    assert page.locator("html").get_attribute("lang") == "id"
    page.get_by_role("link", name="English").click()
    assert page.locator("html").get_attribute("lang") == "en"
    page.goto(f"{site.url}/tps/{RUTAN}")
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Verified in your browser" in _verdict(page)[2]
    # Keyboard: the first Tab reaches the skip link, which leads to the content.
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip"
    page.keyboard.press("Enter")
    assert page.evaluate("document.activeElement.id") == "main"
    # Every form control has an accessible name.
    for control in page.locator("input, select, button").all():
        assert control.evaluate("e => (e.labels && e.labels.length) || e.textContent.trim()"), (
            control
        )


# --- the project's vectors, in the browser ----------------------------------------------


def _python_verdict(public: bytes, signature: bytes, message: bytes) -> bool:
    try:
        ed25519.verify(public, signature, message)
    except (InvalidSignature, FormatError):
        return False
    return True


def _ed25519_vectors() -> list[tuple[str, str, str]]:
    """RFC 8032 test 1, the strict rules' probes (tests/test_ed25519.py), and every
    small-order point as a key and as R: (public, signature, message) in hex."""
    public = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
    )
    s = int.from_bytes(signature[32:], "little")
    malleated = signature[:32] + (s + GROUP_ORDER).to_bytes(32, "little")
    identity = bytes([1]) + bytes(31)
    small_order = [
        identity,
        bytes.fromhex(
            "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"
        ),  # order 2
        bytes(32),  # order 4
        bytes.fromhex("0000000000000000000000000000000000000000000000000000000000000080"),
        bytes.fromhex(
            "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05"
        ),  # order 8
        bytes.fromhex("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a"),
    ]
    out = [
        (public, signature.hex(), ""),
        (public, signature.hex(), "78"),
        (public, malleated.hex(), ""),
        (identity.hex(), (identity + bytes(32)).hex(), "616e79"),
        (public, (bytes([0xFF] * 32) + signature[32:]).hex(), ""),  # R not canonical
    ]
    for point in small_order:
        out.append((point.hex(), signature.hex(), ""))
        out.append((public, (point + signature[32:]).hex(), ""))
    return out


def test_the_projects_vectors_pass_in_the_browser(page: Any, site: Site) -> None:
    page.goto(site.url + "/")
    ed = _ed25519_vectors()
    verdicts = page.evaluate(
        """async (vectors) => {
            const { verify } = await import('/static/ed25519.js');
            const { fromHex } = await import('/static/bytes.js');
            const out = [];
            for (const [pub, sig, msg] of vectors) {
                try { await verify(fromHex(pub), fromHex(sig), fromHex(msg)); out.push(true); }
                catch (e) { out.push(e.name === 'InvalidSignature' ? false : e.message); }
            }
            return out;
        }""",
        ed,
    )
    expected = [
        _python_verdict(bytes.fromhex(p), bytes.fromhex(s), bytes.fromhex(m)) for p, s, m in ed
    ]
    assert verdicts == expected
    assert expected[0] is True and not any(expected[1:])

    canonical_ok = [h for _, h in _canonical_examples()]
    rejected = _noncanonical_examples()
    results = page.evaluate(
        """async ([good, bad]) => {
            const { decode } = await import('/static/msgpack.js');
            const { fromHex } = await import('/static/bytes.js');
            const run = (h) => { try { decode(fromHex(h)); return 'ok'; } catch (e) { return e.name; } };
            return [good.map(run), bad.map(run)];
        }""",
        [canonical_ok, [h for h, _ in rejected]],
    )
    assert results[0] == ["ok"] * len(canonical_ok)
    assert results[1] == [error for _, error in rejected]

    notes = json.loads((VECTORS_DIR / "signed_note.json").read_text())
    cases = [(v["vkey"], v["signed_note"], v["expect"]["verifies"]) for v in notes["vectors"]]
    cases += [(v["vkey"], v["signed_note"], False) for v in notes["negative"] if "vkey" in v]
    opened = page.evaluate(
        """async (cases) => {
            const { openNote, parseVkey } = await import('/static/note.js');
            const out = [];
            for (const [vkey, note] of cases) {
                try { await openNote(note, [await parseVkey(vkey)]); out.push(true); }
                catch (e) { out.push(false); }
            }
            return out;
        }""",
        [[v, n] for v, n, _ in cases],
    )
    assert opened == [want for _, _, want in cases]

    merkle = json.loads((VECTORS_DIR / "merkle.json").read_text())
    probes = [
        (p["leaf_index"], p["tree_size"], p["leaf_hash"], p["proof"], p["root"], not p["want_err"])
        for p in merkle["tdm_probes"]["inclusion"]
    ]
    probes += [
        (c["leaf_index"], c["tree_size"], c["leaf_hash"], c["proof"], c["root"], True)
        for c in merkle["tdm_inclusion_proofs"]["cases"]
    ]
    got = page.evaluate(
        """async (probes) => {
            const { verifyInclusion } = await import('/static/merkle.js');
            const { fromHex } = await import('/static/bytes.js');
            const out = [];
            for (const [index, size, leaf, proof, root] of probes) {
                try { await verifyInclusion(index, size, fromHex(leaf), proof.map((p) => fromHex(p)), fromHex(root)); out.push(true); }
                catch (e) { out.push(false); }
            }
            return out;
        }""",
        [p[:5] for p in probes],
    )
    assert got == [p[5] for p in probes]
    assert True in got and False in got


def _signed_figures_are_the_effective_count(page: Any, site: Site, tps: str) -> None:
    """The page shows the sheet's effective tally (the count carrying out the order),
    signed, and the server's figures agree with it."""
    ledger, store = site.projection()
    try:
        sheet = store.get("sheet", f"sheet:{BUPATI}:{tps}")
        effective = views.effective(sheet)
        assert effective is not None and effective.get("order"), sheet["tallies"]
        section = page.locator(f"section.sheet[data-contest='{BUPATI}']")
        for number, votes in effective["tally"]["votes"].items():
            cell = section.locator(f"[data-field='votes.{number}']")
            assert cell.get_attribute("data-signed") == str(votes)
        assert section.locator("[data-json-disagrees='false']").count() == 1
    finally:
        ledger.close()


def test_a_delayed_vote_by_order_verifies(page: Any, site: Site) -> None:
    """Issue 15: the sheet holds the KPU's order and the count that names it."""
    page.goto(f"{site.url}/tps/{DELAYED_TPS}")
    verdict, step, text = _verdict(page)
    assert (verdict, step) == ("ok", ""), text
    _signed_figures_are_the_effective_count(page, site, DELAYED_TPS)


def test_a_revote_verifies_with_the_revotes_figures(revote_page: Any, revote_site: Site) -> None:
    """Recommendation, follow-up, order, and the re-vote's count superseding the first."""
    revote_page.goto(f"{revote_site.url}/tps/{REVOTE_TPS}")
    verdict, step, text = _verdict(revote_page)
    assert (verdict, step) == ("ok", ""), text
    _signed_figures_are_the_effective_count(revote_page, revote_site, REVOTE_TPS)


@pytest.mark.parametrize(
    ("tampered", "step", "said"),
    [
        ("bytes", "signature", "seq"),
        ("signer", "authority", "may not sign order"),
        ("reference", "chain", "count.order names"),
    ],
)
def test_a_tampered_order_fails_naming_the_step(
    revote_page: Any, revote_site: Site, tampered: str, step: str, said: str
) -> None:
    """An order's bytes changed; an order signed by the KPPS (who may not order); a
    count naming the recommendation as the order it carries out."""
    kpps = Simulation(REVOTE_REGION, seed=2024).scenario.key(f"kpps:{REVOTE_TPS}")
    revote_site.proxy.rewrite = tamper_order(tampered, kpps)
    revote_page.goto(f"{revote_site.url}/tps/{REVOTE_TPS}")
    verdict, failed_step, text = _verdict(revote_page)
    assert (verdict, failed_step) == ("failed", step), text
    assert step in text and said in text, text


def test_events_after_the_witnessed_checkpoint_are_said_to_be_unwitnessed(
    page: Any, site: Site
) -> None:
    """Last in the module: it adds a recount of the Rutan sheet (the same figures)."""
    import httpx

    from ledger.format.signing import Chainer, count_body
    from ledger.pilkada.scenario import Scenario
    from ledger.server.wire import ENVELOPE_TYPE

    stream = f"sheet:{BUPATI}:{RUTAN}"
    held = httpx.get(f"{site.server.url}/v1/streams/{stream}", timeout=30).json()
    chain = Chainer(Scenario().election)
    chain.follow(stream, held["seq"], bytes.fromhex(held["head"]))
    counts = [e for e in held["events"] if e["kind"] in ("count", "correct")]
    tally = counts[-1]["body"]["tally"]
    tally = {
        **tally,
        **(
            {"photo_sha256": bytes.fromhex(tally["photo_sha256"])}
            if "photo_sha256" in tally
            else {}
        ),
    }
    envelope = chain.sign(
        Scenario().key(f"kpps:{RUTAN}"), stream, "count", count_body(tally), time=1732706100
    )
    answer = httpx.post(
        f"{site.server.url}/v1/envelopes",
        content=envelope.raw,
        headers={"Content-Type": ENVELOPE_TYPE},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    page.goto(f"{site.url}/tps/{RUTAN}")
    verdict, _, text = _verdict(page)
    assert verdict == "ok", text
    section = page.locator(f"section.sheet[data-stream='{stream}']")
    assert section.locator("[data-unwitnessed-tail='1']").count() == 1
