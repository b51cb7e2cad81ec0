"""`ledger serve` as a real process: every endpoint, every error status and its problem document.

One server per backend (SQLite, PostgreSQL) for the module, on 127.0.0.1 and a
random port, fed the small test world over HTTP. Refusals are checked for their
status, their RFC 9457 document, and that nothing of them was stored.
"""

from __future__ import annotations

import json
import socket
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import LedgerError, StaleHeadError
from ledger.format import canonical
from ledger.format.note import Verifier, open_note
from ledger.format.regions import sheet_stream
from ledger.format.statement import Envelope
from ledger.log import tiles
from ledger.log.proofs import ConsistencyProof, InclusionProof, Receipt, open_checkpoint
from ledger.pilkada.scenario import Scenario
from ledger.server import problems
from ledger.server.wire import (
    BATCH_TYPE,
    ENVELOPE_TYPE,
    MAX_BATCH_BYTES,
    MAX_BATCH_ENVELOPES,
    MAX_ENVELOPE_BYTES,
    encode_batch,
)
from tests.conftest import postgres_schema
from tests.servers import LEDGER, PASSPHRASE, Server, TcpProxy, make_home, server_env
from tests.world import BUPATI, TPS, TPS2, TPS_ELSEWHERE, form, tally, world_statements


@dataclass
class Served:
    server: Server
    scenario: Scenario
    keys: dict[str, Ed25519PrivateKey]
    log: Verifier
    http: httpx.Client

    def post(self, envelope: Envelope | bytes, content_type: str = ENVELOPE_TYPE) -> httpx.Response:
        raw = envelope.raw if isinstance(envelope, Envelope) else envelope
        return self.http.post("/v1/envelopes", content=raw, headers={"Content-Type": content_type})

    def batch(self, envelopes: list[Envelope]) -> httpx.Response:
        body = encode_batch([e.raw for e in envelopes])
        return self.http.post("/v1/batches", content=body, headers={"Content-Type": BATCH_TYPE})

    def size(self) -> int:
        return int(self.http.get("/healthz").json()["log_size"])


@pytest.fixture(scope="module")
def module_postgres_url() -> Iterator[str]:
    with postgres_schema() as url:
        yield url


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Served]:
    database = "sqlite:ledger.db"
    if request.param == "postgres":
        database = request.getfixturevalue("module_postgres_url")
    scenario = Scenario()
    home = make_home(tmp_path_factory.mktemp(request.param) / "ledger", scenario, database)
    envelopes, keys = world_statements(scenario)
    with Server(home) as server, httpx.Client(base_url=server.url, timeout=30) as http:
        s = Served(server, scenario, keys, scenario.log_signer.verifier, http)
        response = s.batch(envelopes)
        assert response.status_code == 200, response.text
        yield s


def _problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    doc: dict[str, Any] = response.json()
    assert doc["status"] == status
    assert doc["code"] == code
    assert doc["type"] == problems.PROBLEM_TYPE + code
    assert doc["title"]
    assert "Traceback" not in response.text and "\n" not in doc.get("detail", "")
    return doc


# --- write path ----------------------------------------------------------------------------


def test_a_submission_is_receipted_and_a_resubmission_gets_the_same_answer(served: Served) -> None:
    s = served
    count = s.scenario.count(s.keys["kpps"], BUPATI, TPS, tally())
    first = s.post(count)
    assert first.status_code == 201, first.text
    doc = first.json()
    assert doc["event_hash"] == count.hash.hex()
    assert (doc["stream"], doc["seq"], doc["duplicate"]) == (sheet_stream(BUPATI, TPS), 1, False)
    assert first.headers["location"] == f"/v1/events/{count.hash.hex()}"
    receipt = Receipt.open(doc["receipt"].encode(), s.log)
    assert (receipt.event_hash, receipt.leaf_index) == (count.hash, doc["leaf_index"])

    again = s.post(count)
    assert again.status_code == 200
    assert again.json() == {**doc, "duplicate": True}

    event = s.http.get(f"/v1/events/{count.hash.hex()}").json()
    assert event["leaf_index"] == doc["leaf_index"]
    assert event["receipt"] == doc["receipt"]
    assert Envelope.parse(__import__("base64").b64decode(event["envelope"])).hash == count.hash


def test_a_batch_is_all_or_nothing_and_answers_in_order(served: Served) -> None:
    s = served
    size = s.size()
    count = s.scenario.count(s.keys["kpps2"], BUPATI, TPS2, tally((10, 20)))
    stray = s.scenario.count(s.keys["kpps"], BUPATI, TPS2, tally())  # not this KPPS's TPS
    doc = _problem(s.batch([count, stray]), 403, "OutOfScopeError")
    assert doc["detail"].startswith("envelope 2 of 2: ")
    assert s.size() == size  # nothing of the batch was stored
    assert s.http.get(f"/v1/streams/{sheet_stream(BUPATI, TPS2)}").json()["seq"] == 0

    s.scenario.chain.follow(sheet_stream(BUPATI, TPS2), 1, count.hash)
    agree = s.scenario.attest(s.keys["panwas"], BUPATI, TPS2, count.hash)
    response = s.batch([count, agree, count])
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["event_hash"] for r in results] == [e.hash.hex() for e in (count, agree, count)]
    assert [r["duplicate"] for r in results] == [False, False, True]
    assert [r["leaf_index"] for r in results] == [size, size + 1, size]
    stream = s.http.get(f"/v1/streams/{sheet_stream(BUPATI, TPS2)}").json()
    assert (stream["seq"], stream["head"]) == (2, agree.hash.hex())
    assert [e["kind"] for e in stream["events"]] == ["count", "attest"]


def test_concurrent_submissions_succeed_or_fail_each_on_its_own(served: Served) -> None:
    """Group commit: one bad submission among many concurrent ones fails alone."""
    s = served
    scenario = s.scenario
    grants = []
    for i in range(24):
        _, g = scenario.grant(
            s.keys["kab"], f"kpps-group-{i}", "kpps", f"33.16.09.2002/{i + 1:03d}"
        )
        grants.append(g)
    bad = bytearray(grants[7].raw)
    bad[20] ^= 1  # inside the signature: still canonical, no longer valid
    submissions: list[bytes] = [g.raw for g in grants] + [bytes(bad)]
    size = s.size()
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(s.post, submissions))
    statuses = [a.status_code for a in answers]
    assert statuses[:24] == [201] * 24
    _problem(answers[24], 422, "InvalidSignature")
    assert s.size() == size + 24
    leaves = sorted(a.json()["leaf_index"] for a in answers[:24])
    assert leaves == list(range(size, size + 24))


def _resigned(envelope: Envelope, key: Ed25519PrivateKey, **changes: Any) -> Envelope:
    from dataclasses import replace

    from ledger.format import ed25519
    from ledger.format.statement import key_id, sign_statement

    signer = key_id(ed25519.public_bytes(key))
    return sign_statement(replace(envelope.statement, signer=signer, **changes), key)


def test_every_refusal_has_its_status_and_problem_and_stores_nothing(served: Served) -> None:
    s = served
    sc = s.scenario
    k = s.keys
    stream = sheet_stream(BUPATI, TPS_ELSEWHERE)
    count = sc.count(k["kpps_elsewhere"], BUPATI, TPS_ELSEWHERE, tally())
    sc.chain.follow(stream, 0, bytes(32))  # the count above is never stored
    stranger = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
    cases: list[tuple[bytes, int, str]] = [
        (b"\x81\xa1a\x01garbage", 400, "FormatError"),
        (canonical.encode({"a": 1}) + b"", 400, "FormatError"),
        (_resigned(count, k["kpps_elsewhere"], seq=3).raw, 409, "StaleHeadError"),
        (_resigned(count, stranger).raw, 403, "UnknownSignerError"),
        (sc.count(k["kpps"], BUPATI, TPS_ELSEWHERE, tally()).raw, 403, "OutOfScopeError"),
        (
            _resigned(count, k["kpps_elsewhere"], election="pilkada2029").raw,
            422,
            "ElectionMismatchError",
        ),
        (
            _resigned(count, k["kpps_elsewhere"], body={"tally": {"votes": 3}}).raw,
            422,
            "SchemaError",
        ),
        (
            sc.attest(k["panwas"], BUPATI, "33.16.09.2001/009", bytes(32)).raw,
            404,
            "UnknownEventError",
        ),
    ]
    sc.chain.follow(stream, 0, bytes(32))
    bad_signature = bytearray(count.raw)
    bad_signature[20] ^= 1
    cases.append((bytes(bad_signature), 422, "InvalidSignature"))
    size = s.size()
    refused_before = _metric(s, "ledger_submissions_refused_total")
    for raw, status, code in cases:
        _problem(s.post(raw), status, code)
    assert s.size() == size
    assert _metric(s, "ledger_submissions_refused_total") >= refused_before + len(cases)
    # The message is the CLI's: the same envelope refused by a local ledger says the same.
    stale = s.post(_resigned(count, k["kpps_elsewhere"], seq=3)).json()
    assert stale["detail"] == f"stream {stream} is at seq 0, statement is for seq 3"
    assert stale["title"] == StaleHeadError.__doc__


def test_limits_and_content_types(served: Served) -> None:
    s = served
    count = s.scenario.count(s.keys["kpps"], BUPATI, TPS, tally())
    _problem(s.post(count, "text/plain"), 415, "UnsupportedMediaType")
    _problem(s.post(count, BATCH_TYPE), 415, "UnsupportedMediaType")
    response = s.http.post(
        "/v1/batches", content=encode_batch([count.raw]), headers={"Content-Type": ENVELOPE_TYPE}
    )
    _problem(response, 415, "UnsupportedMediaType")
    _problem(s.post(b"\x00" * (MAX_ENVELOPE_BYTES + 1)), 413, "ContentTooLarge")
    too_many = b"\x00\x01\xc0" * (MAX_BATCH_ENVELOPES + 1)  # a batch is an entry bundle
    response = s.http.post("/v1/batches", content=too_many, headers={"Content-Type": BATCH_TYPE})
    _problem(response, 400, "FormatError")
    response = s.http.post(
        "/v1/batches", content=b"\x00" * (MAX_BATCH_BYTES + 1), headers={"Content-Type": BATCH_TYPE}
    )
    _problem(response, 413, "ContentTooLarge")
    response = s.http.post(
        "/v1/batches", content=b"\x00\x09abc", headers={"Content-Type": BATCH_TYPE}
    )
    assert "cut short" in _problem(response, 400, "FormatError")["detail"]
    _problem(s.http.get("/v1/nothing-here"), 404, "NotFound")
    _problem(s.http.delete("/v1/envelopes"), 405, "MethodNotAllowed")
    _problem(s.http.get("/v1/proofs/inclusion", params={"leaf": "x"}), 400, "InvalidRequest")
    _problem(s.http.get("/v1/proofs/inclusion"), 400, "InvalidRequest")
    _problem(s.http.get("/v1/events/zz"), 400, "FormatError")


def test_a_body_that_does_not_arrive_in_time_is_408(tmp_path: Path) -> None:
    home = make_home(tmp_path / "ledger", Scenario())
    with Server(home, args=("--body-timeout", "0.5")) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(
                b"POST /v1/envelopes HTTP/1.1\r\nHost: x\r\nContent-Type: "
                + ENVELOPE_TYPE.encode()
                + b"\r\nContent-Length: 100\r\n\r\n0123456789"
            )
            answer = b""
            while b"\r\n\r\n" not in answer or not answer.rstrip().endswith(b"}"):
                chunk = conn.recv(4096)
                if not chunk:
                    break
                answer += chunk
        head, _, body = answer.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 408"), answer
        assert json.loads(body)["code"] == "RequestTimeout"
        assert httpx.get(f"{server.url}/healthz").json()["log_size"] == 0


# --- read path -----------------------------------------------------------------------------


def _metric(s: Served, name: str, **labels: str) -> float:
    total = 0.0
    for line in s.http.get("/metrics").text.splitlines():
        if line.startswith(name) and all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_reads_proofs_checkpoint_and_views(served: Served) -> None:
    s = served
    sc = s.scenario
    stream = sheet_stream("gubernur-33", TPS)
    count = sc.count(s.keys["kpps"], "gubernur-33", TPS, tally((70, 30)))
    assert s.post(count).status_code == 201
    leaf = s.http.get(f"/v1/events/{count.hash.hex()}").json()["leaf_index"]

    proof = s.http.get("/v1/proofs/inclusion", params={"event": count.hash.hex()})
    assert proof.status_code == 200, proof.text
    verified = InclusionProof.from_json(proof.text).verify(s.log)
    assert verified.hash == count.hash
    by_leaf = InclusionProof.from_json(
        s.http.get("/v1/proofs/inclusion", params={"leaf": leaf}).text
    )
    assert by_leaf.leaf_index == leaf

    note = s.http.get("/checkpoint")
    assert note.headers["cache-control"].startswith("public, max-age=")
    checkpoint = open_checkpoint(note.content, s.log)
    assert checkpoint.size >= leaf + 1
    old = InclusionProof.from_json(proof.text)
    old_size = open_checkpoint(old.checkpoint, s.log).size
    consistency = s.http.get("/v1/proofs/consistency", params={"old": old_size})
    assert consistency.status_code == 200, consistency.text
    ConsistencyProof.from_json(consistency.text).verify(s.log)
    _problem(s.http.get("/v1/proofs/consistency", params={"old": 10**9}), 404, "UnknownEventError")
    _problem(s.http.get(f"/v1/events/{'ab' * 32}"), 404, "UnknownEventError")

    totals = s.http.get("/v1/totals", params={"contest": "gubernur-33", "level": "kabkota"}).json()
    assert totals["totals"]["gubernur-33"][0]["votes"] == {"1": 70, "2": 30}
    sheets = s.http.get("/v1/sheets", params={"contest": "gubernur-33"}).json()["sheets"]
    assert [r["tps"] for r in sheets if r["counted"]] == [TPS]
    trail = s.http.get("/v1/trail", params={"stream": stream}).json()["events"]
    assert [(r["kind"], r["hash"]) for r in trail] == [("count", count.hash.hex())]
    findings = s.http.get("/v1/findings").json()
    assert isinstance(findings["findings"], list) and findings["position"] >= leaf + 1
    assert s.http.get("/v1/recaps", params={"contest": BUPATI}).json()["recaps"] == []
    _problem(s.http.get("/v1/trail", params={"stream": "sheet:none"}), 404, "UnknownEventError")
    _problem(
        s.http.get("/v1/totals", params={"contest": "walikota-99.99"}), 404, "UnknownEventError"
    )
    _problem(s.http.get("/v1/trail"), 400, "InvalidRequest")

    # The log as tlog-tiles serves it: the root recomputed from the served tiles is the
    # checkpoint's, and the entry bundle holds the envelopes in leaf order.
    class HttpTiles:
        def read_tile(self, level: int, index: int, width: int) -> bytes:
            response = s.http.get("/" + tiles.tile_path(level, index, width))
            assert response.status_code == 200, response.text
            return response.content

        def read_entries(self, index: int, width: int) -> bytes:
            return s.http.get("/" + tiles.entries_path(index, width)).content

    assert tiles.root(checkpoint.size, HttpTiles()) == checkpoint.root_hash
    width = checkpoint.size % tiles.TILE_WIDTH
    bundle = s.http.get("/" + tiles.entries_path(0, width))
    assert bundle.headers["cache-control"] == "public, max-age=60"
    entries = tiles.decode_entry_bundle(bundle.content)
    assert Envelope.parse(entries[leaf]).hash == count.hash
    _problem(s.http.get("/" + tiles.tile_path(0, 0, width + 1)), 404, "UnknownEventError")
    _problem(s.http.get("/" + tiles.tile_path(0, 1)), 404, "UnknownEventError")
    _problem(s.http.get("/tile/0/x0/001"), 400, "FormatError")

    trust = s.http.get("/v1/trust")
    assert trust.content == (s.server.directory / "trust.json").read_bytes()
    open_note(note.content, [s.log])
    health = s.http.get("/healthz").json()
    assert health == {"status": "ok", "log_size": s.size()}
    assert _metric(s, "ledger_log_size") == s.size()
    assert _metric(s, "ledger_submissions_accepted_total", duplicate="false") >= 1
    assert _metric(s, "ledger_submit_seconds_count", endpoint="envelopes") >= 1
    assert _metric(s, "ledger_group_commit_envelopes_count") >= 1
    paths = s.http.get("/openapi.json").json()["paths"]
    assert {"/v1/envelopes", "/v1/batches", "/checkpoint", "/healthz", "/metrics"} <= set(paths)


# --- processes and the store ---------------------------------------------------------------


def test_sqlite_is_served_by_one_process(tmp_path: Path) -> None:
    home = make_home(tmp_path / "ledger", Scenario())
    result = subprocess.run(
        [LEDGER, "serve", str(home), "--listen", "127.0.0.1:1", "--workers", "2"],
        env=server_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr == (
        "ledger: error: a SQLite ledger is served by one process: use --workers 1, "
        "or a PostgreSQL ledger for more\n"
    )


@pytest.mark.postgres
def test_several_workers_on_postgres_and_503_while_the_store_is_down(
    tmp_path: Path, postgres_url: str
) -> None:
    base, _, schema = postgres_url.partition("?schema=")
    target = httpx.URL(base.replace("postgresql://", "http://"))
    proxy = TcpProxy((target.host, target.port or 5432))
    proxy.up()
    proxied = f"postgresql://{target.userinfo.decode()}@127.0.0.1:{proxy.port}{target.path}?schema={schema}"
    scenario = Scenario()
    home = make_home(tmp_path / "ledger", scenario, proxied)
    envelopes, keys = world_statements(scenario)
    env = server_env(POSTGRES_CONNECT_TIMEOUT="1")
    try:
        with (
            Server(home, workers=2, env=env) as server,
            httpx.Client(base_url=server.url, timeout=30) as http,
        ):
            with ThreadPoolExecutor(8) as pool:
                answers = list(
                    pool.map(
                        lambda e: http.post(
                            "/v1/envelopes", content=e.raw, headers={"Content-Type": ENVELOPE_TYPE}
                        ),
                        envelopes[:3],
                    )
                )
            # Concurrent submissions of one chain may race ahead of their parents: each
            # is accepted or refused on its own, and a resubmission in order completes them.
            assert all(a.status_code in (201, 403, 409) for a in answers), answers
            for e in envelopes:
                a = http.post(
                    "/v1/envelopes", content=e.raw, headers={"Content-Type": ENVELOPE_TYPE}
                )
                assert a.status_code in (200, 201), a.text
            assert http.get("/healthz").json()["log_size"] == len(envelopes)

            proxy.down()
            count = scenario.count(keys["kpps"], BUPATI, TPS, tally())
            refused = http.post(
                "/v1/envelopes", content=count.raw, headers={"Content-Type": ENVELOPE_TYPE}
            )
            doc = _problem(refused, 503, "StoreUnavailable")
            assert refused.headers["retry-after"] == str(problems.RETRY_AFTER_S)
            assert "Traceback" not in doc.get("detail", "")
            _problem(http.get("/healthz"), 503, "StoreUnavailable")

            proxy.up()
            deadline = time.monotonic() + 30
            while True:
                again = http.post(
                    "/v1/envelopes", content=count.raw, headers={"Content-Type": ENVELOPE_TYPE}
                )
                if again.status_code != 503 or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            assert again.status_code in (200, 201), again.text
            assert again.json()["leaf_index"] == len(envelopes)
    finally:
        proxy.down()


def test_problem_documents_for_server_failures_disclose_nothing() -> None:
    status, doc, headers = problems.problem_for(RuntimeError("secret /etc/passwd detail"))
    assert (status, doc["code"], headers) == (500, "ServerFailure", {})
    assert "detail" not in doc and "secret" not in json.dumps(doc)


def test_every_ledger_error_class_has_one_status() -> None:
    from ledger import errors

    classes = [
        c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, LedgerError)
    ]
    assert set(classes) == set(problems.STATUS)
    for cls in classes:
        status, doc, _ = problems.problem_for(cls("one line"))
        assert doc["code"] == cls.__name__ and doc["detail"] == "one line"
        assert status == problems.STATUS.get(cls, problems.STATUS[LedgerError])


# --- the field client: ledger ... --server, and its outbox ------------------------------------


def test_field_client_keeps_retries_and_receipts_through_its_outbox(tmp_path: Path) -> None:
    from keys import KeyDir, save_private_key

    scenario = Scenario()
    home = make_home(tmp_path / "ledger", scenario)
    envelopes, keys = world_statements(scenario)
    device = tmp_path / "device"
    device.mkdir()
    save_private_key(KeyDir(device).private_path("kpps"), keys["kpps"], PASSPHRASE.encode())
    (tmp_path / "c-hasil.json").write_text(json.dumps(form(tally((120, 60)))))
    server = Server(home)
    env = server_env()

    def ledger(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [LEDGER, *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert (result.returncode == 0) == ok, result.stdout + result.stderr
        return result

    count_args = ["count", "--server", server.url, "-k", "device/kpps.key", "--contest", BUPATI]
    with server:
        with httpx.Client(base_url=server.url) as http:
            body = encode_batch([e.raw for e in envelopes])
            assert (
                http.post(
                    "/v1/batches", content=body, headers={"Content-Type": BATCH_TYPE}
                ).status_code
                == 200
            )
        first = ledger(
            *count_args, "--tps", TPS, "--time", "1732700000", "--receipt", "r.txt", "c-hasil.json"
        )
        assert first.stdout.splitlines()[0] == f"accepted: {sheet_stream(BUPATI, TPS)} seq 1"
        receipt = Receipt.open((tmp_path / "r.txt").read_bytes(), scenario.log_signer.verifier)
        assert f"leaf index {receipt.leaf_index}" in first.stdout
        # A refusal is final, with the ledger's own message, as the local CLI gives it.
        refused = ledger(*count_args, "--tps", TPS2, "c-hasil.json", ok=False)
        assert (
            refused.stderr.startswith("ledger: error: ") and "may not count TPS" in refused.stderr
        )
        assert refused.stderr.count("\n") == 1
    # The server is gone: a statement signed elsewhere is kept, and stays pending.
    count2 = scenario.count(keys["kpps2"], BUPATI, TPS2, tally((1, 2)))
    (tmp_path / "count2.bin").write_bytes(count2.raw)
    outbox = str(device / "outbox")
    down = ledger(
        "submit",
        "--server",
        server.url,
        "--outbox",
        outbox,
        "--retry-for",
        "1",
        "count2.bin",
        ok=False,
    )
    assert "no answer after 1 s" in down.stderr
    listing = ledger("outbox", "--outbox", outbox).stdout
    assert listing.splitlines()[0] == "1 pending, 1 receipted (0 with a tlog-proof), 1 refused"
    with Server(home, port=server.port):
        sent = ledger("outbox", "--outbox", outbox, "--server", server.url).stdout
        assert f"sent pending: {sheet_stream(BUPATI, TPS2)} seq 1" in sent
        # Without a trust policy a tlog-proof is the log's own word, kept once a
        # checkpoint holds the leaf: --wait until both have one.
        sent = ledger("outbox", "--outbox", outbox, "--server", server.url, "--wait", "60").stdout
        assert "0 pending, 2 receipted (2 with a tlog-proof), 1 refused" in sent
        again = ledger("submit", "--server", server.url, "--outbox", outbox, "count2.bin").stdout
        assert again.splitlines()[0] == f"already in the ledger: {sheet_stream(BUPATI, TPS2)} seq 1"
