"""The log's side of c2sp.org/tlog-witness: asking a witness to cosign a checkpoint.

:func:`add_checkpoint` sends one request and returns the witness's answer;
:func:`request_cosignature` is what a checkpointer calls per witness: it starts
from the size it believes the witness holds, answers a 409 by resending from the
witness's size (with a consistency proof from there), and returns only
cosignatures that verify under the witness key it trusts (the spec: "The client
MUST ignore any cosignatures from unknown keys").

A refusal is raised as the exception class the witness refused with
(:mod:`ledger.witness_service.app` maps each to its HTTP status): 404
:class:`~ledger.errors.UnknownLogError`, 403
:class:`~ledger.errors.UnverifiedNoteError`, 409
:class:`~ledger.errors.WitnessConflictError`, 422
:class:`~ledger.errors.InconsistentCheckpointError`, 400
:class:`~ledger.errors.CheckpointError`. A witness that cannot be reached, times
out, or answers anything else raises :class:`~ledger.errors.WitnessUnavailableError`.
Only loopback and the URLs the operator configures are ever contacted.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from email.message import Message
from http import HTTPStatus

from ledger.errors import (
    CheckpointError,
    FormatError,
    InconsistentCheckpointError,
    LedgerError,
    NoteError,
    UnknownLogError,
    UnverifiedNoteError,
    WitnessConflictError,
    WitnessUnavailableError,
)
from ledger.format.note import Checkpoint, Note, Signature, Verifier, open_note, parse_note
from ledger.format.tlog_wire import (
    ADD_CHECKPOINT_PATH,
    SIZE_CONTENT_TYPE,
    AddCheckpointRequest,
    parse_size,
)

__all__ = ["DEFAULT_TIMEOUT", "ConsistencyProofSource", "add_checkpoint", "request_cosignature"]

#: Seconds a witness has to answer one request.
DEFAULT_TIMEOUT = 10.0
#: The most answers read from a witness (cosignature lines are ~130 bytes each).
_MAX_ANSWER_BYTES = 64 * 1024
#: 409 answers followed before giving up (a witness moving on between requests).
_MAX_RESENDS = 3

#: Witnesses are contacted directly, never through a proxy named by the environment.
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))

#: Gives the consistency proof between two tree sizes of the log (old, new).
ConsistencyProofSource = Callable[[int, int], Sequence[bytes]]

_REFUSALS: dict[int, type[LedgerError]] = {
    HTTPStatus.NOT_FOUND: UnknownLogError,
    HTTPStatus.FORBIDDEN: UnverifiedNoteError,
    HTTPStatus.UNPROCESSABLE_ENTITY: InconsistentCheckpointError,
    HTTPStatus.BAD_REQUEST: CheckpointError,
}


def _detail(body: bytes) -> str:
    """The ``detail`` of an RFC 9457 problem, else the start of the body."""
    try:
        problem = json.loads(body)
        if isinstance(problem, dict) and isinstance(problem.get("detail"), str):
            return str(problem["detail"])
    except ValueError:
        pass
    return body[:200].decode("utf-8", "replace").strip()


def _refused(url: str, status: int, headers: Message, body: bytes) -> LedgerError:
    if status == HTTPStatus.CONFLICT:
        if headers.get_content_type() == SIZE_CONTENT_TYPE:
            try:
                size = parse_size(body)
            except FormatError as e:
                return WitnessUnavailableError(f"witness {url}: bad 409 answer: {e}")
            return WitnessConflictError(f"witness {url} holds size {size}", size)
        return WitnessConflictError(f"witness {url} refused: {_detail(body)}", None)
    error = _REFUSALS.get(status)
    if error is None:
        return WitnessUnavailableError(f"witness {url} answered {status}: {_detail(body)}")
    return error(f"witness {url} refused ({status}): {_detail(body)}")


def add_checkpoint(
    url: str,
    old_size: int,
    proof: Sequence[bytes],
    checkpoint: bytes,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> bytes:
    """POST ``<url>/add-checkpoint``; return the cosignature line(s) the witness sent.

    ``url`` is the witness's submission prefix; ``checkpoint`` the signed note;
    ``proof`` the consistency proof from ``old_size`` to its size. The lines are
    checked to be signature lines, not verified (see :func:`request_cosignature`).
    """
    body = AddCheckpointRequest(old_size, tuple(proof), checkpoint).to_bytes()
    request = urllib.request.Request(
        url.rstrip("/") + ADD_CHECKPOINT_PATH,
        data=body,
        method="POST",
        headers={"Content-Type": "text/plain; charset=utf-8"},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            answer: bytes = response.read(_MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as e:
        with e:
            raise _refused(url, e.code, e.headers, e.read(_MAX_ANSWER_BYTES)) from None
    except (urllib.error.URLError, OSError, ValueError) as e:
        raise WitnessUnavailableError(f"witness {url} cannot be reached: {e}") from e
    if len(answer) > _MAX_ANSWER_BYTES:
        raise WitnessUnavailableError(f"witness {url} answered over {_MAX_ANSWER_BYTES} bytes")
    try:
        text = answer.decode("utf-8")
        if not text.endswith("\n"):
            raise NoteError("the answer does not end with a newline")
        for line in text[:-1].split("\n"):
            Signature.parse_line(line)
    except (UnicodeDecodeError, NoteError) as e:
        raise WitnessUnavailableError(
            f"witness {url} answered with something other than signature lines: {e}"
        ) from e
    return answer


def request_cosignature(
    url: str,
    witness: Verifier,
    checkpoint: bytes,
    proofs: ConsistencyProofSource,
    *,
    old_size: int = 0,
    timeout: float = DEFAULT_TIMEOUT,
) -> bytes:
    """Have the witness at ``url`` cosign ``checkpoint``; return the cosigned note.

    Starts from ``old_size`` (the size the caller last had cosigned by this
    witness; 0 if unknown: the witness then answers 409 with its size), and on a
    409 carrying the witness's size resends once more from that size, up to
    three times. ``proofs(old, new)`` gives the consistency proof (not asked for
    from 0 or between equal sizes). Returns the checkpoint note with the
    witness's verified cosignature(s) appended; raises
    :class:`~ledger.errors.UnverifiedNoteError` if none verifies under
    ``witness``, or what :func:`add_checkpoint` raises.
    """
    note = parse_note(checkpoint)
    new_size = Checkpoint.parse(note.text).size
    old, resends = old_size, 0
    while True:
        proof = proofs(old, new_size) if 0 < old < new_size else ()
        try:
            answer = add_checkpoint(url, old, proof, checkpoint, timeout=timeout)
            break
        except WitnessConflictError as e:
            held = e.witness_size
            if held is None or held == old or held > new_size or resends == _MAX_RESENDS:
                raise
            old, resends = held, resends + 1
    lines = answer.decode("utf-8")[:-1].split("\n")  # checked by add_checkpoint
    answered = Note(note.text, tuple(Signature.parse_line(line) for line in lines))
    try:
        open_note(answered.to_bytes(), [witness])
    except NoteError as e:
        raise UnverifiedNoteError(
            f"witness {url}: no valid cosignature by {witness.name}: {e}"
        ) from e
    slot = (witness.name, witness.key_id)
    own = tuple(s for s in answered.signatures if (s.name, s.key_id) == slot)
    kept = tuple(s for s in note.signatures if (s.name, s.key_id) != slot)
    return Note(note.text, (*kept, *own)).to_bytes()
