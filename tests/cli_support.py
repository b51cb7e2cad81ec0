"""Helpers for tests/test_cli.py."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def toml_document(values: Mapping[str, Any]) -> str:
    """A flat TOML document of integers, with nested mappings as tables (C.Hasil fields)."""
    scalars = [
        f"{key} = {json.dumps(value)}"
        for key, value in values.items()
        if not isinstance(value, Mapping)
    ]
    tables = [
        f"\n[{key}]\n" + "".join(f"{json.dumps(k)} = {json.dumps(v)}\n" for k, v in value.items())
        for key, value in values.items()
        if isinstance(value, Mapping)
    ]
    return "\n".join(scalars) + "\n" + "".join(tables)
