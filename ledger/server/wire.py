"""The service's wire constants: content types, limits, and the batch body (docs/format.md, "HTTP API").

Shared by the server (ledger.server.app) and its clients (ledger.server.client).
"""

from __future__ import annotations

from ledger.errors import FormatError

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
MAX_ENVELOPE_BYTES = 65_535
MAX_BATCH_ENVELOPES = 1000
MAX_BATCH_BYTES = 4 * 1024 * 1024
BODY_TIMEOUT_S = 10.0  # the whole body must arrive within this, or 408

ENVELOPE_TYPE = "application/vnd.pilkada-ledger.envelope"
ENVELOPE_TYPES = (ENVELOPE_TYPE, "application/octet-stream")
BATCH_TYPE = "application/vnd.pilkada-ledger.bundle"
BATCH_LENGTH_BYTES = 2  # each envelope in a batch: uint16 big-endian length, then the bytes


def decode_batch(body: bytes) -> list[bytes]:
    """A batch body: each envelope as a uint16 big-endian length and its bytes (no padding)."""
    raws: list[bytes] = []
    at = 0
    while at < len(body):
        if at + BATCH_LENGTH_BYTES > len(body):
            raise FormatError(f"batch: a length prefix is cut off at byte {at}")
        length = int.from_bytes(body[at : at + BATCH_LENGTH_BYTES], "big")
        at += BATCH_LENGTH_BYTES
        if at + length > len(body):
            raise FormatError(
                f"batch: envelope {len(raws) + 1} is cut off ({length} bytes declared)"
            )
        raws.append(body[at : at + length])
        at += length
    if not raws:
        raise FormatError("batch: no envelopes")
    return raws


def encode_batch(raws: list[bytes]) -> bytes:
    """The batch body for ``raws`` (see decode_batch)."""
    out = bytearray()
    for raw in raws:
        if len(raw) > MAX_ENVELOPE_BYTES:
            raise FormatError(f"an envelope of {len(raw)} bytes exceeds {MAX_ENVELOPE_BYTES}")
        out += len(raw).to_bytes(BATCH_LENGTH_BYTES, "big") + raw
    return bytes(out)
