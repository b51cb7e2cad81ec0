"""Trust roots: what a ledger pins when it is created, and what every verifier needs.

``TrustRoots`` is stored in the ledger's database (canonical msgpack) and
handed to verifiers as a trust roots file, ``trust.json`` (docs/format.md,
"Trust roots file"), which may also embed the trust policy (c2sp.org/tlog-policy,
ledger.format.policy) naming the witnesses whose cosignatures a verdict needs. This
module is a format primitive: the offline verifier uses it without the ledger
application.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from typing import Any

from ledger.errors import ConfigurationError, FormatError
from ledger.format import canonical
from ledger.format.jsoninput import field_str, load_json
from ledger.format.note import SIG_TYPE_ED25519, Verifier

__all__ = ["TrustRoots", "policy_from_json", "trust_from_json", "trust_to_json"]

_WHAT = "trust roots file"


@dataclass(frozen=True, slots=True)
class TrustRoots:
    """What a ledger pins when it is created, and every verifier needs."""

    election: str
    kpu_root: bytes  # raw Ed25519 public key
    bawaslu_root: bytes
    log_vkey: str  # C2SP verifier key of the log ("origin+keyid+base64")
    origin: str

    def to_bytes(self) -> bytes:
        return canonical.encode(
            {
                "election": self.election,
                "kpu_root": self.kpu_root,
                "bawaslu_root": self.bawaslu_root,
                "log_vkey": self.log_vkey,
                "origin": self.origin,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes) -> TrustRoots:
        value = canonical.decode(data)
        try:
            return cls(
                election=value["election"],
                kpu_root=value["kpu_root"],
                bawaslu_root=value["bawaslu_root"],
                log_vkey=value["log_vkey"],
                origin=value["origin"],
            )
        except (KeyError, TypeError) as e:
            raise ConfigurationError(f"trust roots lack field {e}") from e


def trust_to_json(trust: TrustRoots, *, policy: str | None = None) -> str:
    """The trust roots file; ``policy`` is the tlog-policy text it embeds, if any."""
    value: dict[str, Any] = {
        "election": trust.election,
        "origin": trust.origin,
        "kpu_root": base64.b64encode(trust.kpu_root).decode(),
        "bawaslu_root": base64.b64encode(trust.bawaslu_root).decode(),
        "log_vkey": trust.log_vkey,
    }
    if policy is not None:
        value["policy"] = policy
    return json.dumps(value, indent=2) + "\n"


def _root(value: dict[str, Any], name: str) -> bytes:
    try:
        return base64.b64decode(field_str(value, name, _WHAT), validate=True)
    except ValueError as e:  # binascii.Error
        raise FormatError(f'{_WHAT}: "{name}" is not base64') from e


def trust_from_json(text: str | bytes) -> TrustRoots:
    """Parse a trust roots file; FormatError names what is wrong."""
    value = load_json(text, _WHAT)
    trust = TrustRoots(
        election=field_str(value, "election", _WHAT),
        origin=field_str(value, "origin", _WHAT),
        kpu_root=_root(value, "kpu_root"),
        bawaslu_root=_root(value, "bawaslu_root"),
        log_vkey=field_str(value, "log_vkey", _WHAT),
    )
    if len(trust.kpu_root) != 32 or len(trust.bawaslu_root) != 32:
        raise FormatError("trust roots file: root keys must be 32-byte Ed25519 public keys")
    log = Verifier.parse(trust.log_vkey)
    if log.sig_type != SIG_TYPE_ED25519 or log.name != trust.origin:
        raise FormatError(
            "trust roots file: log_vkey must be an Ed25519 note key named by the origin"
        )
    return trust


def policy_from_json(text: str | bytes) -> str | None:
    """The tlog-policy text a trust roots file embeds (its optional "policy"), or None."""
    value = load_json(text, _WHAT)
    if not isinstance(value, dict):
        raise FormatError(f"{_WHAT} must be a JSON object")
    if "witnesses" in value:
        raise FormatError(
            'trust roots file: "witnesses" is no longer read; name the witnesses and the '
            'quorum in its "policy" (docs/format.md 8.10)'
        )
    policy = value.get("policy")
    if policy is not None and not isinstance(policy, str):
        raise FormatError("trust roots file: policy must be the text of a tlog-policy")
    return policy
