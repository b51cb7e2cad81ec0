"""Tests for the keys package: ids, encrypted key files, passphrases and KeyDir."""

from __future__ import annotations

import getpass
import hashlib
import io
import os
import stat
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)
from hypothesis import given
from hypothesis import strategies as st

import keys
import keys._files as files
from ledger.errors import ConfigurationError, KeyFileError, LedgerError

PASS = b"correct horse battery staple"


def raw(key: Ed25519PrivateKey | Ed25519PublicKey) -> bytes:
    return keys.raw_public_key(key)


def private_raw(key: Ed25519PrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )


def listing(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir())


# --- ids and raw keys ----------------------------------------------------------------


@given(st.binary(min_size=32, max_size=32))
def test_key_id_is_sha256_of_raw_public_key(seed: bytes) -> None:
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    raw_pub = pub.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    assert keys.raw_public_key(pub) == raw_pub
    assert keys.key_id(pub) == hashlib.sha256(raw_pub).digest()
    assert keys.key_id(raw_pub) == keys.key_id(pub)
    assert keys.key_id_hex(pub) == hashlib.sha256(raw_pub).hexdigest()
    assert len(keys.key_id(pub)) == 32


@given(st.binary(min_size=32, max_size=32), st.binary(min_size=32, max_size=32))
def test_key_id_differs_for_different_keys(a: bytes, b: bytes) -> None:
    ka = Ed25519PrivateKey.from_private_bytes(a).public_key()
    kb = Ed25519PrivateKey.from_private_bytes(b).public_key()
    assert (keys.key_id(ka) == keys.key_id(kb)) == (raw(ka) == raw(kb))


def test_raw_public_key_of_private_key_is_its_public_half() -> None:
    key = keys.generate()
    assert keys.raw_public_key(key) == keys.raw_public_key(key.public_key())


@given(st.binary(min_size=32, max_size=32))
def test_public_key_from_raw_round_trips(seed: bytes) -> None:
    pub = Ed25519PrivateKey.from_private_bytes(seed).public_key()
    assert raw(keys.public_key_from_raw(raw(pub))) == raw(pub)


@given(st.binary().filter(lambda b: len(b) != 32))
def test_wrong_length_raw_key_rejected(data: bytes) -> None:
    with pytest.raises(KeyFileError, match="must be 32 bytes"):
        keys.public_key_from_raw(data)
    with pytest.raises(KeyFileError, match="must be 32 bytes"):
        keys.key_id(data)


# --- private key files ---------------------------------------------------------------


def test_private_key_round_trip(tmp_path: Path) -> None:
    key = keys.generate()
    path = tmp_path / "k.key"
    keys.save_private_key(path, key, PASS)
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    loaded = keys.load_private_key(path, PASS)
    assert private_raw(loaded) == private_raw(key)
    assert private_raw(key) not in path.read_bytes()


def test_private_key_file_mode_is_0600_whatever_the_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        keys.save_private_key(tmp_path / "k.key", keys.generate(), PASS)
        keys.save_public_key(tmp_path / "k.pub", keys.generate().public_key())
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k.key").stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "k.pub").stat().st_mode) == 0o644


def test_wrong_passphrase(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    keys.save_private_key(path, keys.generate(), PASS)
    with pytest.raises(KeyFileError, match="wrong passphrase or corrupt file") as info:
        keys.load_private_key(path, b"not the passphrase")
    assert str(path) in str(info.value)
    assert isinstance(info.value.__cause__, ValueError)


@pytest.mark.parametrize(
    "corrupt",
    [
        lambda pem: pem[: len(pem) // 2],
        lambda pem: b"",
        lambda pem: b"not a pem file at all\n",
        lambda pem: pem.replace(b"MI", b"XX", 1),
        lambda pem: pem[:100] + (b"A" if pem[100:101] != b"A" else b"B") + pem[101:],
    ],
    ids=["truncated", "empty", "garbage", "bad-der", "flipped-byte"],
)
def test_corrupt_private_key_file(tmp_path: Path, corrupt: object) -> None:
    path = tmp_path / "k.key"
    keys.save_private_key(path, keys.generate(), PASS)
    assert callable(corrupt)
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(KeyFileError, match="cannot decrypt key file"):
        keys.load_private_key(path, PASS)


def test_missing_private_key_file(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="does not exist"):
        keys.load_private_key(tmp_path / "nope.key", PASS)


@pytest.mark.parametrize(
    "other",
    [x25519.X25519PrivateKey.generate, lambda: ec.generate_private_key(ec.SECP256R1())],
    ids=["x25519", "p256"],
)
def test_non_ed25519_private_key_rejected(tmp_path: Path, other: object) -> None:
    assert callable(other)
    pem = other().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASS),
    )
    path = tmp_path / "k.key"
    path.write_bytes(pem)
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        keys.load_private_key(path, PASS)


def test_unencrypted_private_key_rejected(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    path.write_bytes(
        keys.generate().private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(KeyFileError, match="not passphrase-encrypted"):
        keys.load_private_key(path, PASS)


def test_empty_passphrase_rejected_and_nothing_written(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="empty passphrase"):
        keys.save_private_key(tmp_path / "k.key", keys.generate(), b"")
    assert listing(tmp_path) == []
    with pytest.raises(KeyFileError, match="empty passphrase"):
        keys.load_private_key(tmp_path / "k.key", b"")


def test_refuses_to_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "k.key"
    keys.save_private_key(path, keys.generate(), PASS)
    before = path.read_bytes()
    with pytest.raises(KeyFileError, match=r"key file .*k\.key already exists"):
        keys.save_private_key(path, keys.generate(), PASS)
    pub = tmp_path / "k.pub"
    pub.write_bytes(b"precious")
    with pytest.raises(KeyFileError, match="already exists"):
        keys.save_public_key(pub, keys.generate().public_key())
    assert path.read_bytes() == before
    assert pub.read_bytes() == b"precious"
    assert listing(tmp_path) == ["k.key", "k.pub"]


def test_refuses_to_overwrite_a_file_that_appears_while_writing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The existence check races with other writers; the final link must not clobber."""
    path = tmp_path / "k.key"
    real_link = os.link

    def racing_link(src: Path, dst: Path) -> None:
        Path(dst).write_bytes(b"written by someone else")
        real_link(src, dst)

    monkeypatch.setattr(os, "link", racing_link)
    with pytest.raises(KeyFileError, match="already exists"):
        keys.save_private_key(path, keys.generate(), PASS)
    assert path.read_bytes() == b"written by someone else"
    assert listing(tmp_path) == ["k.key"]


def test_nothing_written_when_write_fails(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing_fsync(fd: int) -> None:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "fsync", failing_fsync)
    with pytest.raises(KeyFileError, match=r"cannot write key file .*No space left") as info:
        keys.save_private_key(tmp_path / "k.key", keys.generate(), PASS)
    assert isinstance(info.value.__cause__, OSError)
    assert listing(tmp_path) == []


def test_missing_directory_is_a_key_file_error(tmp_path: Path) -> None:
    with pytest.raises(KeyFileError, match="cannot write key file"):
        keys.save_private_key(tmp_path / "no" / "k.key", keys.generate(), PASS)


# --- public key files ----------------------------------------------------------------


def test_public_key_round_trip_is_standard_spki_pem(tmp_path: Path) -> None:
    key = keys.generate().public_key()
    path = tmp_path / "k.pub"
    keys.save_public_key(path, key)
    assert path.read_bytes().startswith(b"-----BEGIN PUBLIC KEY-----")
    assert raw(keys.load_public_key(path)) == raw(key)
    assert raw(serialization.load_pem_public_key(path.read_bytes())) == raw(key)  # type: ignore[arg-type]


def test_non_ed25519_public_key_rejected(tmp_path: Path) -> None:
    path = tmp_path / "k.pub"
    path.write_bytes(
        x25519.X25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(KeyFileError, match="not an Ed25519 key"):
        keys.load_public_key(path)


def test_corrupt_or_missing_public_key_file(tmp_path: Path) -> None:
    path = tmp_path / "k.pub"
    path.write_bytes(b"-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n")
    with pytest.raises(KeyFileError, match="cannot parse public key file"):
        keys.load_public_key(path)
    with pytest.raises(KeyFileError, match="does not exist"):
        keys.load_public_key(tmp_path / "missing.pub")


# --- passphrases ---------------------------------------------------------------------


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_passphrase_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE_OFFICER", "s3cret é")
    monkeypatch.setattr(sys, "stdin", io.StringIO())
    assert keys.passphrase_from("LEDGER_PASSPHRASE_OFFICER", "Passphrase: ") == "s3cret é".encode()


def test_passphrase_from_empty_env_rejected(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEDGER_PASSPHRASE", "")
    with pytest.raises(KeyFileError, match="set but empty"):
        keys.passphrase_from("LEDGER_PASSPHRASE", "Passphrase: ")


@pytest.mark.parametrize("env_var", ["LEDGER_PASSPHRASE", None])
def test_passphrase_from_without_env_or_tty(
    monkeypatch: pytest.MonkeyPatch, env_var: str | None
) -> None:
    monkeypatch.delenv("LEDGER_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys, "stdin", io.StringIO())

    def no_getpass(prompt: str = "") -> str:
        raise AssertionError("must not prompt without a terminal")

    monkeypatch.setattr(getpass, "getpass", no_getpass)
    with pytest.raises(KeyFileError, match="no passphrase") as info:
        keys.passphrase_from(env_var, "Passphrase: ")
    assert ("$LEDGER_PASSPHRASE" in str(info.value)) == (env_var is not None)


def test_passphrase_from_tty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEDGER_PASSPHRASE", raising=False)
    monkeypatch.setattr(sys, "stdin", _Tty())
    answers = iter(["typed", "typed"])
    prompts: list[str] = []

    def fake_getpass(prompt: str = "") -> str:
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(getpass, "getpass", fake_getpass)
    assert keys.passphrase_from("LEDGER_PASSPHRASE", "Passphrase: ", confirm=True) == b"typed"
    assert len(prompts) == 2


@pytest.mark.parametrize(("answers", "message"), [(["a", "b"], "do not match"), ([""], "empty")])
def test_passphrase_from_tty_rejects_mismatch_and_empty(
    monkeypatch: pytest.MonkeyPatch, answers: list[str], message: str
) -> None:
    monkeypatch.setattr(sys, "stdin", _Tty())
    it = iter(answers)
    monkeypatch.setattr(getpass, "getpass", lambda prompt="": next(it))
    with pytest.raises(KeyFileError, match=message):
        keys.passphrase_from(None, "Passphrase: ", confirm=len(answers) > 1)


def test_passphrase_from_tty_eof(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", _Tty())

    def eof(prompt: str = "") -> str:
        raise EOFError

    monkeypatch.setattr(getpass, "getpass", eof)
    with pytest.raises(KeyFileError, match="end of input"):
        keys.passphrase_from(None, "Passphrase: ")


# --- key directories -----------------------------------------------------------------


def test_keydir_create_load_public_names(tmp_path: Path) -> None:
    kd = keys.KeyDir(tmp_path / "ring")
    a = kd.create("kpu-officer_1.a", PASS)
    b = kd.create("witness", PASS)
    assert stat.S_IMODE((tmp_path / "ring").stat().st_mode) == 0o700
    assert kd.names() == ["kpu-officer_1.a", "witness"]
    assert listing(tmp_path / "ring") == [
        "kpu-officer_1.a.key",
        "kpu-officer_1.a.pub",
        "witness.key",
        "witness.pub",
    ]
    assert private_raw(kd.load("witness", PASS)) == private_raw(b)
    assert raw(kd.public("kpu-officer_1.a")) == raw(a)
    assert keys.key_id(kd.public("witness")) != keys.key_id(kd.public("kpu-officer_1.a"))
    with pytest.raises(KeyFileError, match="already exists"):
        kd.create("witness", PASS)
    assert private_raw(kd.load("witness", PASS)) == private_raw(b)


def _good_name(name: str) -> bool:
    allowed = all(c.isascii() and (c.isalnum() or c in "._-") for c in name)
    return allowed and name != "" and not name.startswith(".")


@given(st.text().filter(lambda s: not _good_name(s)))
def test_keydir_bad_names_rejected(name: str) -> None:
    kd = keys.KeyDir("/nonexistent-keydir-for-tests")
    with pytest.raises(KeyFileError, match="invalid key name"):
        kd.private_path(name)
    with pytest.raises(KeyFileError, match="invalid key name"):
        kd.public(name)


@pytest.mark.parametrize("name", ["../evil", "a/b", "", ".hidden", "..", "a\n", "k\x00", "ünï"])
def test_keydir_bad_names_write_nothing(tmp_path: Path, name: str) -> None:
    kd = keys.KeyDir(tmp_path / "ring")
    with pytest.raises(KeyFileError, match="invalid key name"):
        kd.create(name, PASS)
    assert listing(tmp_path) == []


def test_keydir_create_rolls_back_when_public_write_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kd = keys.KeyDir(tmp_path)

    def fail(path: object, key: object) -> None:
        raise KeyFileError("disk full")

    monkeypatch.setattr(files, "save_public_key", fail)
    with pytest.raises(KeyFileError, match="disk full"):
        kd.create("officer", PASS)
    assert listing(tmp_path) == []


def test_keydir_create_refuses_when_only_pub_exists(tmp_path: Path) -> None:
    (tmp_path / "officer.pub").write_bytes(b"someone's key")
    with pytest.raises(KeyFileError, match="already exists"):
        keys.KeyDir(tmp_path).create("officer", PASS)
    assert listing(tmp_path) == ["officer.pub"]


def test_keydir_load_detects_mismatched_pub(tmp_path: Path) -> None:
    kd = keys.KeyDir(tmp_path)
    kd.create("officer", PASS)
    (tmp_path / "officer.pub").unlink()
    keys.save_public_key(tmp_path / "officer.pub", keys.generate().public_key())
    with pytest.raises(KeyFileError, match="does not match"):
        kd.load("officer", PASS)


def test_keydir_wrong_passphrase_and_missing(tmp_path: Path) -> None:
    kd = keys.KeyDir(tmp_path)
    kd.create("officer", PASS)
    with pytest.raises(KeyFileError, match="wrong passphrase"):
        kd.load("officer", b"wrong")
    with pytest.raises(KeyFileError, match="does not exist"):
        kd.load("nobody", PASS)


def test_keydir_configuration_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="does not exist"):
        keys.KeyDir(tmp_path / "missing").names()
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(ConfigurationError, match="not a directory"):
        keys.KeyDir(tmp_path / "file").create("officer", PASS)


def test_keydir_names_ignores_other_files(tmp_path: Path) -> None:
    for n in ["a.key", "b.pub", "notes.txt", ".k.key.x1.tmp", "bad name.key"]:
        (tmp_path / n).write_bytes(b"")
    assert keys.KeyDir(tmp_path).names() == ["a", "b"]


def test_errors_are_ledger_errors() -> None:
    assert issubclass(KeyFileError, LedgerError)
    assert issubclass(ConfigurationError, LedgerError)


def test_grant_and_revoke_statements_are_accepted_by_a_ledger(tmp_path: Path) -> None:
    from keys import generate, grant, key_id, raw_public_key, revoke
    from ledger.pilkada.scenario import Scenario
    from ledger.store.application import Ledger

    s = Scenario()
    ledger = Ledger.create(f"sqlite:{tmp_path / 'l.db'}", s.trust())
    try:
        subject = raw_public_key(generate())
        accepted = ledger.append(
            grant(s.kpu, subject, "kpu-kab", "33.16", "KPU Blora", election=s.election, time=1).raw
        )
        assert accepted.stream == f"key:{key_id(subject).hex()}" and accepted.seq == 1
        head = ledger.head(accepted.stream)
        revoked = ledger.append(
            revoke(s.kpu, subject, "handed over", election=s.election, time=2, head=head).raw
        )
        assert revoked.seq == 2
    finally:
        ledger.close()
