"""Ed25519 signing keys for the ledger: signer ids, key files and key directories.

The implementation lives in :mod:`keys._files`; this package re-exports the
small public API so callers do not depend on the module layout.
"""

from keys._files import (
    RAW_PUBLIC_KEY_SIZE,
    KeyDir,
    generate,
    key_id,
    key_id_hex,
    load_private_key,
    load_public_key,
    passphrase_from,
    public_key_from_raw,
    raw_public_key,
    save_private_key,
    save_public_key,
)
from keys.statements import grant, revoke

__all__ = [
    "RAW_PUBLIC_KEY_SIZE",
    "KeyDir",
    "generate",
    "grant",
    "key_id",
    "key_id_hex",
    "load_private_key",
    "load_public_key",
    "passphrase_from",
    "public_key_from_raw",
    "raw_public_key",
    "revoke",
    "save_private_key",
    "save_public_key",
]
