"""No input, however malformed, ends in a traceback (issue 10, findings 3 and 5b).

Every CLI command that reads a file is run in-process (``ledger.cli.main``) on
mutations of real, valid files (tests/input_seeds.py) and on junk; every parser
of outside input is called directly on the same. The contract: nothing but a
:class:`~ledger.errors.LedgerError` leaves a parser; a command exits 0 or 1, a
failure is one ``ledger: error:`` line (or a printed FAILED verdict), never a
traceback; and input that cannot be valid (junk, a cut, invalid UTF-8 or
nesting spliced in) exits non-zero.
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from keys import load_private_key, load_public_key
from ledger.checks.dossier import verify_dossier
from ledger.checks.verify import TrustPolicy, verify_export
from ledger.errors import LedgerError
from ledger.format import canonical
from ledger.format.exportfile import read_records
from ledger.format.note import Checkpoint, Verifier, open_note, parse_note
from ledger.format.policy import parse_policy
from ledger.format.statement import Envelope
from ledger.format.trust import policy_from_json, trust_from_json
from ledger.log.proofs import ConsistencyProof, InclusionProof, Receipt
from ledger.log.witness import WitnessState
from tests.input_seeds import (
    CONTEST,
    ORIGIN,
    PASSPHRASE,
    SHEET,
    TPS,
    TPS2,
    Seeds,
    T,
    build_seeds,
    run,
)

FUZZ = settings(
    max_examples=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

# Pieces that break a parser in known ways: nesting, bad UTF-8, wrong JSON types.
NASTY = [
    b"[" * 3000,
    b'{"a":' * 2000,
    b"\xff\xfe",
    b"\xed\xa0\x80",
    b"\x00",
    b'"\\ud800"',
    b"null",
    b"[]",
    b"{}",
    b"-1",
    b"1" * 5000,
    b"NaN",
    b"\n\n",
    b"\xc0",
    b"\xdf",
    b"\x91\x91\x91",
]
CANNOT_BE_VALID = [b"\xff\xfe", b"\xed\xa0\x80", b"\xc0"]  # never UTF-8, never framed


@dataclass(frozen=True)
class Mutant:
    data: bytes
    must_fail: bool  # no valid file of the seed's kind looks like this


@st.composite
def mutants(draw: st.DrawFn, seed: bytes) -> Mutant:
    """A seed with 1-3 edits, or junk; ``must_fail`` when it cannot be valid.

    PEM (key files) admits any text around its BEGIN and END lines (RFC 7468,
    section 2), so there a splice may still be valid.
    """
    kind = draw(st.sampled_from(["edit", "edit", "edit", "cut", "splice", "junk", "json"]))
    if kind == "junk":
        # 0xC1 is neither msgpack (a "never used" byte) nor in any UTF-8 text.
        return Mutant(b"\xc1" + draw(st.binary(max_size=300)), True)
    if kind == "cut":
        at = draw(st.integers(0, len(seed) - 1))
        return Mutant(seed[:at], seed[at:].strip() != b"")
    if kind == "splice":
        at = draw(st.integers(0, len(seed)))
        pem = seed.startswith(b"-----BEGIN ")
        return Mutant(seed[:at] + draw(st.sampled_from(CANNOT_BE_VALID)) + seed[at:], not pem)
    if kind == "json":
        try:
            doc = json.loads(seed)
        except ValueError:
            kind = "edit"
        else:
            return Mutant(json.dumps(draw(json_edits(doc))).encode(), False)
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 3))):
        op = draw(st.sampled_from(["flip", "delete", "insert", "duplicate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if op == "flip" and data:
            data[at] ^= draw(st.integers(1, 255))
        elif op == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        elif op == "insert":
            data[at:at] = draw(st.sampled_from(NASTY) | st.binary(min_size=1, max_size=8))
        else:
            data[at:at] = data[at : at + draw(st.integers(1, 64))]
    return Mutant(bytes(data), False)


json_leaves = st.sampled_from(
    [None, True, False, 0, -1, 2**64, 1.5, "", "x", "\U0001f600", [], {}, [[[]]], {"a": {}}]
)


@st.composite
def json_edits(draw: st.DrawFn, doc: Any) -> Any:
    """``doc`` with one node replaced by a value of another type, or a field dropped or added."""
    if isinstance(doc, dict) and doc and draw(st.integers(0, 3)) > 0:
        key = draw(st.sampled_from(sorted(doc)))
        edited = dict(doc)
        action = draw(st.sampled_from(["descend", "descend", "drop", "add"]))
        if action == "drop":
            del edited[key]
        elif action == "add":
            edited[draw(st.text(max_size=4))] = draw(json_leaves)
        else:
            edited[key] = draw(json_edits(doc[key]))
        return edited
    if isinstance(doc, list) and doc and draw(st.booleans()):
        at = draw(st.integers(0, len(doc) - 1))
        return [*doc[:at], draw(json_edits(doc[at])), *doc[at + 1 :]]
    return draw(json_leaves)


# --- the commands that read a file ----------------------------------------------------------


@dataclass(frozen=True)
class Target:
    seed: str  # the seed file mutated (relative to the seeds root)
    argv: Callable[[Seeds, str], list[str]]  # given the mutated file's path
    place: Callable[[Seeds], Path] | None = None  # where the mutant goes, if not a fresh file


def _key(s: Seeds, name: str) -> str:
    return s.path(f"keys/{name}.key")


def _cosign_cp2(s: Seeds, *extra: str) -> list[str]:
    """The witness cosigns the seeds' second checkpoint (its state already holds it)."""
    cosign = ["witness", "cosign", s.witness_dir, s.path("cp2.note"), "--log", s.trust]
    return [*cosign, *extra, "-o", s.path("out")]


def _count_argv(s: Seeds, tally_file: str) -> list[str]:
    at = ["-L", s.ledger, "-k", _key(s, "kpps2"), "--time", str(T)]
    return ["count", *at, "--contest", CONTEST, "--tps", TPS2, tally_file]


TARGETS = {
    "verify": Target("ledger.export", lambda s, f: ["verify", f, "--trust", s.trust]),
    "verify --as-of": Target(
        "ledger.export", lambda s, f: ["verify", f, "--trust", s.trust, "--as-of", "8"]
    ),
    "report": Target(
        "ledger.export", lambda s, f: ["report", f, "--trust", s.trust, "--region", "33.16.09"]
    ),
    "verify-dossier": Target(
        "sheet.dossier", lambda s, f: ["verify-dossier", f, "--trust", s.trust]
    ),
    "proof verify (inclusion)": Target(
        "inclusion.json",
        lambda s, f: ["proof", "verify", f, "--log", s.trust],
    ),
    "proof verify (consistency)": Target(
        "consistency.json", lambda s, f: ["proof", "verify", f, "--log", s.trust]
    ),
    "receipt verify": Target(
        "receipt.note", lambda s, f: ["receipt", "verify", f, "--log", s.trust]
    ),
    "verify-statement": Target(
        "count.env",
        lambda s, f: [
            "verify-statement",
            f,
            "--trust",
            s.trust,
            "--chain",
            s.path("sheet.dossier"),
        ],
    ),
    "verify-statement (base64)": Target(
        "count.env.b64", lambda s, f: ["verify-statement", f, "--trust", s.trust]
    ),
    "verify-statement --chain dossier": Target(
        "sheet.dossier",
        lambda s, f: ["verify-statement", s.path("count.env"), "--trust", s.trust, "--chain", f],
    ),
    "verify-statement --chain export": Target(
        "ledger.export",
        lambda s, f: ["verify-statement", s.path("count.env"), "--trust", s.trust, "--chain", f],
    ),
    "trust file to verify": Target(
        "trust.json", lambda s, f: ["verify", s.path("ledger.export"), "--trust", f]
    ),
    "trust file to verify-dossier": Target(
        "trust.json", lambda s, f: ["verify-dossier", s.path("sheet.dossier"), "--trust", f]
    ),
    "policy file to verify": Target(
        "policy.txt",
        lambda s, f: ["verify", s.path("ledger.export"), "--trust", s.trust, "--policy", f],
    ),
    "trust file to receipt verify": Target(
        "trust.json", lambda s, f: ["receipt", "verify", s.path("receipt.note"), "--log", f]
    ),
    "submit": Target("count.env", lambda s, f: ["submit", "-L", s.ledger, f]),
    "checkpoint add-cosignature": Target(
        "cp1.cosigned",
        lambda s, f: [
            "checkpoint",
            "add-cosignature",
            "-L",
            s.ledger,
            f,
        ],
    ),
    "totals --checkpoint": Target(
        "cp1.note", lambda s, f: ["totals", "-L", s.ledger, "--checkpoint", f]
    ),
    "witness cosign": Target(
        "cp2.note",
        lambda s, f: ["witness", "cosign", s.witness_dir, f, "--log", s.trust, "-o", s.path("out")],
    ),
    "witness cosign --proof": Target(
        "consistency.json",
        lambda s, f: _cosign_cp2(s, "--proof", f),
    ),
    "witness state file": Target(
        "witness-state.json",
        lambda s, f: _cosign_cp2(s),
        place=lambda s: s.witness_state,
    ),
    "count (JSON tally)": Target(
        "count.json",
        _count_argv,
    ),
    "count (TOML tally)": Target(
        "count.toml",
        _count_argv,
    ),
    "private key file (--key)": Target(
        "keys/ptps.key",
        lambda s, f: [
            "attest",
            "-L",
            s.ledger,
            "-k",
            f,
            "--time",
            str(T),
            "--contest",
            CONTEST,
            "--tps",
            TPS,
        ],
    ),
    "public key file": Target("keys/kpu.pub", lambda s, f: ["keys", "show", f]),
}


@pytest.fixture(scope="module")
def seeds(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Seeds]:
    with pytest.MonkeyPatch.context() as monkeypatch:
        s = build_seeds(tmp_path_factory.mktemp("seeds"), monkeypatch)
        shutil.copy(s.witness_state, s.path("witness-state.json"))
        yield s


def check_contract(argv: list[str], mutant: Mutant) -> None:
    try:
        code, out, err = run(*argv)
    except SystemExit as e:  # argparse: only for a usage error, which a file cannot cause
        raise AssertionError(f"ledger {argv} exited {e.code}") from e
    assert "Traceback" not in out + err
    assert code in (0, 1), (code, err)
    if code == 1:
        if err:
            assert err.startswith("ledger: error: ") and err.count("\n") == 1, err
        else:  # a verdict: the report says what failed
            assert "FAILED" in out, out
    if mutant.must_fail:
        assert code == 1, f"ledger {argv} accepted input that cannot be valid: {out}"


@pytest.mark.parametrize("name", sorted(TARGETS))
def test_a_command_meets_mutated_input_with_one_error_line(seeds: Seeds, name: str) -> None:
    target = TARGETS[name]
    seed = seeds.read(target.seed)
    path = (
        target.place(seeds)
        if target.place
        else Path(seeds.path(f"mutant-{target.seed.replace('/', '-')}"))
    )
    argv = target.argv(seeds, str(path))

    @FUZZ
    @given(mutants(seed))
    def fuzz(mutant: Mutant) -> None:
        path.write_bytes(mutant.data)
        check_contract(argv, mutant)

    fuzz()


# --- the parsers, called directly -----------------------------------------------------------


def _policy(s: Seeds) -> TrustPolicy:
    text = Path(s.trust).read_bytes()
    embedded = policy_from_json(text)
    assert embedded is not None, "the seed ledger's trust.json embeds its policy"
    return TrustPolicy(trust_from_json(text), parse_policy(embedded))


PARSERS: dict[str, tuple[str, Callable[[Seeds, bytes], object]]] = {
    "canonical.decode": ("count.env", lambda s, b: canonical.decode(b)),
    "Envelope.parse": ("count.env", lambda s, b: Envelope.parse(b)),
    "parse_note": ("cp1.cosigned", lambda s, b: parse_note(b)),
    "open_note": (
        "cp1.cosigned",
        lambda s, b: open_note(
            b, [Verifier.parse(trust_from_json(Path(s.trust).read_bytes()).log_vkey)]
        ),
    ),
    "Checkpoint.parse": ("cp1.note", lambda s, b: Checkpoint.parse(parse_note(b).text)),
    "InclusionProof.from_json": ("inclusion.json", lambda s, b: InclusionProof.from_json(b)),
    "ConsistencyProof.from_json": ("consistency.json", lambda s, b: ConsistencyProof.from_json(b)),
    "Receipt.open": (
        "receipt.note",
        lambda s, b: Receipt.open(
            b, Verifier.parse(trust_from_json(Path(s.trust).read_bytes()).log_vkey)
        ),
    ),
    "trust_from_json": ("trust.json", lambda s, b: trust_from_json(b)),
    "policy_from_json": ("trust.json", lambda s, b: policy_from_json(b)),
    "parse_policy": ("policy.txt", lambda s, b: parse_policy(b)),
    "WitnessState.from_json": (
        "witness-state.json",
        lambda s, b: WitnessState.from_json(b, ORIGIN),
    ),
    "verify_dossier": ("sheet.dossier", lambda s, b: verify_dossier(b, _policy(s))),
    "read_records": ("ledger.export", lambda s, b: list(read_records(io.BytesIO(b)))),
    "verify_export": ("ledger.export", lambda s, b: verify_export(io.BytesIO(b), _policy(s))),
}


def _key_file(s: Seeds, b: bytes, name: str) -> object:
    path = Path(s.path(f"mutant-{name}"))
    path.write_bytes(b)
    return load_private_key(path, PASSPHRASE.encode()) if name == "key" else load_public_key(path)


PARSERS["load_private_key"] = ("keys/ptps.key", lambda s, b: _key_file(s, b, "key"))
PARSERS["load_public_key"] = ("keys/kpu.pub", lambda s, b: _key_file(s, b, "pub"))


@pytest.mark.parametrize("name", sorted(PARSERS))
def test_a_parser_raises_only_ledger_errors(seeds: Seeds, name: str) -> None:
    seed_name, parse = PARSERS[name]
    seed = seeds.read(seed_name)
    parse(seeds, seed)  # the seed itself parses

    @FUZZ
    @given(mutants(seed))
    def fuzz(mutant: Mutant) -> None:
        try:
            result = parse(seeds, mutant.data)
        except LedgerError:
            return
        if mutant.must_fail:  # a verifier's report instead of an exception: it must fail
            assert not getattr(result, "ok", True), f"{name} accepted input that cannot be valid"

    fuzz()


# --- the findings, one by one ----------------------------------------------------------------


def test_a_trust_file_that_is_not_utf8_is_one_error(seeds: Seeds, tmp_path: Path) -> None:
    bad = tmp_path / "trust.json"
    bad.write_bytes(Path(seeds.trust).read_bytes().replace(b"pilkada2024", b"pilkada\xff2024"))
    for argv in (
        ["verify", seeds.path("ledger.export"), "--trust", str(bad)],
        ["receipt", "verify", seeds.path("receipt.note"), "--log", str(bad)],
    ):
        assert run(*argv) == (1, "", "ledger: error: trust roots file is not UTF-8 (byte 24)\n")


DEEP = b"[" * 100_000 + b"]" * 100_000


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            lambda s, f: ["verify", s.path("ledger.export"), "--trust", f],
            "trust roots file nests arrays or objects deeper than 16 levels",
        ),
        (
            lambda s, f: ["proof", "verify", f, "--log", s.trust],
            "consistency proof nests arrays or objects deeper than 16 levels",
        ),
    ],
)
def test_deep_json_is_one_error(
    seeds: Seeds, tmp_path: Path, argv: Callable[[Seeds, str], list[str]], error: str
) -> None:
    path = tmp_path / "deep.json"
    path.write_bytes(DEEP)
    assert run(*argv(seeds, str(path))) == (1, "", f"ledger: error: {error}\n")


def test_a_deep_dossier_fails_verification(seeds: Seeds, tmp_path: Path) -> None:
    path = tmp_path / "deep.dossier"
    path.write_bytes(DEEP)
    code, out, err = run("verify-dossier", str(path), "--trust", seeds.trust)
    assert (code, err) == (1, "")
    assert "dossier nests arrays or objects deeper than 16 levels" in out
    assert "VERDICT: FAILED" in out


def test_a_deep_witness_state_is_one_error(seeds: Seeds) -> None:
    saved = seeds.witness_state.read_bytes()
    seeds.witness_state.write_bytes(DEEP)
    try:
        code, out, err = run(
            "witness", "cosign", seeds.witness_dir, seeds.path("cp2.note"), "--log", seeds.trust
        )
    finally:
        seeds.witness_state.write_bytes(saved)
    assert (code, out) == (1, "")
    assert err == (
        f"ledger: error: witness state for {ORIGIN!r}: "
        "witness state file nests arrays or objects deeper than 16 levels\n"
    )


def test_a_proof_whose_envelope_is_a_list_is_one_error(seeds: Seeds, tmp_path: Path) -> None:
    doc = json.loads(seeds.read("inclusion.json"))
    doc["envelope"] = [doc["envelope"]]
    path = tmp_path / "proof.json"
    path.write_text(json.dumps(doc))
    assert run("proof", "verify", str(path), "--log", seeds.trust) == (
        1,
        "",
        'ledger: error: inclusion proof: "envelope" must be a string\n',
    )


def test_submit_reports_duplicates_in_a_batch(seeds: Seeds) -> None:
    """Finding 5b: every envelope of a batch that was already logged says so."""
    envelope = seeds.path("count.env")
    code, out, err = run("submit", "-L", seeds.ledger, envelope, envelope)
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0].startswith(f"already in the ledger: {SHEET} seq 1 leaf ")
    assert lines[1] == f"already in the ledger: {SHEET} seq 1"
    assert "accepted" not in out
