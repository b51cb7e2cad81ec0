"""Who may sign what: the grant rules of docs/format.md ("Authority"), as pure code.

Trust roots are pinned when a ledger is created (the KPU root and the Bawaslu
root). Every other key is granted by a ``grant`` statement at seq 1 of its own
stream ``key:<key id hex>``, signed by its granter, and may be revoked by a
``revoke`` statement later in that stream, signed by its granter or by the root
at the top of its chain. This module decides, given the signer's record and the
statement, whether the statement is allowed; it reads nothing and stores nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ledger.errors import (
    LedgerError,
    OutOfScopeError,
    RevokedKeyError,
    SchemaError,
    UnauthorizedError,
)
from ledger.format.aftercount import (
    AFTERCOUNT_KINDS,
    BAWASLU_KAB,
    BAWASLU_PROV,
    BAWASLU_ROLES,
    PANWASLU_KEC,
    authorize_aftercount,
    authorize_attest,
)
from ledger.format.recap import recap_inputs
from ledger.format.regions import (
    KABKOTA,
    KECAMATAN,
    PROVINCE,
    TPS,
    covers,
    kecamatan_of,
    level_of,
    parse_stream_id,
)
from ledger.format.schema import Contest
from ledger.format.statement import Statement, key_id

__all__ = ["BAWASLU_ROOT", "DETERMINES", "KPU_ROOT", "Signer", "authorize", "signer_from_grant"]

KPU_ROOT = "kpu-root"
BAWASLU_ROOT = "bawaslu-root"

# Which role may grant which roles. Scope containment is checked separately.
GRANTS: Mapping[str, frozenset[str]] = {
    KPU_ROOT: frozenset({"kpu-prov", "kpu-kab", "paslon"}),
    "kpu-prov": frozenset({"ppk", "kpps"}),
    "kpu-kab": frozenset({"ppk", "kpps"}),
    BAWASLU_ROOT: frozenset({"panwas", "ptps", BAWASLU_PROV, BAWASLU_KAB, PANWASLU_KEC}),
    # Version 2's Bawaslu hierarchy: each level may grant the levels below it.
    BAWASLU_PROV: frozenset({BAWASLU_KAB, PANWASLU_KEC, "ptps"}),
    BAWASLU_KAB: frozenset({PANWASLU_KEC, "ptps"}),
    PANWASLU_KEC: frozenset({"ptps"}),
    "paslon": frozenset({"saksi"}),
}


@dataclass(frozen=True, slots=True)
class Signer:
    """What the ledger knows of a key: its role, scope and standing."""

    key_id: bytes
    public_key: bytes
    role: str
    scope: str
    root: bytes  # key id of the root at the top of the grant chain
    granter: bytes | None = None
    contest: str | None = None
    pair: int | None = None
    revoked: bool = False
    label: str = ""

    def describe(self) -> str:
        who = f"{self.role} {self.scope}" if self.scope else self.role
        if self.contest:
            who += f" ({self.contest} pair {self.pair})"
        return f"{who} key {self.key_id.hex()[:16]}"


def root_signer(public_key: bytes, role: str) -> Signer:
    kid = key_id(public_key)
    return Signer(key_id=kid, public_key=public_key, role=role, scope="", root=kid)


def signer_from_grant(grant: Statement, granter: Signer, *, revoked: bool) -> Signer:
    """The signer record a (previously authorized) grant statement creates."""
    body = grant.body
    return Signer(
        key_id=key_id(body["key"]),
        public_key=body["key"],
        role=body["role"],
        scope=body["scope"],
        root=granter.root,
        granter=granter.key_id,
        contest=body.get("contest"),
        pair=body.get("pair"),
        revoked=revoked,
        label=body["label"],
    )


def _deny(signer: Signer, what: str) -> UnauthorizedError:
    return UnauthorizedError(f"{signer.describe()} may not {what}")


def _authorize_grant(
    statement: Statement, signer: Signer, contest: Callable[[str], Contest]
) -> None:
    body = statement.body
    role, scope = body["role"], body["scope"]
    if role not in GRANTS.get(signer.role, frozenset()):
        raise _deny(signer, f"grant role {role}")
    if role == "paslon":
        pair_contest = contest(body["contest"])
        if body["pair"] not in pair_contest.pairs or body["pair"] == pair_contest.kolom_kosong:
            raise SchemaError(f"contest {pair_contest.id} has no candidate pair {body['pair']}")
        if scope != pair_contest.region:
            raise OutOfScopeError(f"a paslon grant's scope must be its contest region {scope}")
    elif role == "saksi":
        if (body["contest"], body["pair"]) != (signer.contest, signer.pair):
            raise OutOfScopeError(
                f"{signer.describe()} may grant saksi only for its own pair "
                f"{signer.contest} {signer.pair}"
            )
        if not contest(body["contest"]).covers(scope):
            raise OutOfScopeError(f"saksi scope {scope} is outside contest {body['contest']}")
    elif not covers(signer.scope, scope):
        raise OutOfScopeError(f"{signer.describe()} may not grant outside its scope: {scope}")


def authorize(
    statement: Statement,
    signer: Signer,
    *,
    contest: Callable[[str], Contest],
    subject: Signer | None = None,
) -> None:
    """Raise unless ``signer`` may make ``statement`` in its stream.

    ``contest(id)`` returns a defined contest (or raises); ``subject`` is the key
    a ``revoke`` names. Preconditions: the signature is verified and
    ``signer.key_id == statement.signer``; the body passed its schema check.
    """
    if signer.revoked:
        raise RevokedKeyError(f"{signer.describe()} was revoked; it can sign nothing more")
    parts = parse_stream_id(statement.stream)
    kind = statement.kind
    stream_type = parts[0]
    if stream_type == "election":
        wanted = "election" if statement.seq == 1 else "contest"
        if kind != wanted:
            raise SchemaError(f"seq {statement.seq} of the election stream must be {wanted!r}")
        if signer.role != KPU_ROOT:
            raise _deny(signer, "define the election or its contests")
        if kind == "contest":
            try:
                contest(statement.body["contest"])
            except LedgerError:
                return
            raise SchemaError(f"contest {statement.body['contest']} is already defined")
        return
    if stream_type == "key":
        _authorize_key_stream(statement, signer, parts[1], contest=contest, subject=subject)
        return
    contest_id, place = parts[1], parts[2]
    defined = contest(contest_id)
    if stream_type == "result":
        _authorize_determination(kind, signer, defined)
        return
    if kind in AFTERCOUNT_KINDS:
        authorize_aftercount(statement, signer, stream_type, place)
        return
    if kind == "attest" and authorize_attest(statement, signer, stream_type, place):
        if signer.role == "saksi" and signer.contest != contest_id:
            raise OutOfScopeError(f"{signer.describe()} is not a saksi in {contest_id}")
        return
    if stream_type == "recap":
        if kind != "recap":
            raise SchemaError(f"a recap stream holds only recaps, not {kind!r}")
        if signer.role not in ("ppk", "kpu-kab", "kpu-prov"):
            raise _deny(signer, "sign a recap")
        if signer.scope != place:
            raise OutOfScopeError(f"{signer.describe()} may not sign the recap of {place}")
        _check_recap_inputs(recap_inputs(statement), contest_id, place)
        return
    _authorize_sheet(kind, signer, defined, place)


# Who determines a contest's result (UU 10/2016 Art. 107, 109): the KPU of its region.
DETERMINES = {"gubernur": "kpu-prov", "bupati": "kpu-kab", "walikota": "kpu-kab"}


def _authorize_determination(kind: str, signer: Signer, contest: Contest) -> None:
    if kind != "determination":
        raise SchemaError(f"a result stream holds only determinations, not {kind!r}")
    if signer.role != DETERMINES[contest.office]:
        raise _deny(signer, f"determine the result of {contest.id}")
    if signer.scope != contest.region:
        raise OutOfScopeError(f"{signer.describe()} may not determine the result of {contest.id}")


# What a recap at each level sums: sheets for a kecamatan, recaps one level down above.
_RECAP_INPUTS = {
    KECAMATAN: ("sheet", TPS),
    KABKOTA: ("recap", KECAMATAN),
    PROVINCE: ("recap", KABKOTA),
}


def _check_recap_inputs(inputs: list[tuple[str, bytes]], contest_id: str, region: str) -> None:
    stream_type, level = _RECAP_INPUTS[level_of(region)]
    for stream, _ in inputs:
        parts = parse_stream_id(stream)
        if parts[0] != stream_type or parts[1] != contest_id:
            raise SchemaError(
                f"a recap of {region} sums {stream_type} streams of {contest_id}, not {stream}"
            )
        if level_of(parts[2]) != level or not covers(region, parts[2]):
            raise SchemaError(f"recap input {stream} is not a {level} inside {region}")


def _authorize_key_stream(
    statement: Statement,
    signer: Signer,
    subject_hex: str,
    *,
    contest: Callable[[str], Contest],
    subject: Signer | None,
) -> None:
    kind = statement.kind
    if statement.seq == 1:
        if kind != "grant":
            raise SchemaError("seq 1 of a key stream must be the key's grant")
        if key_id(statement.body["key"]).hex() != subject_hex:
            raise SchemaError(f"grant.key does not hash to the stream's key id {subject_hex}")
        _authorize_grant(statement, signer, contest)
        return
    if kind != "revoke":
        raise SchemaError(f"after its grant, a key stream holds only a revoke, not {kind!r}")
    if statement.body["key"].hex() != subject_hex or subject is None:
        raise SchemaError(f"revoke.key must be the stream's key id {subject_hex}")
    if subject.revoked:
        raise RevokedKeyError(f"key {subject_hex[:16]} is already revoked")
    if signer.key_id not in (subject.granter, subject.root):
        raise _deny(signer, f"revoke {subject.describe()} (only its granter or root may)")


def _authorize_sheet(kind: str, signer: Signer, contest: Contest, tps: str) -> None:
    role = signer.role
    if kind == "count":
        if role != "kpps":
            raise _deny(signer, "sign a count")
        if signer.scope != tps:
            raise OutOfScopeError(f"{signer.describe()} may not count TPS {tps}")
    elif kind == "attest":
        if role == "saksi":
            if signer.contest != contest.id:
                raise OutOfScopeError(f"{signer.describe()} is not a saksi in {contest.id}")
            if not covers(signer.scope, tps):
                raise OutOfScopeError(f"{signer.describe()} may not attest at TPS {tps}")
        elif role == "panwas" or role in BAWASLU_ROLES:
            if not covers(signer.scope, tps):
                raise OutOfScopeError(f"{signer.describe()} may not attest at TPS {tps}")
        else:
            raise _deny(signer, "attest a sheet")
    elif kind == "correct":
        if role == "ppk":
            if signer.scope != kecamatan_of(tps):
                raise OutOfScopeError(f"{signer.describe()} may not correct TPS {tps}")
        elif role == "kpu-kab" and level_of(signer.scope) == KABKOTA:
            if not covers(signer.scope, tps):
                raise OutOfScopeError(f"{signer.describe()} may not correct TPS {tps}")
        else:
            raise _deny(signer, "correct a sheet")
    else:
        raise SchemaError(f"a sheet stream holds count, attest or correct, not {kind!r}")
