"""Schemathesis hooks (SCHEMATHESIS_HOOKS): the service's vendor body types are raw bytes."""

from __future__ import annotations

import schemathesis

from ledger.server.wire import BATCH_TYPE, ENVELOPE_TYPE

for media_type in (ENVELOPE_TYPE, BATCH_TYPE):
    schemathesis.serializer.alias(media_type, "application/octet-stream")
