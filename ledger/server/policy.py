"""The server's trust policy and witness URLs (``ledger serve --witness-url``).

Kept apart from :mod:`ledger.server.app` so that ``ledger serve`` can check them
before the worker processes start without importing the application (whose
metrics must be created after ``PROMETHEUS_MULTIPROC_DIR`` is set).
"""

from __future__ import annotations

from pathlib import Path

from ledger.errors import ConfigurationError
from ledger.format.policy import TlogPolicy, parse_policy
from ledger.format.trust import policy_from_json

__all__ = ["parse_witness_urls", "server_policy"]


def server_policy(directory: Path, log_vkey: str) -> TlogPolicy | None:
    """The trust policy ``DIR/trust.json`` embeds (its witnesses and quorum), or None."""
    text = policy_from_json((directory / "trust.json").read_bytes())
    if text is None:
        return None
    policy = parse_policy(text)
    policy.require_log(log_vkey)
    return policy


def parse_witness_urls(values: list[str]) -> tuple[tuple[str, str], ...]:
    """``--witness-url NAME=URL`` values as (name, url) pairs; ConfigurationError if malformed."""
    pairs = []
    for value in values:
        name, sep, url = value.rpartition("=")
        if not sep or not name or not url.startswith(("http://", "https://")):
            raise ConfigurationError(f"--witness-url {value!r} is not NAME=http(s)://...")
        pairs.append((name, url))
    return tuple(pairs)
