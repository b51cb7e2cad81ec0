"""The msgpack transcoder that replaces eventsourcing's JSON one.

It serialises the *stored state* of a domain event (the library's record around
an envelope: the envelope bytes, the aggregate's topic, the time the ledger
received it). That record is not signed and not part of the signed format; the
signed bytes are the envelope, which travels inside it as msgpack bin, byte for
byte. Types msgpack lacks (datetime, UUID) are tagged as eventsourcing's JSON
transcoder tags them: ``{"_type_": name, "_data_": value}``.
"""

from __future__ import annotations

from typing import Any, cast

import msgpack
from eventsourcing.persistence import (
    DatetimeAsISO,
    Transcoder,
    Transcoding,
    TranscodingNotRegisteredError,
    UUIDAsHex,
)

__all__ = ["MsgpackTranscoder"]


class MsgpackTranscoder(Transcoder):
    """eventsourcing Transcoder over msgpack (bytes stay bytes, no base64)."""

    def __init__(self) -> None:
        self.types: dict[type, Transcoding] = {}
        self.names: dict[str, Transcoding] = {}
        self.register(DatetimeAsISO())
        self.register(UUIDAsHex())

    def register(self, transcoding: Transcoding) -> None:
        self.types[transcoding.type] = transcoding
        self.names[transcoding.name] = transcoding

    def encode(self, obj: Any) -> bytes:
        return cast(bytes, msgpack.packb(obj, use_bin_type=True, default=self._encode_obj))

    def decode(self, data: bytes) -> Any:
        return msgpack.unpackb(data, raw=False, object_hook=self._decode_obj)

    def _encode_obj(self, obj: Any) -> dict[str, Any]:
        try:
            transcoding = self.types[type(obj)]
        except KeyError:
            msg = f"object of type {type(obj).__name__} has no registered transcoding"
            raise TranscodingNotRegisteredError(msg) from None
        return {"_type_": transcoding.name, "_data_": transcoding.encode(obj)}

    def _decode_obj(self, d: dict[str, Any]) -> Any:
        if len(d) == 2 and "_type_" in d and "_data_" in d:
            try:
                transcoding = self.names[d["_type_"]]
            except KeyError as e:
                msg = f"no transcoding registered under the name {d['_type_']!r}"
                raise TranscodingNotRegisteredError(msg) from e
            return transcoding.decode(d["_data_"])
        return d
