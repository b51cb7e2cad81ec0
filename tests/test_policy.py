"""The trust policy (c2sp.org/tlog-policy, ledger.policy): a strict parser and the quorum."""

from __future__ import annotations

import pytest

from ledger.errors import ConfigurationError, FormatError, NoteError, UnwitnessedError
from ledger.format.note import Checkpoint, Note, NoteSigner, cosign, parse_note, sign_note
from ledger.format.policy import parse_policy, policy_text

LOG = NoteSigner.from_seed(bytes(range(32)), "log.example/l")
W = [NoteSigner.from_seed(bytes([n]) * 32, f"w{n}.example/w", 0x04) for n in (1, 2, 3)]
HEAD = f"log {LOG.verifier.vkey}\n" + "".join(
    f"witness w{n} {w.verifier.vkey}\n" for n, w in enumerate(W, start=1)
)
TEXT = Checkpoint(LOG.name, 3, bytes(32)).to_text()


def cosigned(*witnesses: NoteSigner) -> bytes:
    note = sign_note(TEXT, [LOG])
    parsed = parse_note(note)
    lines = tuple(cosign(parsed.text, 1_700_000_000, w) for w in witnesses)
    return Note(parsed.text, (*parsed.signatures, *lines)).to_bytes()


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", None, "no quorum line"),
        ("quorum none", 1, "not terminated"),
        ("quorum none\r\n", 1, "control character 0x0d"),
        ("log\nquorum none\n", 1, "expected: log"),
        ("log abc\nquorum none\n", 1, "not a verifier key"),
        (f"log {W[0].verifier.vkey}\nquorum none\n", 1, "signature type 0x04"),
        (f"witness w {LOG.verifier.vkey}\nquorum none\n", 1, "signature type 0x01"),
        (f"witness none {W[0].verifier.vkey}\nquorum none\n", 1, "reserved"),
        (HEAD + f"witness w1 {W[0].verifier.vkey}\nquorum none\n", 5, "already defined"),
        (HEAD + f"witness x {W[0].verifier.vkey}\nquorum none\n", 5, "same public key"),
        (HEAD + "group g 2 w1 w9\nquorum g\n", 5, "'w9' is not a witness or group"),
        (HEAD + "group g 4 w1 w2 w3\nquorum g\n", 5, "threshold '4'"),
        (HEAD + "group g 0 w1\nquorum g\n", 5, "threshold '0'"),
        (HEAD + "group g 01 w1\nquorum g\n", 5, "threshold '01'"),
        (HEAD + "group g any w1 w1\nquorum g\n", 5, "member twice"),
        (HEAD + "group g any\nquorum none\n", 5, "expected: group"),
        (HEAD + "group none any w1\nquorum none\n", 5, "reserved"),
        (HEAD + "quorum g\n", 5, "'g' is not a witness or group"),
        (HEAD + "quorum w1\nquorum w2\n", 6, "second quorum"),
        (HEAD + "quorum w1 w2\n", 5, "expected: quorum"),
        ("frob x\nquorum none\n", 1, "unknown keyword"),
        ("quorum g\ngroup g any w1\n", 1, "'g' is not a witness or group defined above"),
    ],
)
def test_every_malformed_line_is_a_format_error_naming_it(
    text: str, line: int | None, message: str
) -> None:
    with pytest.raises(FormatError, match=message) as caught:
        parse_policy(text)
    if line is not None:
        assert str(caught.value).startswith(f"trust policy line {line}: ")


def test_comments_blanks_tabs_urls_and_opaque_names_are_read() -> None:
    text = (
        f"  # a comment\n\n\tlog {LOG.verifier.vkey} https://log.example/\n"
        f"witness \xe2\x84\xaa {W[0].verifier.vkey} https://w1.example/\n"
        f"witness K {W[1].verifier.vkey}\n"
        "group both all \xe2\x84\xaa K\n quorum\tboth  \n"
    ).encode("latin-1")
    policy = parse_policy(text)
    assert len(policy.witnesses) == 2 and policy.quorum == "both"
    assert policy.verify_quorum(cosigned(W[0], W[1]), LOG.verifier) == (
        W[0].verifier,
        W[1].verifier,
    )
    with pytest.raises(UnwitnessedError):
        policy.verify_quorum(cosigned(W[1]), LOG.verifier)


def test_groups_nest_and_count_k_of_n() -> None:
    policy = parse_policy(HEAD + "group two 2 w1 w2 w3\ngroup top all two w3\nquorum top\n")
    assert policy.meets([W[0].verifier, W[2].verifier])  # w1 and w3: two of three, and w3
    assert not policy.meets([W[0].verifier, W[1].verifier])  # two of three, but not w3
    with pytest.raises(UnwitnessedError, match=r"needs 2 of \(2 of \("):
        policy.verify_quorum(cosigned(W[2]), LOG.verifier)
    one = parse_policy(HEAD + "group g 2 w1 w2 w3\nquorum g\n")
    with pytest.raises(UnwitnessedError, match=r"cosigned by w1\.example/w;"):
        one.verify_quorum(cosigned(W[0]), LOG.verifier)
    assert one.verify_quorum(cosigned(W[0], W[2]), LOG.verifier) == (W[0].verifier, W[2].verifier)


def test_a_bad_cosignature_or_a_missing_log_signature_is_not_a_quorum() -> None:
    policy = parse_policy(HEAD + "quorum w1\n")
    note = bytearray(cosigned(W[0]))
    note[-10] ^= 1
    with pytest.raises(NoteError):
        policy.verify_quorum(bytes(note), LOG.verifier)
    other = NoteSigner.from_seed(bytes([9]) * 32, "log.example/l")
    with pytest.raises(NoteError):  # signed by another key of that name: not the log
        policy.verify_quorum(sign_note(TEXT, [other]), LOG.verifier)


def test_quorum_none_only_when_written_and_the_log_must_be_the_ledgers() -> None:
    none = parse_policy(f"log {LOG.verifier.vkey}\nquorum none\n")
    assert none.unwitnessed and none.verify_quorum(sign_note(TEXT, [LOG]), LOG.verifier) == ()
    assert "NOT independently witnessed" in none.describe()
    with pytest.raises(ConfigurationError, match="at least one witness"):
        policy_text(LOG.verifier.vkey, [])
    written = parse_policy(policy_text(LOG.verifier.vkey, [W[0].verifier.vkey]))
    assert not written.unwitnessed
    written.require_log(LOG.verifier.vkey)
    other = NoteSigner.from_seed(bytes([7]) * 32, "log.example/l")
    with pytest.raises(ConfigurationError, match="is not the ledger's log key"):
        written.require_log(other.verifier.vkey)
    with pytest.raises(ConfigurationError, match="no log line"):
        parse_policy("quorum none\n").require_log(LOG.verifier.vkey)
