"""The ``ledger`` command, driven in-process through ``ledger.cli.main``.

One full journey (keys -> ledger -> statements -> checkpoints -> proofs ->
receipts -> witness) on SQLite and once on PostgreSQL, then the error contract:
a user error is exactly one ``ledger: error:`` line on stderr, exit code 1, no
traceback and nothing written; a usage error is argparse's exit code 2.
"""

from __future__ import annotations

import io
import json
import re
import shutil
from contextlib import redirect_stderr, redirect_stdout, suppress
from pathlib import Path
from typing import Any

import pytest

from keys import load_private_key
from ledger.cli import main
from ledger.format.note import Checkpoint, NoteSigner, Verifier, parse_note
from ledger.format.policy import parse_policy, policy_text
from ledger.format.regions import sheet_stream
from ledger.format.signing import Chainer, attest_body
from ledger.format.trust import policy_from_json
from ledger.log.proofs import ConsistencyProof, InclusionProof, Receipt
from ledger.log.witness import verify_cosigned
from tests.cli_support import toml_document
from tests.world import form, tally

PASSPHRASE = "correct horse battery staple"
ELECTION = "pilkada2024"
ORIGIN = "ledger.example/pilkada2024"
CONTEST = "bupati-33.16"
TPS = "33.16.09.2001/001"
TPS2 = "33.16.09.2001/002"
SHEET = sheet_stream(CONTEST, TPS)
SHEET2 = sheet_stream(CONTEST, TPS2)
T = 1_732_683_600
HEX64 = re.compile(r"[0-9a-f]{64}")


class Cli:
    """Runs ``ledger`` commands in ``root`` and checks the output contract."""

    def __init__(self, root: Path, capsys: pytest.CaptureFixture[str] | None) -> None:
        self.root = root
        self.capsys = capsys
        self.ledger = str(root / "ledger")

    def path(self, name: str) -> str:
        return str(self.root / name)

    def run(self, *argv: str) -> tuple[int, str, str]:
        if self.capsys is None:  # outside a test (a module fixture): text output only
            out, err = io.StringIO(), io.StringIO()
            with redirect_stdout(out), redirect_stderr(err):
                code = main(list(argv))
            return code, out.getvalue(), err.getvalue()
        capsys = self.capsys
        capsys.readouterr()
        code = main(list(argv))
        out_text, err_text = capsys.readouterr()
        return code, out_text, err_text

    def ok(self, *argv: str) -> str:
        code, out, err = self.run(*argv)
        assert (code, err) == (0, ""), f"ledger {' '.join(argv)} failed: {err}"
        return out

    def fails(self, *argv: str, match: str) -> str:
        """A user error: one stderr line, exit code 1, no traceback."""
        code, _, err = self.run(*argv)
        assert code == 1, f"exit code {code}, stderr {err!r}"
        assert err.endswith("\n") and err.count("\n") == 1, f"not one line: {err!r}"
        assert err.startswith("ledger: error: "), err
        assert "Traceback" not in err
        assert re.search(match, err), f"{match!r} not in {err!r}"
        return err

    def usage_error(self, *argv: str) -> str:
        assert self.capsys is not None
        self.capsys.readouterr()
        with pytest.raises(SystemExit) as info:
            main(list(argv))
        assert info.value.code == 2
        err = self.capsys.readouterr().err
        assert err.startswith("usage: ledger") and "Traceback" not in err
        return err

    def write(self, name: str, content: str | bytes) -> str:
        path = self.root / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
        return str(path)

    def key(self, name: str) -> str:
        return self.path(f"keys/{name}.key")

    def pub(self, name: str) -> str:
        return self.path(f"keys/{name}.pub")

    def head(self, stream: str) -> tuple[int, str]:
        out = self.ok("head", "-L", self.ledger, stream)
        match = re.fullmatch(rf"{re.escape(stream)} seq (\d+) head ([0-9a-f]{{64}})\n", out)
        assert match, out
        return int(match[1]), match[2]

    def show(self, stream: str) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = json.loads(
            self.ok("show", "-L", self.ledger, "--json", stream)
        )
        return events


ROLES = ("kpu", "bawaslu", "kab", "kpps", "kpps2", "ppk", "ptps", "paslon1", "saksi1")


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    for name in ("LEDGER_LOG_PASSPHRASE", "LEDGER_DATABASE", "LEDGER_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    return Cli(tmp_path, capsys)


def generate_keys(cli: Cli) -> dict[str, str]:
    """``keys generate`` for every role; returns each public key's hex."""
    publics = {}
    for name in ROLES:
        out = cli.ok("keys", "generate", name, "--dir", cli.path("keys"))
        match = re.fullmatch(
            rf"{name}: key id ([0-9a-f]{{64}})\npublic key \(hex\) ([0-9a-f]{{64}})\n", out
        )
        assert match, out
        publics[name] = match[2]
        shown = cli.ok("keys", "show", cli.pub(name))
        assert f"key id     {match[1]}\n" in shown and f"public key {match[2]}\n" in shown
    return publics


def create_ledger(cli: Cli, publics: dict[str, str], database: str | None = None) -> str:
    """``create`` (KPU root as a PEM file, Bawaslu root as hex); returns the log vkey."""
    argv = [
        "create", cli.ledger, "--election", ELECTION, "--origin", ORIGIN,
        "--kpu-root", cli.pub("kpu"), "--bawaslu-root", publics["bawaslu"],
    ]  # fmt: skip
    if database is not None:
        argv += ["--database", database]
    out = cli.ok(*argv)
    match = re.search(r"log verifier key: (\S+)\n", out)
    assert match and out.startswith(f"created ledger {cli.ledger} for election {ELECTION}\n")
    trust = json.loads(Path(cli.ledger, "trust.json").read_text())
    assert trust["log_vkey"] == match[1] and trust["origin"] == ORIGIN
    return match[1]


def define_and_grant(cli: Cli, publics: dict[str, str]) -> None:
    at = ("-L", cli.ledger, "--time", str(T))
    out = cli.ok("define-election", *at, "-k", cli.key("kpu"), "--name", "Pilkada Serentak 2024")
    assert out.startswith("accepted: election seq 1\n")
    out = cli.ok(
        "define-contest", *at, "-k", cli.key("kpu"), "--office", "bupati", "--region", "33.16",
        "--name", "Bupati Blora", "--pair", "Arief - Sri", "--pair", "Abu - Andika",
    )  # fmt: skip
    assert out.startswith("accepted: election seq 2\n")
    grants = [
        ("kpu", "kab", "kpu-kab", "33.16", ()),
        ("kab", "kpps", "kpps", TPS, ()),
        ("kab", "kpps2", "kpps", TPS2, ()),
        ("kab", "ppk", "ppk", "33.16.09", ()),
        ("bawaslu", "ptps", "ptps", TPS, ()),
        ("kpu", "paslon1", "paslon", "33.16", ("--contest", CONTEST, "--pair", "1")),
        ("paslon1", "saksi1", "saksi", TPS, ("--contest", CONTEST, "--pair", "1")),
    ]
    for granter, subject, role, scope, extra in grants:
        out = cli.ok(
            "grant", *at, "-k", cli.key(granter), "--subject", cli.pub(subject),
            "--role", role, "--scope", scope, "--label", f"{role} {scope}", *extra,
        )  # fmt: skip
        assert re.match(r"accepted: key:[0-9a-f]{64} seq 1\n", out), out


def journey(cli: Cli, database: str | None = None) -> None:
    publics = generate_keys(cli)
    vkey = create_ledger(cli, publics, database)
    trust = str(Path(cli.ledger, "trust.json"))
    define_and_grant(cli, publics)
    at = ("-L", cli.ledger, "--time", str(T))
    sheet = ("--contest", CONTEST, "--tps", TPS)

    # Counts: from a JSON file (with a receipt) and from a TOML file.
    out = cli.ok(
        "count", *at, "-k", cli.key("kpps"), *sheet, "--receipt", cli.path("r1.note"),
        cli.write("c1.json", json.dumps(form(tally()))),
    )  # fmt: skip
    assert out.startswith(f"accepted: {SHEET} seq 1\n")
    count_hash = re.search(r"event hash ([0-9a-f]{64})\n", out)[1]  # type: ignore[index]
    count_leaf = int(re.search(r"leaf index (\d+)\n", out)[1])  # type: ignore[index]
    toml = cli.write("c2.toml", toml_document(form(tally((90, 70), invalid=3))))
    out = cli.ok("count", *at, "-k", cli.key("kpps2"), "--contest", CONTEST, "--tps", TPS2, toml)
    assert out.startswith(f"accepted: {SHEET2} seq 1\n")
    assert cli.show(SHEET2)[0]["body"]["tally"] == form(tally((90, 70), invalid=3))

    # Attestations (agree, object) and a correction.
    out = cli.ok("attest", *at, "-k", cli.key("saksi1"), *sheet)
    assert out.startswith(f"accepted: {SHEET} seq 2\n")
    out = cli.ok(
        "attest", *at, "-k", cli.key("ptps"), *sheet, "--event", count_hash,
        "--object", "C.Hasil photo shows 58 for pair 2",
    )  # fmt: skip
    assert out.startswith(f"accepted: {SHEET} seq 3\n")
    fixed = cli.write("fixed.json", json.dumps(form(tally((120, 58), invalid=7))))
    out = cli.ok("correct", *at, "-k", cli.key("ppk"), *sheet, "--reason", "recount at PPK", fixed)
    assert out.startswith(f"accepted: {SHEET} seq 4\n")

    # show (table and JSON) and head agree.
    events = cli.show(SHEET)
    assert [(e["seq"], e["kind"]) for e in events] == [
        (1, "count"), (2, "attest"), (3, "attest"), (4, "correct"),
    ]  # fmt: skip
    assert events[0]["hash"] == count_hash and events[0]["body"]["tally"] == form(tally())
    assert events[2]["body"] == {
        "event": count_hash, "verdict": "object", "reason": "C.Hasil photo shows 58 for pair 2",
    }  # fmt: skip
    assert events[3]["body"]["corrects"] == count_hash and events[1]["prev"] == count_hash
    assert all(e["time"] == T for e in events)
    table = cli.ok("show", "-L", cli.ledger, SHEET).splitlines()
    assert table[0].split() == ["seq", "kind", "hash", "signer", "time"]
    assert [row.split()[:3] for row in table[1:]] == [
        [str(e["seq"]), e["kind"], e["hash"][:16]] for e in events
    ]
    assert cli.head(SHEET) == (4, events[3]["hash"])
    assert cli.head(sheet_stream(CONTEST, "33.16.09.2001/003")) == (0, "0" * 64)

    # The receipt of the first count.
    out = cli.ok("receipt", "verify", cli.path("r1.note"), "--log", trust)
    assert out == (
        f"OK: {ORIGIN} took event {count_hash} at leaf {count_leaf} "
        "(the log's own word; no witness vouches for a receipt)\n"
    )
    receipt = Receipt.open(Path(cli.path("r1.note")).read_bytes(), Verifier.parse(vkey))
    assert (receipt.leaf_index, receipt.event_hash.hex()) == (count_leaf, count_hash)

    # Checkpoint 1; the witness cosigns it; the ledger stores the cosignature.
    cli.ok("checkpoint", "issue", "-L", cli.ledger, "-o", cli.path("cp1.note"))
    cp1 = Path(cli.path("cp1.note")).read_bytes()
    size1 = Checkpoint.parse(parse_note(cp1).text).size
    assert size1 == 14  # 2 definitions, 7 grants, 2 counts, 2 attestations, 1 correction
    assert cli.ok("checkpoint", "show", "-L", cli.ledger) == cp1.decode()
    out = cli.ok("witness", "init", cli.path("witness"), "--name", "bawaslu.example/witness")
    wkey = re.fullmatch(r"witness verifier key: (\S+)\n", out)[1]  # type: ignore[index]
    # The trust policy that needs this witness (the ledger was created without one).
    policy = cli.write("policy.txt", policy_text(vkey, [wkey]))
    cli.ok(
        "witness", "cosign", cli.path("witness"), cli.path("cp1.note"), "--log", trust,
        "-o", cli.path("cp1.cosigned"), "--time", str(T + 60),
    )  # fmt: skip
    cli.fails(
        "checkpoint", "add-cosignature", "-L", cli.ledger, cli.path("cp1.cosigned"),
        match="embeds no trust policy",
    )  # fmt: skip
    out = cli.ok(
        "checkpoint", "add-cosignature", "-L", cli.ledger, cli.path("cp1.cosigned"),
        "--policy", policy,
    )  # fmt: skip
    assert out == f"stored cosigned checkpoint of size {size1} (2 signatures)\n"

    # Inclusion proofs, by stream position and by leaf index, verified offline.
    by_stream = cli.ok("proof", "inclusion", "-L", cli.ledger, "--stream", SHEET, "--seq", "1")
    by_leaf = cli.ok("proof", "inclusion", "-L", cli.ledger, "--leaf", str(count_leaf))
    assert json.loads(by_stream) == json.loads(by_leaf)
    assert json.loads(by_leaf)["leaf_index"] == count_leaf
    inclusion = cli.write("inclusion.json", by_stream)
    out = cli.ok("proof", "verify", inclusion, "--log", trust, "--policy", policy)
    assert out.splitlines() == [
        f"OK: event {count_hash} ({SHEET} seq 1) is leaf {count_leaf} of the checkpointed log; "
        f"checkpoint {size1} witnessed by bawaslu.example/witness",
    ]
    cli.fails("proof", "verify", inclusion, "--log", trust, match="no trust policy")
    InclusionProof.from_json(by_stream).verify(Verifier.parse(vkey))

    # More statements, checkpoint 2, a consistency proof; the witness cosigns cp2 with it.
    cli.ok("attest", *at, "-k", cli.key("saksi1"), *sheet)
    cli.ok("attest", *at, "-k", cli.key("ptps"), "--contest", CONTEST, "--tps", TPS)
    cli.ok("checkpoint", "issue", "-L", cli.ledger, "-o", cli.path("cp2.note"))
    consistency = cli.write(
        "consistency.json", cli.ok("proof", "consistency", "-L", cli.ledger, "--old", str(size1))
    )
    cli.fails("proof", "verify", consistency, "--log", vkey, match="no trust policy")
    cli.fails(
        "proof", "verify", consistency, "--log", vkey, "--policy", policy,
        match=f"checkpoint {size1 + 2} is not witnessed",
    )  # fmt: skip
    out = cli.ok(
        "proof", "verify", consistency, "--log", vkey, "--policy", policy,
        "--accept-unwitnessed-tail",
    )  # fmt: skip
    assert out.startswith(
        f"OK as the log's own word: the log of {size1 + 2} leaves extends the log of {size1} "
        f"leaves; checkpoint {size1 + 2} is not witnessed"
    )
    cli.ok(
        "witness", "cosign", cli.path("witness"), cli.path("cp2.note"), "--log", trust,
        "--proof", consistency, "-o", cli.path("cp2.cosigned"), "--time", str(T + 120),
    )  # fmt: skip
    cli.ok(
        "checkpoint", "add-cosignature", "-L", cli.ledger, cli.path("cp2.cosigned"),
        "--policy", policy,
    )  # fmt: skip
    cosigned = cli.ok("checkpoint", "show", "-L", cli.ledger, "--size", str(size1 + 2)).encode()
    assert verify_cosigned(cosigned, Verifier.parse(vkey), [Verifier.parse(wkey)]).size == size1 + 2
    both = cli.write(
        "consistency2.json",
        cli.ok(
            "proof", "consistency", "-L", cli.ledger, "--old", str(size1), "--new", str(size1 + 2)
        ),
    )
    out = cli.ok("proof", "verify", both, "--log", trust, "--policy", policy)
    assert out.splitlines() == [
        f"OK: the log of {size1 + 2} leaves extends the log of {size1} leaves; "
        f"checkpoint {size1 + 2} witnessed by bawaslu.example/witness",
    ]
    proof = ConsistencyProof.from_json(Path(both).read_bytes())
    assert parse_note(proof.new).text == parse_note(Path(cli.path("cp2.note")).read_bytes()).text

    # The witness will not go back: cp1 again is refused (cp1 is smaller).
    cli.fails(
        "witness", "cosign", cli.path("witness"), cli.path("cp1.note"), "--log", trust,
        "-o", cli.path("cp1.again"), match="smaller than the last witnessed size",
    )  # fmt: skip


def test_the_full_journey_on_sqlite(cli: Cli) -> None:
    journey(cli)
    config = Path(cli.ledger, "ledger.toml").read_text()
    assert 'database = "sqlite:ledger.db"' in config
    assert Path(cli.ledger, "ledger.db").is_file()


@pytest.mark.postgres
def test_the_full_journey_on_postgres(cli: Cli, postgres_url: str) -> None:
    journey(cli, postgres_url)
    assert postgres_url in Path(cli.ledger, "ledger.toml").read_text()
    assert not Path(cli.ledger, "ledger.db").exists()


# --- errors -----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ready_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Built once: a ledger with the election, its contest, the grants and one count."""
    root = tmp_path_factory.mktemp("ready")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
        for name in ("LEDGER_LOG_PASSPHRASE", "LEDGER_DATABASE", "LEDGER_DIR"):
            mp.delenv(name, raising=False)
        cli = Cli(root, None)
        publics = generate_keys(cli)
        create_ledger(cli, publics)
        define_and_grant(cli, publics)
        cli.ok(
            "count", "-L", cli.ledger, "-k", cli.key("kpps"), "--contest", CONTEST, "--tps", TPS,
            cli.write("good.json", json.dumps(form(tally()))),
        )  # fmt: skip
    return root


@pytest.fixture
def ready(cli: Cli, ready_template: Path) -> Cli:
    """A fresh copy of the ready-made ledger directory (keys included) for one test."""
    shutil.copytree(ready_template, cli.root, dirs_exist_ok=True)
    return cli


def count_args(cli: Cli, *extra: str, tps: str = TPS, key: str = "kpps") -> list[str]:
    return [
        "count",
        "-L",
        cli.ledger,
        "-k",
        cli.key(key),
        "--contest",
        CONTEST,
        "--tps",
        tps,
        *extra,
    ]


@pytest.mark.parametrize(
    ("setup", "match"),
    [
        pytest.param(
            lambda c: c.write("bad.json", "{not json"),
            r"bad\.json is not valid JSON",
            id="bad-json",
        ),
        pytest.param(
            lambda c: c.write("bad.toml", "votes = = 1"),
            r"bad\.toml is not valid TOML",
            id="bad-toml",
        ),
        pytest.param(
            lambda c: c.write("list.json", "[1, 2]"),
            "must hold a table/object",
            id="json-not-an-object",
        ),
        pytest.param(
            lambda c: c.path("missing.json"), r"cannot read .*missing\.json", id="missing-file"
        ),
        pytest.param(
            lambda c: c.write("schema.json", json.dumps(form(tally(invalid=-1)))),
            "count.tally.invalid must be a non-negative integer",
            id="schema",
        ),
    ],
)
def test_a_count_from_a_bad_file_is_one_error_line_and_writes_nothing(
    ready: Cli, setup: Any, match: str
) -> None:
    before = ready.head(SHEET)
    ready.fails(*count_args(ready, setup(ready)), match=match)
    assert ready.head(SHEET) == before


def test_a_wrong_passphrase_is_one_error_line(ready: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    before = ready.head(SHEET)
    monkeypatch.setenv("LEDGER_PASSPHRASE", "not the passphrase")
    ready.fails(
        *count_args(ready, ready.path("good.json")),
        match="cannot decrypt key file .*kpps.key: wrong passphrase",
    )
    ready.fails(
        "checkpoint", "issue", "-L", ready.ledger, match="cannot decrypt key file .*log.key"
    )
    monkeypatch.setenv("LEDGER_PASSPHRASE", "")
    ready.fails(*count_args(ready, ready.path("good.json")), match="no passphrase")
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    assert ready.head(SHEET) == before
    ready.fails("checkpoint", "show", "-L", ready.ledger, match="no checkpoint yet")


def test_an_out_of_scope_count_is_one_error_line_and_writes_nothing(ready: Cli) -> None:
    before = ready.head(SHEET2)
    ready.fails(
        *count_args(ready, ready.path("good.json"), tps=TPS2),
        match=f"may not count TPS {re.escape(TPS2)}",
    )
    assert ready.head(SHEET2) == before == (0, "0" * 64)
    ready.fails(
        *count_args(ready, ready.path("good.json"), key="ptps"), match="may not sign a count"
    )
    assert ready.head(SHEET)[0] == 1


def test_a_stale_seq_is_one_error_line(ready: Cli) -> None:
    """An envelope signed elsewhere against an old head (``submit``): StaleHeadError."""
    seq, head = ready.head(SHEET)
    key = load_private_key(ready.key("saksi1"), PASSPHRASE.encode())
    chain = Chainer(ELECTION)
    chain.follow(SHEET, seq, bytes.fromhex(head))
    first = chain.sign(key, SHEET, "attest", attest_body(bytes.fromhex(head)), time=T)
    chain.follow(SHEET, seq, bytes.fromhex(head))  # the same head again: a stale signer
    stale = chain.sign(
        key, SHEET, "attest", attest_body(bytes.fromhex(head), "object", "x"), time=T
    )
    out = ready.ok("submit", "-L", ready.ledger, ready.write("first.env", first.raw))
    assert out.startswith(f"accepted: {SHEET} seq 2\n")
    again = ready.ok("submit", "-L", ready.ledger, ready.write("first.env", first.raw))
    assert again.startswith(f"already in the ledger: {SHEET} seq 2\n")
    ready.fails(
        "submit", "-L", ready.ledger, ready.write("stale.env", stale.raw),
        match="is at seq 2, statement is for seq 2",
    )  # fmt: skip
    ready.fails("submit", "-L", ready.ledger, ready.write("junk.env", b"\x00junk"), match="msgpack")
    assert ready.head(SHEET) == (2, first.hash.hex())


@pytest.mark.parametrize(
    ("argv", "match"),
    [
        pytest.param(
            lambda c: ["show", "-L", c.ledger, "sheet:bupati-33.16:33.16.09.2001/009"],
            "has no events",
            id="show-unknown-stream",
        ),
        pytest.param(
            lambda c: ["show", "-L", c.ledger, "--json", "no-such-stream"],
            "no-such-stream",
            id="show-unknown-stream-json",
        ),
        pytest.param(
            lambda c: ["head", "-L", c.path("nowhere"), SHEET],
            "is not a ledger directory",
            id="no-ledger-directory",
        ),
        pytest.param(
            lambda c: ["show", "-L", c.path("keys"), SHEET],
            "is not a ledger directory",
            id="not-a-ledger-directory",
        ),
        pytest.param(
            lambda c: [
                "attest",
                "-L",
                c.ledger,
                "-k",
                c.key("saksi1"),
                "--contest",
                CONTEST,
                "--tps",
                TPS,
                "--event",
                "zz",
            ],
            "'zz' is not an event hash",
            id="bad-hash-argument",
        ),
        pytest.param(
            lambda c: [
                "attest",
                "-L",
                c.ledger,
                "-k",
                c.key("saksi1"),
                "--contest",
                CONTEST,
                "--tps",
                TPS,
                "--event",
                "ab" * 31,
            ],
            "is not an event hash",
            id="short-hash-argument",
        ),
        pytest.param(
            lambda c: [
                "attest",
                "-L",
                c.ledger,
                "-k",
                c.key("saksi1"),
                "--contest",
                CONTEST,
                "--tps",
                TPS,
                "--event",
                "ab" * 32,
            ],
            "not a count or correction",
            id="unknown-event",
        ),
        pytest.param(
            lambda c: [
                "attest",
                "-L",
                c.ledger,
                "-k",
                c.key("ptps"),
                "--contest",
                CONTEST,
                "--tps",
                TPS2,
            ],
            "has no count yet",
            id="attest-before-count",
        ),
        pytest.param(
            lambda c: [
                "correct",
                "-L",
                c.ledger,
                "-k",
                c.key("kpps"),
                "--contest",
                CONTEST,
                "--tps",
                TPS,
                "--reason",
                "x",
                c.path("good.json"),
            ],
            "may not correct a sheet",
            id="unauthorized-correct",
        ),
        pytest.param(
            lambda c: [
                "count",
                "-L",
                c.ledger,
                "-k",
                c.path("keys/nobody.key"),
                "--contest",
                CONTEST,
                "--tps",
                TPS,
                c.path("good.json"),
            ],
            "does not exist",
            id="missing-key-file",
        ),
        pytest.param(
            lambda c: ["proof", "inclusion", "-L", c.ledger, "--leaf", "0"],
            "no checkpoint yet",
            id="proof-before-checkpoint",
        ),
        pytest.param(
            lambda c: ["proof", "inclusion", "-L", c.ledger, "--stream", SHEET],
            "--stream needs --seq",
            id="stream-without-seq",
        ),
        pytest.param(
            lambda c: [
                "proof",
                "verify",
                c.path("good.json"),
                "--log",
                c.path("ledger/trust.json"),
            ],
            "not a consistency proof",
            id="verify-not-a-proof",
        ),
        pytest.param(
            lambda c: [
                "proof",
                "verify",
                c.path("missing.json"),
                "--log",
                c.path("ledger/trust.json"),
            ],
            r"cannot read .*missing\.json",
            id="verify-missing-file",
        ),
        pytest.param(
            lambda c: ["proof", "verify", c.path("good.json"), "--log", "x"],
            "verifier key",
            id="verify-bad-vkey",
        ),
        pytest.param(
            lambda c: ["receipt", "verify", c.path("good.json"), "--log", "not a vkey"],
            "verifier key",
            id="receipt-bad-vkey",
        ),
        pytest.param(
            lambda c: [
                "receipt",
                "verify",
                c.path("good.json"),
                "--log",
                c.path("ledger/trust.json"),
            ],
            "malformed note",
            id="receipt-not-a-note",
        ),
        pytest.param(
            lambda c: ["keys", "generate", "kpu", "--dir", c.path("keys")],
            "already exists",
            id="key-exists",
        ),
        pytest.param(
            lambda c: ["keys", "show", c.path("keys/kpu.key")],
            "cannot parse public key file",
            id="keys-show-private",
        ),
        pytest.param(
            lambda c: [
                "create",
                c.ledger,
                "--election",
                ELECTION,
                "--origin",
                ORIGIN,
                "--kpu-root",
                c.pub("kpu"),
                "--bawaslu-root",
                c.pub("bawaslu"),
            ],
            "already holds a ledger",
            id="create-twice",
        ),
        pytest.param(
            lambda c: [
                "create",
                c.path("other"),
                "--election",
                ELECTION,
                "--origin",
                "bad origin",
                "--kpu-root",
                c.pub("kpu"),
                "--bawaslu-root",
                c.pub("bawaslu"),
            ],
            "not a valid C2SP key name",
            id="create-bad-origin",
        ),
        pytest.param(
            lambda c: [
                "witness",
                "cosign",
                c.path("nowitness"),
                c.path("good.json"),
                "--log",
                c.path("ledger/trust.json"),
            ],
            "is not a witness directory",
            id="witness-not-initialised",
        ),
    ],
)
def test_a_user_error_is_one_line_and_exit_code_1(ready: Cli, argv: Any, match: str) -> None:
    before = ready.head(SHEET)
    ready.fails(*argv(ready), match=match)
    assert ready.head(SHEET) == before


def test_a_tampered_proof_or_receipt_file_is_one_error_line(ready: Cli) -> None:
    trust = ready.path("ledger/trust.json")
    out = ready.ok(
        "count", "-L", ready.ledger, "-k", ready.key("kpps2"), "--contest", CONTEST,
        "--tps", TPS2, "--receipt", ready.path("r.note"), ready.path("good.json"),
    )  # fmt: skip
    assert "receipt    " in out
    ready.ok("checkpoint", "issue", "-L", ready.ledger, "-o", ready.path("cp.note"))
    doc = json.loads(
        ready.ok("proof", "inclusion", "-L", ready.ledger, "--stream", SHEET2, "--seq", "1")
    )
    doc["proof"][0] = "00" * 32
    ready.fails(
        "proof",
        "verify",
        ready.write("bad.json", json.dumps(doc)),
        "--log",
        trust,
        match="proof leads to root",
    )
    note = Path(ready.path("r.note")).read_text()
    lines = note.split("\n")
    lines[2] = str(int(lines[2]) + 1)
    ready.fails(
        "receipt",
        "verify",
        ready.write("bad.note", "\n".join(lines)),
        "--log",
        trust,
        match="invalid signature",
    )
    other = NoteSigner.generate(ORIGIN).verifier.vkey  # same name, another key
    ready.fails(
        "receipt", "verify", ready.path("r.note"), "--log", other, match="no verifiable signatures"
    )
    ready.fails(
        "proof", "verify", ready.path("bad.json"), "--log", other, match="no verifiable signatures"
    )
    renamed = ready.write(
        "renamed.json", Path(trust).read_text().replace(ORIGIN, "other.example/log")
    )
    ready.fails(
        "receipt", "verify", ready.path("r.note"), "--log", renamed, match="key ID does not match"
    )


@pytest.mark.parametrize(
    "argv",
    [
        pytest.param([], id="no-command"),
        pytest.param(["frobnicate"], id="unknown-command"),
        pytest.param(
            ["count", "-L", "x", "--contest", CONTEST, "--tps", TPS, "f.json"], id="missing-key"
        ),
        pytest.param(["count", "-L", "x", "-k", "k", "--tps", TPS, "f.json"], id="missing-contest"),
        pytest.param(
            ["attest", "-L", "x", "-k", "k", "--contest", CONTEST, "--tps", TPS, "--time", "noon"],
            id="bad-time",
        ),
        pytest.param(
            [
                "define-contest",
                "-k",
                "k",
                "--office",
                "president",
                "--region",
                "33",
                "--name",
                "n",
                "--pair",
                "a",
            ],
            id="bad-office",
        ),
        pytest.param(
            ["proof", "inclusion", "--leaf", "1", "--stream", SHEET], id="leaf-and-stream"
        ),
        pytest.param(["checkpoint"], id="no-action"),
        pytest.param(["keys", "generate"], id="missing-name"),
    ],
)
def test_a_usage_error_exits_2(cli: Cli, argv: list[str]) -> None:
    cli.usage_error(*argv)


def test_a_database_that_cannot_be_opened_is_one_error_line(cli: Cli) -> None:
    publics = generate_keys(cli)
    cli.fails(
        "create", cli.ledger, "--election", ELECTION, "--origin", ORIGIN,
        "--kpu-root", publics["kpu"], "--bawaslu-root", publics["bawaslu"],
        "--database", f"sqlite:{cli.path('no/such/dir/ledger.db')}",
        match="database",
    )  # fmt: skip


def test_a_locked_database_is_one_error_line_and_writes_nothing(
    ready: Cli, monkeypatch: pytest.MonkeyPatch
) -> None:
    import sqlite3

    from ledger.store import persistence

    monkeypatch.setattr(persistence, "SQLITE_LOCK_TIMEOUT_S", 1)
    tally_file = ready.write("c.json", json.dumps(form(tally())))
    count = count_args(ready, tally_file, tps=TPS2, key="kpps2")
    other = sqlite3.connect(Path(ready.ledger, "ledger.db"), isolation_level=None)
    try:
        other.execute("BEGIN EXCLUSIVE")  # another writer, holding the file
        ready.fails(*count, match="database failed: .*locked")
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert ready.head(SHEET2) == (0, "0" * 64)
    ready.ok(*count)  # the same command, once the other writer let go
    assert ready.head(SHEET2)[0] == 1


def test_a_failed_create_leaves_no_half_made_ledger(cli: Cli) -> None:
    publics = generate_keys(cli)
    # Whatever the failure reports, what matters here is what it leaves behind.
    with suppress(Exception):
        main([
            "create", cli.ledger, "--election", ELECTION, "--origin", ORIGIN,
            "--kpu-root", publics["kpu"], "--bawaslu-root", publics["bawaslu"],
            "--database", f"sqlite:{cli.path('no/such/dir/ledger.db')}",
        ])  # fmt: skip
    assert not Path(cli.ledger, "ledger.toml").exists()
    create_ledger(cli, publics)


def test_create_with_witnesses_embeds_a_policy_that_needs_them_all(cli: Cli) -> None:
    publics = generate_keys(cli)
    witnesses = [NoteSigner.generate(f"w{n}.example/w", 0x04).verifier.vkey for n in (1, 2)]
    base = [
        "create", cli.ledger, "--election", ELECTION, "--origin", ORIGIN,
        "--kpu-root", cli.pub("kpu"), "--bawaslu-root", publics["bawaslu"],
    ]  # fmt: skip
    log = NoteSigner.generate("log.example/l").verifier.vkey
    cli.fails(*base, "--witness", log, match="not a cosignature/v1 key")
    assert not Path(cli.ledger, "ledger.toml").exists()
    cli.ok(*base, "--witness", witnesses[0], "--witness", witnesses[1])
    trust = Path(cli.ledger, "trust.json").read_text()
    policy = parse_policy(policy_from_json(trust) or "")
    policy.require_log(json.loads(trust)["log_vkey"])
    assert [w.vkey for w in policy.witnesses.values()] == witnesses
    keys = [Verifier.parse(v) for v in witnesses]
    assert policy.meets(keys) and not policy.meets(keys[:1])
