"""The public web view (issue 17): pages anyone can read, checks in the reader's browser.

``pages`` renders HTML on the server (readable without JavaScript); ``static/``
holds the project's own scripts that check the signed bytes in the browser
(canonical msgpack, Ed25519 with format.md's strict rules, RFC 9162 proofs,
signed notes, the trust policy, the grant chain) and the style sheet.
"""

from pathlib import Path

STATIC_DIR = Path(__file__).parent / "static"
