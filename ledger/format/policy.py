"""The trust policy a verdict rests on: c2sp.org/tlog-policy.

A policy names the logs whose checkpoints are accepted, the witnesses whose
cosignatures count, and the quorum: which subsets of those witnesses must have
cosigned a checkpoint for it to be *witnessed*. Syntax (docs/format.md 8.10,
following the C2SP text; every deviation from it is an error, naming its line)::

    log <vkey> [<url>]
    witness <name> <vkey> [<url>]
    group <name> all|any|<k> <name>...
    quorum <name>|none

Lines end in a newline; items are separated by spaces and tabs; blank lines and
lines whose first non-blank character is ``#`` are ignored. Only octets 0x09,
0x0A, 0x20-0x7E and 0x80-0xFF occur. Witness and group names share one
namespace, are opaque octet strings (here: decoded with ``surrogateescape``) and
are defined before use; ``none`` is reserved for ``quorum none``. A group of n
members needs k of them (``any``: 1, ``all``: n, else 1 <= k <= n in decimal
without leading zeros); members are listed at most once. Exactly one quorum
line. No two logs, or two witnesses, wrap the same public key.

:func:`parse_policy` reads a policy; :meth:`TlogPolicy.verify_quorum` is the
pure check that a checkpoint note meets it. ``quorum none`` is honoured only
when written so, and :attr:`TlogPolicy.unwitnessed` lets every verdict say that
the history it vouches for is then not independently witnessed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ledger.errors import (
    ConfigurationError,
    FormatError,
    LedgerError,
    UnverifiedNoteError,
    UnwitnessedError,
)
from ledger.format.note import SIG_TYPE_COSIGNATURE_V1, SIG_TYPE_ED25519, Verifier, open_note

__all__ = [
    "MAX_POLICY_BYTES",
    "QUORUM_NONE",
    "TlogPolicy",
    "parse_policy",
    "policy_text",
]

#: Limits (tlog-policy recommends supporting at least 32 of each).
MAX_POLICY_BYTES = 64 * 1024
MAX_LOGS = 64
MAX_WITNESSES = 64
MAX_GROUPS = 64
#: The reserved name of the empty quorum.
QUORUM_NONE = "none"

_ALLOWED = re.compile(rb"[^\x09\x0a\x20-\x7e\x80-\xff]")
_BLANKS = re.compile(rb"[ \t]+")
_THRESHOLD = re.compile(r"[1-9][0-9]{0,5}")


@dataclass(frozen=True)
class _Group:
    threshold: int
    members: tuple[str, ...]


@dataclass(frozen=True)
class TlogPolicy:
    """A parsed c2sp.org/tlog-policy (see the module docstring)."""

    logs: tuple[Verifier, ...]
    witnesses: Mapping[str, Verifier]  # policy name -> cosignature/v1 key
    groups: Mapping[str, _Group]
    quorum: str  # a witness or group name, or QUORUM_NONE
    #: policy name -> the witness's submission prefix, for the witnesses whose line gives one
    urls: Mapping[str, str] = field(default_factory=dict)

    @property
    def unwitnessed(self) -> bool:
        """Whether the quorum is ``none``: checkpoints need no cosignature at all."""
        return self.quorum == QUORUM_NONE

    def require_log(self, log_vkey: str) -> None:
        """Raise ConfigurationError unless the policy's log lines name exactly this log key."""
        log = Verifier.parse(log_vkey)
        if not self.logs:
            raise ConfigurationError(
                "the trust policy has no log line: it must name the ledger's log key"
            )
        for listed in self.logs:
            if listed != log:
                raise ConfigurationError(
                    f"the trust policy's log {listed.vkey} is not the ledger's log key {log_vkey}"
                )

    def describe(self) -> str:
        """The quorum in words, for verdicts."""
        if self.unwitnessed:
            return "quorum none: NOT independently witnessed"
        return f"quorum {self._describe(self.quorum)}"

    def _describe(self, name: str) -> str:
        if name in self.witnesses:
            return self.witnesses[name].name
        group = self.groups[name]
        members = ", ".join(self._describe(m) for m in group.members)
        return f"{group.threshold} of ({members})"

    def cosigners(self, note: bytes, log: Verifier) -> tuple[Verifier, ...]:
        """The policy's witnesses whose cosignatures on ``note`` verify, in policy order. Pure.

        Raises UnverifiedNoteError if ``log`` did not sign the note, and NoteError
        for any signature by a policy key that does not verify (as
        c2sp.org/signed-note verifiers do).
        """
        if log not in self.logs:
            raise ConfigurationError(f"the trust policy does not list the log {log.name}")
        _, verified = open_note(note, [log, *self.witnesses.values()])
        if log not in verified:
            raise UnverifiedNoteError(f"the checkpoint is not signed by the log key {log.name}")
        return tuple(key for key in self.witnesses.values() if key in verified)

    def meets(self, cosigners: Iterable[Verifier]) -> bool:
        """Whether these witnesses' cosignatures satisfy the quorum (groups nest)."""
        present = set(cosigners)
        cosigned = {name for name, key in self.witnesses.items() if key in present}
        return self.unwitnessed or self._met(self.quorum, cosigned)

    def verify_quorum(self, note: bytes, log: Verifier) -> tuple[Verifier, ...]:
        """Check that ``note`` is signed by ``log`` and cosigned as the quorum demands. Pure.

        Returns the cosigners (:meth:`cosigners`, whose errors it raises), or raises
        UnwitnessedError if they do not satisfy the quorum (tlog-policy,
        "Defining the quorum" and "Defining a witness group").
        """
        cosigners = self.cosigners(note, log)
        if not self.meets(cosigners):
            names = ", ".join(w.name for w in cosigners) or "no witness of the policy"
            raise UnwitnessedError(
                f"checkpoint cosigned by {names}; the trust policy needs "
                f"{self._describe(self.quorum)}"
            )
        return cosigners

    def _met(self, name: str, cosigned: set[str]) -> bool:
        if name in self.witnesses:
            return name in cosigned
        group = self.groups[name]
        return sum(self._met(m, cosigned) for m in group.members) >= group.threshold


def _vkey(token: bytes, sig_type: int, what: str) -> Verifier:
    try:
        verifier = Verifier.parse(token.decode("ascii"))
    except (UnicodeDecodeError, LedgerError) as e:
        raise FormatError(f"{what} is not a verifier key ({e})") from None
    if verifier.sig_type != sig_type:
        raise FormatError(
            f"{what} has signature type 0x{verifier.sig_type:02x}, not 0x{sig_type:02x}"
        )
    return verifier


def parse_policy(data: bytes | str) -> TlogPolicy:
    """Parse a tlog-policy file; every malformed line is a FormatError naming it."""
    if isinstance(data, str):
        data = data.encode("utf-8", "surrogateescape")
    if len(data) > MAX_POLICY_BYTES:
        raise FormatError(f"trust policy is over {MAX_POLICY_BYTES} bytes")
    logs: list[Verifier] = []
    witnesses: dict[str, Verifier] = {}
    urls: dict[str, str] = {}
    groups: dict[str, _Group] = {}
    quorum: str | None = None
    keys: dict[bytes, str] = {}  # public key -> where it was defined
    lines = data.split(b"\n")
    if lines[-1]:
        raise FormatError(f"trust policy line {len(lines)}: not terminated by a newline")
    for number, line in enumerate(lines[:-1], start=1):
        try:
            bad = _ALLOWED.search(line)
            if bad:
                raise FormatError(f"control character 0x{bad.group()[0]:02x}")
            words = _BLANKS.split(line.strip(b" \t"))
            if words == [b""] or words[0].startswith(b"#"):
                continue
            keyword, args = words[0], words[1:]
            if keyword == b"log":
                if len(args) not in (1, 2):
                    raise FormatError("expected: log <vkey> [<url>]")
                log = _vkey(args[0], SIG_TYPE_ED25519, "the log key")
                _unique_key(keys, log, f"log {log.name}")
                logs.append(log)
                if len(logs) > MAX_LOGS:
                    raise FormatError(f"more than {MAX_LOGS} logs")
            elif keyword == b"witness":
                if len(args) not in (2, 3):
                    raise FormatError("expected: witness <name> <vkey> [<url>]")
                name = _new_name(args[0], witnesses, groups)
                witness = _vkey(args[1], SIG_TYPE_COSIGNATURE_V1, f"the key of witness {name}")
                _unique_key(keys, witness, f"witness {name}")
                witnesses[name] = witness
                if len(args) == 3:
                    urls[name] = _url(args[2], name)
                if len(witnesses) > MAX_WITNESSES:
                    raise FormatError(f"more than {MAX_WITNESSES} witnesses")
            elif keyword == b"group":
                if len(args) < 3:
                    raise FormatError("expected: group <name> all|any|<k> <name>...")
                name = _new_name(args[0], witnesses, groups)
                members = tuple(_defined(m, witnesses, groups) for m in args[2:])
                if len(set(members)) != len(members):
                    raise FormatError(f"group {name} lists a member twice")
                groups[name] = _Group(_threshold(args[1], len(members)), members)
                if len(groups) > MAX_GROUPS:
                    raise FormatError(f"more than {MAX_GROUPS} groups")
            elif keyword == b"quorum":
                if len(args) != 1:
                    raise FormatError("expected: quorum <name>|none")
                if quorum is not None:
                    raise FormatError("a second quorum line")
                named = _name(args[0])
                quorum = named if named == QUORUM_NONE else _defined(args[0], witnesses, groups)
            else:
                raise FormatError(f"unknown keyword {_name(keyword)!r}")
        except FormatError as e:
            raise FormatError(f"trust policy line {number}: {e}") from None
    if quorum is None:
        raise FormatError("trust policy has no quorum line (write `quorum none` to need none)")
    return TlogPolicy(tuple(logs), witnesses, groups, quorum, urls)


def _url(token: bytes, name: str) -> str:
    """A witness's URL: its submission prefix (c2sp.org/tlog-witness), http or https."""
    try:
        url = token.decode("ascii")
    except UnicodeDecodeError:
        raise FormatError(f"the URL of witness {name} is not ASCII") from None
    if not url.startswith(("http://", "https://")) or len(url) <= len("https://"):
        raise FormatError(f"the URL of witness {name} is not an http:// or https:// URL")
    return url


def _name(token: bytes) -> str:
    return token.decode("utf-8", "surrogateescape")


def _new_name(token: bytes, witnesses: Mapping[str, Verifier], groups: Mapping[str, _Group]) -> str:
    name = _name(token)
    if name == QUORUM_NONE:
        raise FormatError("the name none is reserved")
    if name in witnesses or name in groups:
        raise FormatError(f"{name!r} is already defined")
    return name


def _defined(token: bytes, witnesses: Mapping[str, Verifier], groups: Mapping[str, _Group]) -> str:
    name = _name(token)
    if name not in witnesses and name not in groups:
        raise FormatError(f"{name!r} is not a witness or group defined above")
    return name


def _threshold(token: bytes, members: int) -> int:
    if token == b"all":
        return members
    if token == b"any":
        return 1
    text = _name(token)
    if not _THRESHOLD.fullmatch(text) or not 1 <= int(text) <= members:
        raise FormatError(f"threshold {text!r} is not all, any or a number from 1 to {members}")
    return int(text)


def _unique_key(keys: dict[bytes, str], verifier: Verifier, where: str) -> None:
    if verifier.public_key in keys:
        raise FormatError(f"{where} has the same public key as {keys[verifier.public_key]}")
    keys[verifier.public_key] = where


def policy_text(log_vkey: str, witness_vkeys: Sequence[str]) -> str:
    """The policy that needs every one of ``witness_vkeys`` (named by their key names).

    A policy that needs no witness is never written by default: pass at least
    one witness, or write ``quorum none`` yourself.
    """
    if not witness_vkeys:
        raise ConfigurationError("a trust policy needs at least one witness (or `quorum none`)")
    witnesses = [Verifier.parse(v) for v in witness_vkeys]
    lines = [f"log {log_vkey}"]
    lines += [f"witness {w.name} {w.vkey}" for w in witnesses]
    if len(witnesses) == 1:
        lines.append(f"quorum {witnesses[0].name}")
    else:
        lines.append(f"group witnesses all {' '.join(w.name for w in witnesses)}")
        lines.append("quorum witnesses")
    return "\n".join(lines) + "\n"
