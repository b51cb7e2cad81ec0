"""The signature rules docs/format.md pins: RFC 8032 Ed25519, with libsodium's strict checks."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.errors import FormatError, InvalidSignature
from ledger.format import ed25519

# RFC 8032 section 7.1, TEST 1 (empty message): published, so kept as the anchor.
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
L = 2**252 + 27742317777372353535851937790883648493  # the group order


def test_rfc8032_test_1_signs_and_verifies() -> None:
    key = Ed25519PrivateKey.from_private_bytes(RFC8032_SECRET)
    assert ed25519.public_bytes(key) == RFC8032_PUBLIC
    assert ed25519.sign(key, b"") == RFC8032_SIGNATURE
    ed25519.verify(RFC8032_PUBLIC, RFC8032_SIGNATURE, b"")


def test_a_signature_over_another_message_is_rejected() -> None:
    with pytest.raises(InvalidSignature):
        ed25519.verify(RFC8032_PUBLIC, RFC8032_SIGNATURE, b"x")


def test_a_small_order_public_key_is_rejected() -> None:
    # The identity point as a public key, with R = identity and S = 0: this
    # "verifies" under the bare equation for every message; the strict rules refuse it.
    identity = bytes([1]) + bytes(31)
    with pytest.raises(InvalidSignature):
        ed25519.verify(identity, identity + bytes(32), b"any message at all")


def test_a_non_canonical_s_is_rejected() -> None:
    r, s = RFC8032_SIGNATURE[:32], int.from_bytes(RFC8032_SIGNATURE[32:], "little")
    malleated = r + (s + L).to_bytes(32, "little")
    with pytest.raises(InvalidSignature):
        ed25519.verify(RFC8032_PUBLIC, malleated, b"")


@pytest.mark.parametrize("size", [0, 31, 33])
def test_a_public_key_of_the_wrong_size_is_a_format_error(size: int) -> None:
    with pytest.raises(FormatError, match="32 bytes"):
        ed25519.verify(bytes(size), RFC8032_SIGNATURE, b"")


@pytest.mark.parametrize("size", [0, 63, 65])
def test_a_signature_of_the_wrong_size_is_rejected(size: int) -> None:
    with pytest.raises(InvalidSignature, match="64 bytes"):
        ed25519.verify(RFC8032_PUBLIC, bytes(size), b"")
