"""The service's wire constants: content types, limits, and the batch body (docs/format.md, "HTTP API").

Shared by the server (ledger.server.app) and its clients (ledger.server.client).
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.errors import FormatError
from ledger.log import tiles

__all__ = [
    "BATCH_TYPE",
    "BODY_TIMEOUT_S",
    "ENVELOPE_TYPE",
    "ENVELOPE_TYPES",
    "MAX_BATCH_BYTES",
    "MAX_BATCH_ENVELOPES",
    "MAX_ENVELOPE_BYTES",
    "decode_batch",
    "encode_batch",
]

# Limits (docs/format.md, "HTTP API"). An envelope must fit a tlog-tiles entry bundle.
MAX_ENVELOPE_BYTES = tiles.MAX_ENTRY_SIZE
MAX_BATCH_ENVELOPES = tiles.TILE_WIDTH  # a batch is an entry bundle
MAX_BATCH_BYTES = 4 * 1024 * 1024
BODY_TIMEOUT_S = 10.0  # the whole body must arrive within this, or 408

ENVELOPE_TYPE = "application/vnd.pilkada-ledger.envelope"
ENVELOPE_TYPES = (ENVELOPE_TYPE, "application/octet-stream")
BATCH_TYPE = "application/vnd.pilkada-ledger.bundle"


def decode_batch(body: bytes) -> list[bytes]:
    """A batch body is a tlog-tiles entry bundle: each envelope as a uint16 big-endian
    length and its bytes, at most 256 of them (FormatError otherwise)."""
    raws = tiles.decode_entry_bundle(body)
    if not raws:
        raise FormatError("batch: no envelopes")
    return raws


def encode_batch(raws: Sequence[bytes]) -> bytes:
    """The batch body for ``raws`` (see decode_batch)."""
    return tiles.encode_entry_bundle(raws)
