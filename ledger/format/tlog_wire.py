"""The C2SP text formats around checkpoints: tlog-witness bodies and tlog-proof files.

Pure format (docs/format.md 8.15, 8.16), shared by the witness service, the log's
witness client and the offline verifier:

* c2sp.org/tlog-witness ``add-checkpoint`` request body: ``old <size>\\n``, zero
  to 63 consistency proof lines (base64 of one 32-byte hash each), an empty
  line, then the signed checkpoint note verbatim; and the body of a 409
  answer, ``<size>\\n`` with Content-Type ``text/x.tlog.size``.
* c2sp.org/tlog-proof@v1 file: ``c2sp.org/tlog-proof@v1\\n``, an optional
  ``extra <base64>\\n``, ``index <decimal>\\n``, zero or more inclusion proof
  lines, an empty line, then the signed checkpoint note verbatim.

Parsing is strict: decimals without leading zeros (``0`` alone), canonical
standard base64 (as in signed notes), every line ending in ``\\n``. A parser
raises :class:`~ledger.errors.FormatError` naming what is wrong; the note after
the empty line is parsed and verified by whoever checks it, not here.
"""

from __future__ import annotations

import base64
import re
from dataclasses import dataclass

from ledger.errors import FormatError
from ledger.format.note import decode_base64

__all__ = [
    "ADD_CHECKPOINT_PATH",
    "MAX_INCLUSION_PROOF_LINES",
    "MAX_WITNESS_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "TLOG_PROOF_HEADER",
    "AddCheckpointRequest",
    "TlogProofFile",
    "encode_size",
    "parse_size",
]

#: The tlog-witness submission path, under the witness's submission prefix.
ADD_CHECKPOINT_PATH = "/add-checkpoint"
#: The Content-Type of a 409 answer carrying the witness's tree size.
SIZE_CONTENT_TYPE = "text/x.tlog.size"
#: tlog-witness: a client MUST NOT send more consistency proof lines than this.
MAX_WITNESS_PROOF_LINES = 63
#: An inclusion proof in a tree of at most 2^64 - 1 leaves has at most 64 hashes.
MAX_INCLUSION_PROOF_LINES = 64
#: The first line of a tlog-proof file (without its newline).
TLOG_PROOF_HEADER = "c2sp.org/tlog-proof@v1"

_HASH_SIZE = 32
_MAX_SIZE = 2**64 - 1
_DECIMAL = re.compile("0|[1-9][0-9]*")
_EXTRA = "extra "
_INDEX = "index "
_OLD = "old "


def _decimal(text: str, what: str) -> int:
    if not _DECIMAL.fullmatch(text) or int(text) > _MAX_SIZE:
        raise FormatError(
            f"{what} {text[:24]!r} is not a decimal in 0..2^64-1 without leading zeros"
        )
    return int(text)


def _b64(text: str, what: str) -> bytes:
    return decode_base64(text, what, FormatError)


def _hash_lines(lines: list[str], what: str) -> tuple[bytes, ...]:
    hashes = []
    for number, line in enumerate(lines, start=1):
        value = _b64(line, f"{what} line {number}")
        if len(value) != _HASH_SIZE:
            raise FormatError(f"{what} line {number} is not a 32-byte hash")
        hashes.append(value)
    return tuple(hashes)


def _split_head(data: bytes, kind: str) -> tuple[list[str], bytes]:
    """The lines before the first empty line (ASCII, without newlines), and what follows it."""
    end = data.find(b"\n\n")
    if end < 0:
        raise FormatError(f"{kind}: no empty line before the checkpoint")
    try:
        head = data[:end].decode("ascii")
    except UnicodeDecodeError as e:
        raise FormatError(f"{kind}: the lines before the checkpoint are not ASCII") from e
    note = data[end + 2 :]
    if not note:
        raise FormatError(f"{kind}: no checkpoint after the empty line")
    return head.split("\n"), note


@dataclass(frozen=True)
class AddCheckpointRequest:
    """A c2sp.org/tlog-witness ``add-checkpoint`` request body."""

    old_size: int
    proof: tuple[bytes, ...]
    """Consistency proof from ``old_size`` to the checkpoint's size (RFC 6962 2.1.2)."""
    checkpoint: bytes
    """The signed checkpoint note, verbatim (it may carry several signatures)."""

    def to_bytes(self) -> bytes:
        """The request body. Raises FormatError for what the spec forbids a client to send."""
        if isinstance(self.old_size, bool) or not 0 <= self.old_size <= _MAX_SIZE:
            raise FormatError(f"old size {self.old_size!r} is outside 0..2^64-1")
        if len(self.proof) > MAX_WITNESS_PROOF_LINES:
            raise FormatError(f"a consistency proof of {len(self.proof)} hashes is over 63")
        if any(len(h) != _HASH_SIZE for h in self.proof):
            raise FormatError("a consistency proof hash is not 32 bytes")
        lines = [f"{_OLD}{self.old_size}", *(base64.b64encode(h).decode() for h in self.proof)]
        return "".join(line + "\n" for line in lines).encode("ascii") + b"\n" + self.checkpoint

    @classmethod
    def parse(cls, body: bytes) -> AddCheckpointRequest:
        """Parse a request body (tlog-witness, "add-checkpoint"); FormatError if malformed."""
        lines, note = _split_head(body, "add-checkpoint body")
        first, proof_lines = lines[0], lines[1:]
        if not first.startswith(_OLD):
            raise FormatError("add-checkpoint body: the first line is not `old <size>`")
        old_size = _decimal(first[len(_OLD) :], "old size")
        if len(proof_lines) > MAX_WITNESS_PROOF_LINES:
            raise FormatError(
                f"add-checkpoint body: {len(proof_lines)} consistency proof lines, over 63"
            )
        return cls(old_size, _hash_lines(proof_lines, "consistency proof"), note)


def encode_size(size: int) -> bytes:
    """The body of a 409 answer: the witness's tree size in decimal and a newline."""
    return f"{size}\n".encode("ascii")


def parse_size(body: bytes) -> int:
    """Parse the body of a 409 answer (``text/x.tlog.size``); FormatError if malformed."""
    try:
        text = body.decode("ascii")
    except UnicodeDecodeError as e:
        raise FormatError("tree size answer is not ASCII") from e
    if not text.endswith("\n"):
        raise FormatError("tree size answer does not end with a newline")
    return _decimal(text[:-1], "tree size answer")


@dataclass(frozen=True)
class TlogProofFile:
    """A c2sp.org/tlog-proof@v1 file, parsed but not verified."""

    extra: bytes | None
    """Opaque extra data; in this project the envelope whose leaf the proof proves."""
    index: int
    proof: tuple[bytes, ...]
    """Inclusion proof, from the leaf's sibling up to the root's child (RFC 6962 2.1.1)."""
    checkpoint: bytes
    """The signed (and cosigned) checkpoint note, verbatim."""

    def to_bytes(self) -> bytes:
        """The file's bytes."""
        if isinstance(self.index, bool) or not 0 <= self.index <= _MAX_SIZE:
            raise FormatError(f"index {self.index!r} is outside 0..2^64-1")
        if len(self.proof) > MAX_INCLUSION_PROOF_LINES or any(
            len(h) != _HASH_SIZE for h in self.proof
        ):
            raise FormatError("an inclusion proof is at most 64 hashes of 32 bytes")
        lines = [TLOG_PROOF_HEADER]
        if self.extra is not None:
            lines.append(_EXTRA + base64.b64encode(self.extra).decode())
        lines.append(f"{_INDEX}{self.index}")
        lines += [base64.b64encode(h).decode() for h in self.proof]
        return "".join(line + "\n" for line in lines).encode("ascii") + b"\n" + self.checkpoint

    @classmethod
    def parse(cls, data: bytes) -> TlogProofFile:
        """Parse a tlog-proof file (c2sp.org/tlog-proof, "Format"); FormatError if malformed."""
        lines, note = _split_head(data, "tlog-proof")
        if lines[0] != TLOG_PROOF_HEADER:
            raise FormatError(f"tlog-proof: the first line is not {TLOG_PROOF_HEADER}")
        rest = lines[1:]
        extra = None
        if rest and rest[0].startswith(_EXTRA):
            extra = _b64(rest[0][len(_EXTRA) :], "tlog-proof extra data")
            rest = rest[1:]
        if not rest or not rest[0].startswith(_INDEX):
            raise FormatError("tlog-proof: no `index <n>` line")
        index = _decimal(rest[0][len(_INDEX) :], "tlog-proof index")
        if len(rest) - 1 > MAX_INCLUSION_PROOF_LINES:
            raise FormatError(f"tlog-proof: {len(rest) - 1} inclusion proof lines, over 64")
        return cls(extra, index, _hash_lines(rest[1:], "inclusion proof"), note)
