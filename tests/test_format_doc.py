"""docs/format.md's examples, checked against the code.

Every fenced block tagged ``example-*`` in the format document is a test vector.
This module parses them out of the document and recomputes each one with the
ledger's own code, so the contract and the implementation cannot drift apart
silently: a changed encoding, context string, key id or note layout fails here.
"""

from __future__ import annotations

import ast
import base64
import hashlib
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger import errors
from ledger.errors import FormatError, UnwitnessedError
from ledger.format import authority, canonical, ed25519, merkle
from ledger.format.note import (
    SIG_TYPE_COSIGNATURE_V1,
    SIG_TYPE_ED25519,
    Checkpoint,
    Note,
    NoteSigner,
    Verifier,
    cosign,
    parse_note,
    sign_note,
)
from ledger.format.policy import parse_policy
from ledger.format.recap import MAX_DECISION_TEXT, MAX_DECISIONS, MAX_TPS_NUMBER, recap_inputs
from ledger.format.schema import (
    KINDS,
    REGISTERED_FIELDS,
    ROLES,
    TALLY_FIELDS,
    arithmetic_flags,
    tally_flags,
)
from ledger.format.signing import recap_body
from ledger.format.statement import (
    MAX_ENTRY_SIZE,
    MAX_ENVELOPE_SIZE,
    STATEMENT_CONTEXT,
    STATEMENT_CONTEXT_V2,
    Envelope,
    Statement,
    event_hash,
    key_id,
    sign_statement,
)
from ledger.format.trust import TrustRoots, policy_from_json, trust_to_json
from ledger.log.proofs import ConsistencyProof, InclusionProof, Receipt
from ledger.log.witness import STATE_FORMAT, WitnessState, verify_cosigned

DOC = Path(__file__).resolve().parents[1] / "docs" / "format.md"
ARCHITECTURE = DOC.with_name("architecture.md")
_FENCE = re.compile(r"^```([A-Za-z0-9-]+)[^\n]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)


def _blocks(tag: str) -> list[str]:
    """The contents of every fenced block tagged ``tag`` (with their final newline)."""
    return [body for name, body in _FENCE.findall(DOC.read_text("utf-8")) if name == tag]


def _one(tag: str) -> str:
    found = _blocks(tag)
    assert len(found) == 1, f"docs/format.md should have exactly one ```{tag} block"
    return found[0]


def _fields(block: str) -> dict[str, str]:
    """``name: value`` lines of a block, as a dict (values stripped)."""
    fields: dict[str, str] = {}
    for line in block.splitlines():
        if line.strip():
            name, sep, value = line.partition(":")
            assert sep, f"malformed example line {line!r}"
            assert name.strip() not in fields, f"field {name!r} given twice"
            fields[name.strip()] = value.strip()
    return fields


# --- section 2: canonical msgpack -------------------------------------------------------


def _canonical_examples() -> list[tuple[Any, str]]:
    examples = []
    for block in _blocks("example-canonical"):
        fields = _fields(block)
        examples.append((ast.literal_eval(fields["value"]), fields["hex"]))
    return examples


def _noncanonical_examples() -> list[tuple[str, str]]:
    rows = []
    for line in _one("example-noncanonical").splitlines():
        if line.strip():
            hex_text, error, _ = line.split(" ", 2)
            rows.append((hex_text, error))
    return rows


def test_doc_has_canonical_examples() -> None:
    assert len(_canonical_examples()) >= 4
    assert len(_noncanonical_examples()) >= 10


@pytest.mark.parametrize(("value", "hex_text"), _canonical_examples())
def test_canonical_example_encodes_to_documented_bytes(value: Any, hex_text: str) -> None:
    assert canonical.encode(value).hex() == hex_text


@pytest.mark.parametrize(("value", "hex_text"), _canonical_examples())
def test_canonical_example_decodes_to_documented_value(value: Any, hex_text: str) -> None:
    assert canonical.decode(bytes.fromhex(hex_text)) == value


@pytest.mark.parametrize(("hex_text", "error"), _noncanonical_examples())
def test_noncanonical_example_is_rejected_with_documented_class(hex_text: str, error: str) -> None:
    expected = getattr(errors, error)
    with pytest.raises(errors.FormatError) as caught:
        canonical.decode(bytes.fromhex(hex_text))
    assert type(caught.value) is expected


# --- section 3 and 8.11: statement, envelope, leaf --------------------------------------


def test_context_string_bytes_are_documented() -> None:
    text = DOC.read_text("utf-8")
    assert STATEMENT_CONTEXT == b"pilkada-ledger/v1/statement\x00"
    assert STATEMENT_CONTEXT[:-1].hex(" ") in text
    assert STATEMENT_CONTEXT_V2 == b"pilkada-ledger/v2/statement\x00"
    assert STATEMENT_CONTEXT_V2[:-1].hex(" ") in _section("3.")


def _statement_example() -> dict[str, str]:
    return _fields(_one("example-statement"))


def test_statement_example() -> None:
    ex = _statement_example()
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(ex["secret-key"]))
    public = ed25519.public_bytes(key)
    assert public.hex() == ex["public-key"]
    assert key_id(public).hex() == ex["signer"]
    statement = Statement(
        election=ex["election"],
        stream=ex["stream"],
        seq=int(ex["seq"]),
        prev=bytes.fromhex(ex["prev"]),
        kind=ex["kind"],
        body=ast.literal_eval(ex["body"]),
        signer=bytes.fromhex(ex["signer"]),
        time=int(ex["time"]),
        version=int(ex["version"]),
    )
    assert statement.version == 1  # the worked example's bytes never change
    assert statement.to_bytes().hex() == ex["statement"]
    envelope = sign_statement(statement, key)
    assert envelope.signature.hex() == ex["signature"]
    assert envelope.raw.hex() == ex["envelope"]
    assert envelope.hash.hex() == ex["event-hash"] == event_hash(envelope.raw).hex()
    assert merkle.leaf_hash(envelope.raw).hex() == ex["leaf-hash"]
    # The documented signed message: context string, NUL, statement bytes.
    ed25519.verify(
        public,
        bytes.fromhex(ex["signature"]),
        b"pilkada-ledger/v1/statement\x00" + bytes.fromhex(ex["statement"]),
    )
    parsed = Envelope.parse(bytes.fromhex(ex["envelope"]))
    assert parsed.statement == statement


def test_recap_v2_example() -> None:
    ex = _fields(_one("example-recap-v2"))
    key = Ed25519PrivateKey.from_private_bytes(bytes.fromhex(ex["secret-key"]))
    named = [
        (stream, bytes.fromhex(head))
        for stream, head in (item.split("@") for item in ex["inputs"].split())
    ]
    totals = ast.literal_eval(ex["totals"])
    body = recap_body(
        named, totals["votes"], totals["valid"], totals["invalid"], totals["voted"], version=2
    )
    assert canonical.encode(body).hex() == ex["body"]
    statement = Statement(
        election=ex["election"],
        stream=ex["stream"],
        seq=int(ex["seq"]),
        prev=bytes.fromhex(ex["prev"]),
        kind="recap",
        body=body,
        signer=key_id(ed25519.public_bytes(key)),
        time=int(ex["time"]),
        version=int(ex["version"]),
    )
    assert statement.to_bytes().hex() == ex["statement"]
    envelope = sign_statement(statement, key)
    assert envelope.signature.hex() == ex["signature"]
    assert envelope.raw.hex() == ex["envelope"]
    assert envelope.hash.hex() == ex["event-hash"]
    # Signed under the version 2 context, and read back to the documented streams.
    ed25519.verify(
        ed25519.public_bytes(key),
        bytes.fromhex(ex["signature"]),
        b"pilkada-ledger/v2/statement\x00" + bytes.fromhex(ex["statement"]),
    )
    parsed = Envelope.parse(bytes.fromhex(ex["envelope"]))
    assert recap_inputs(parsed.statement) == named
    v1 = recap_body(named, totals["votes"], 500, 10, 510, version=1)
    assert (
        f"would be {len(canonical.encode(v1))} bytes instead of {len(bytes.fromhex(ex['body']))}"
        in _section("5.8")
    )


def test_recap_v2_bounds_are_documented() -> None:
    section = _section("5.8")
    assert f"at most {MAX_DECISIONS} (`SchemaError`" in section
    assert f"at most {MAX_DECISION_TEXT} code points" in section
    assert "int 0..999" in section and MAX_TPS_NUMBER == 999


# --- section 8: transparency log ----------------------------------------------------------


def test_merkle_example() -> None:
    ex = _fields(_one("example-merkle"))
    leaves = [bytes.fromhex(h) for h in ast.literal_eval(ex["leaves"])]
    hashes = [merkle.leaf_hash(leaf) for leaf in leaves]
    assert [h.hex() for h in hashes] == ast.literal_eval(ex["leaf-hashes"])
    store = merkle.MemoryNodeStore()
    store.append_leaf_hashes(hashes)
    roots = {n: merkle.root(n, store) for n in (2, 3)}
    assert roots[2].hex() == ex["root-2"]
    assert roots[3].hex() == ex["root-3"]
    assert merkle.EMPTY_ROOT.hex() == ex["empty-root"] == merkle.root(0, store).hex()
    path = [bytes.fromhex(h) for h in ast.literal_eval(ex["inclusion-0-3"])]
    assert merkle.inclusion_proof(0, 3, store) == path
    merkle.verify_inclusion(hashes[0], 0, 3, path, roots[3])
    for old in (1, 2):
        proof = [bytes.fromhex(h) for h in ast.literal_eval(ex[f"consistency-{old}-3"])]
        assert merkle.consistency_proof(old, 3, store) == proof
        old_root = merkle.root(old, store)
        merkle.verify_consistency(old, 3, proof, old_root, roots[3])


def _keys() -> tuple[dict[str, str], NoteSigner, NoteSigner]:
    ex = _fields(_one("example-keys"))
    log = NoteSigner.from_seed(bytes.fromhex(ex["log-seed"]), ex["log-name"], SIG_TYPE_ED25519)
    witness = NoteSigner.from_seed(
        bytes.fromhex(ex["witness-seed"]), ex["witness-name"], SIG_TYPE_COSIGNATURE_V1
    )
    return ex, log, witness


def _envelope() -> bytes:
    return bytes.fromhex(_statement_example()["envelope"])


def test_note_keys_example() -> None:
    ex, log, witness = _keys()
    assert log.verifier.vkey == ex["log-vkey"]
    assert witness.verifier.vkey == ex["witness-vkey"]
    for signer, sig_type in ((log, 0x01), (witness, 0x04)):
        verifier = Verifier.parse(signer.verifier.vkey)
        # key ID = SHA-256(name || 0x0A || sig type || public key)[:4], as documented
        message = signer.name.encode() + b"\n" + bytes([sig_type]) + verifier.public_key
        assert verifier.key_id == hashlib.sha256(message).digest()[:4]


def test_checkpoint_example() -> None:
    _, log, _ = _keys()
    root = merkle.leaf_hash(_envelope())
    text = Checkpoint(log.name, 1, root).to_text()
    documented = _one("example-checkpoint").encode("utf-8")
    assert sign_note(text, [log]) == documented
    assert parse_note(documented).text == text


def test_cosigned_checkpoint_example() -> None:
    ex, log, witness = _keys()
    checkpoint = _one("example-checkpoint").encode("utf-8")
    note = parse_note(checkpoint)
    cosignature = cosign(note.text, int(ex["cosignature-time"]), witness)
    cosigned = Note(note.text, (*note.signatures, cosignature)).to_bytes()
    documented = _one("example-cosigned-checkpoint").encode("utf-8")
    assert cosigned == documented
    verified = verify_cosigned(documented, log.verifier, [witness.verifier], quorum=1)
    assert verified.size == 1
    # The documented cosigned message: header, time line, checkpoint text.
    blob = cosignature.signature
    assert int.from_bytes(blob[:8], "big") == int(ex["cosignature-time"])
    message = (
        b"cosignature/v1\ntime " + ex["cosignature-time"].encode() + b"\n" + note.text.encode()
    )
    ed25519.verify(witness.verifier.public_key, blob[8:], message)


def test_receipt_example() -> None:
    _, log, _ = _keys()
    envelope = _envelope()
    documented = _one("example-receipt").encode("utf-8")
    receipt = Receipt.sign(log, 0, event_hash(envelope))
    assert receipt.note == documented
    opened = Receipt.open(documented, log.verifier)
    assert (opened.origin, opened.leaf_index, opened.event_hash) == (
        log.name,
        0,
        event_hash(envelope),
    )
    lines = parse_note(documented).text.split("\n")
    assert lines[0] == "pilkada-ledger receipt v1"
    assert base64.b64decode(lines[3]) == event_hash(envelope)


def test_inclusion_proof_example() -> None:
    _, log, _ = _keys()
    documented = _one("example-inclusion-proof")
    checkpoint = _one("example-checkpoint").encode("utf-8")
    proof = InclusionProof(_envelope(), 0, checkpoint, [])
    assert json.loads(proof.to_json()) == json.loads(documented)
    parsed = InclusionProof.from_json(documented)
    assert parsed.verify(log.verifier).raw == _envelope()


# --- tables that must list exactly what the code uses -----------------------------------


def _section(number: str) -> str:
    """The section headed ``number`` (``5.``, ``8.7``), subsections included."""
    text = DOC.read_text("utf-8")
    head = re.search(rf"^(#+) {re.escape(number)} ", text, re.MULTILINE)
    assert head, f"docs/format.md has no section {number}"
    level = len(head.group(1))
    end = re.compile(rf"^#{{1,{level}}} ", re.MULTILINE).search(text, head.end())
    return text[head.start() : end.start() if end else len(text)]


def _table_keys(number: str) -> set[str]:
    """The backquoted names in the first column of the tables of a section."""
    return set(re.findall(r"^\| `([a-z_]+)` \|", _section(number), re.MULTILINE))


def test_json_field_tables_match_the_code() -> None:
    ex, log, _ = _keys()
    checkpoint = _one("example-checkpoint").encode("utf-8")
    inclusion = json.loads(InclusionProof(_envelope(), 0, checkpoint, []).to_json())
    assert _table_keys("8.7") == set(inclusion)
    consistency = json.loads(ConsistencyProof(checkpoint, checkpoint, []).to_json())
    assert _table_keys("8.8") == set(consistency)
    ConsistencyProof.from_json(json.dumps(consistency)).verify(log.verifier)
    state = WitnessState(log.name, 1, merkle.leaf_hash(_envelope()), 0, checkpoint)
    assert _table_keys("8.9") == set(json.loads(state.to_json()))
    assert STATE_FORMAT in _section("8.9")
    trust = TrustRoots(
        election="pilkada2024",
        kpu_root=bytes(32),
        bawaslu_root=bytes(32),
        log_vkey=ex["log-vkey"],
        origin=ex["log-name"],
    )
    written = json.loads(trust_to_json(trust, policy=_one("example-policy")))
    assert _table_keys("8.10") == set(written)
    assert policy_from_json(json.dumps(written)) == _one("example-policy")
    assert "policy" not in json.loads(trust_to_json(trust))  # only when there is one
    with pytest.raises(FormatError, match="witnesses"):  # the field of earlier versions
        policy_from_json(json.dumps({**written, "witnesses": [ex["witness-vkey"]]}))


def test_policy_example_needs_the_witness() -> None:
    ex, log, witness = _keys()
    policy = parse_policy(_one("example-policy"))
    policy.require_log(ex["log-vkey"])
    cosigned = _one("example-cosigned-checkpoint").encode("utf-8")
    assert policy.verify_quorum(cosigned, log.verifier) == (witness.verifier,)
    with pytest.raises(UnwitnessedError):
        policy.verify_quorum(_one("example-checkpoint").encode("utf-8"), log.verifier)


def test_statement_and_envelope_tables_match_the_code() -> None:
    statement = canonical.decode(bytes.fromhex(_statement_example()["statement"]))
    assert _table_keys("3.") == set(statement)
    envelope = canonical.decode(_envelope())
    assert _table_keys("4.1") == set(envelope)
    assert MAX_ENVELOPE_SIZE == 2**20
    assert "MUST NOT exceed 1 048 576 bytes (2^20)" in _section("4.1")
    assert MAX_ENTRY_SIZE == 65_535
    assert "MUST NOT exceed 65,535 bytes" in _section("4.1")


def test_kinds_roles_and_tally_fields_are_all_documented() -> None:
    section5 = _section("5.")
    for kind in KINDS:
        assert f"`{kind}`" in section5, kind
    assert f"one of `{' '.join(ROLES)}`" in _section("5.3")
    tally_text = _section("5.9")
    for name in TALLY_FIELDS:
        assert f"`{name}`" in tally_text, name
    assert len(TALLY_FIELDS) == 22


def _error_names(text: str) -> set[str]:
    return set(re.findall(r"`([A-Z][A-Za-z]+(?:Error|Signature))`", text))


def test_error_classes_named_in_acceptance_exist() -> None:
    names = _error_names(_section("7."))
    assert len(names) >= 10
    for name in names:
        assert issubclass(getattr(errors, name), errors.LedgerError), name


def test_every_error_class_named_anywhere_exists() -> None:
    for doc in (DOC, ARCHITECTURE):
        for name in _error_names(doc.read_text("utf-8")):
            assert issubclass(getattr(errors, name, type), errors.LedgerError), (doc.name, name)


def test_recap_input_table_matches_authority() -> None:
    """6.3's recap-input table is authority._RECAP_INPUTS, row for row."""
    rows = re.findall(
        r"^\| `([a-z]+)` \| `(sheet|recap):<c>:<[a-z]+>` \| `([a-z]+)` \|$",
        _section("6.3"),
        re.MULTILINE,
    )
    assert {level: (stream, place) for level, stream, place in rows} == dict(
        authority._RECAP_INPUTS
    )
    assert len(rows) == len(authority._RECAP_INPUTS)


def test_grant_table_matches_authority() -> None:
    """6.2 lists exactly the roles each role may grant (authority.GRANTS)."""
    documented: dict[str, set[str]] = {}
    for granters, granted in re.findall(r"^\| ([^|]+) \| ([^|]+) \|", _section("6.2"), re.M):
        for granter in re.findall(r"`([a-z-]+)`", granters):
            documented.setdefault(granter, set()).update(re.findall(r"`([a-z-]+)`", granted))
    assert documented == {role: set(roles) for role, roles in authority.GRANTS.items()}


def test_receipt_command_is_documented_as_the_cli_parses_it() -> None:
    """`ledger receipt verify FILE --log VKEY_OR_TRUST` is the one receipt command."""
    from ledger.cli import build_parser

    assert "`ledger receipt verify FILE --log VKEY_OR_TRUST`" in _section("8.6")
    parser = build_parser()
    args = parser.parse_args(["receipt", "verify", "r.txt", "--log", "trust.json"])
    assert (args.file, args.log) == ("r.txt", "trust.json")
    with pytest.raises(SystemExit):
        parser.parse_args(["verify-receipt", "r.txt", "--log", "trust.json"])


def test_arithmetic_rules_count_matches_the_code() -> None:
    """5.10 lists one flag per rule; a tally breaking every rule gets them all."""
    tally: dict[str, Any] = {
        name: 0 for name in TALLY_FIELDS if name not in ("votes", "photo_sha256")
    }
    tally.update({f"voted_{n}": 1 for n in REGISTERED_FIELDS}, disabled_voted=1)
    tally.update(valid=5, invalid=1, ballots_used=2, ballots_received=100)
    tally["votes"] = {"1": 1}
    flags = tally_flags(tally)
    # rules 1-4, six of rule 5, rule 6, each with its documented class
    assert [rule for rule, _ in flags] == ["arithmetic"] * 4 + ["over-registered"] * 7
    assert len(arithmetic_flags(tally)) == 4 + len(REGISTERED_FIELDS) + 1


def test_every_example_block_is_checked() -> None:
    """A new ``example-*`` tag needs a test here; a typo in a tag must not hide a block."""
    tags = {
        name for name, _ in _FENCE.findall(DOC.read_text("utf-8")) if name.startswith("example")
    }
    assert tags == {
        "example-canonical",
        "example-noncanonical",
        "example-statement",
        "example-recap-v2",
        "example-merkle",
        "example-keys",
        "example-checkpoint",
        "example-cosigned-checkpoint",
        "example-receipt",
        "example-inclusion-proof",
        "example-policy",
    }


# --- docs/architecture.md: where each part lives ------------------------------------------

ROOT = DOC.parents[1]


def test_architecture_names_every_module_and_only_real_paths() -> None:
    text = ARCHITECTURE.read_text("utf-8")
    named = set(re.findall(r"`((?:ledger|projections|keys|bench)/[A-Za-z0-9_./]*)`", text))
    for path in named:
        assert (ROOT / path).exists(), path
    for module in sorted([*(ROOT / "ledger").rglob("*.py"), *(ROOT / "projections").glob("*.py")]):
        relative = module.relative_to(ROOT).as_posix()
        if module.name != "__init__.py" or relative == "ledger/cli/__init__.py":
            assert relative in named, f"docs/architecture.md does not place {relative}"
    assert {"bench/", "keys/"} <= named


def test_architecture_findings_table_matches_views() -> None:
    from projections.views import FINDING_KINDS

    section = ARCHITECTURE.read_text("utf-8").split("## Findings", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z-]+)` \|", section, re.MULTILINE)
    assert tuple(rows) == FINDING_KINDS


def test_architecture_places_every_cli_command() -> None:
    import argparse

    from ledger.cli import build_parser

    text = ARCHITECTURE.read_text("utf-8")
    commands = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    for name in commands.choices:
        assert f"`{name}" in text, f"docs/architecture.md does not place `ledger {name}`"
