"""Ed25519 signing and verification: the one place the backend is chosen.

Every signature check in the project goes through :func:`verify`, so the backend
(pyca/cryptography today) can be measured and swapped in one place (bench/).
Public keys are parsed once and cached: parsing costs about as much as a verify.
"""

from __future__ import annotations

from functools import lru_cache

from cryptography.exceptions import InvalidSignature as _CryptoInvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.errors import FormatError, InvalidSignature

__all__ = ["PUBLIC_KEY_SIZE", "SIGNATURE_SIZE", "public_bytes", "sign", "verify"]

PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64


@lru_cache(maxsize=65536)
def _public_key(raw: bytes) -> Ed25519PublicKey:
    if len(raw) != PUBLIC_KEY_SIZE:
        raise FormatError(f"Ed25519 public key must be {PUBLIC_KEY_SIZE} bytes, got {len(raw)}")
    try:
        return Ed25519PublicKey.from_public_bytes(raw)
    except ValueError as e:
        raise FormatError(f"not an Ed25519 public key: {e}") from e


def verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Raise :class:`InvalidSignature` unless ``signature`` signs ``message``."""
    if len(signature) != SIGNATURE_SIZE:
        raise InvalidSignature(
            f"Ed25519 signature must be {SIGNATURE_SIZE} bytes, got {len(signature)}"
        )
    try:
        _public_key(public_key).verify(signature, message)
    except _CryptoInvalidSignature as e:
        raise InvalidSignature("Ed25519 signature does not verify") from e


def sign(private_key: Ed25519PrivateKey, message: bytes) -> bytes:
    """Sign ``message`` (Ed25519 is deterministic: same key and message, same bytes)."""
    return private_key.sign(message)


def public_bytes(private_key: Ed25519PrivateKey) -> bytes:
    """The raw 32-byte public key of ``private_key``."""
    return private_key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
