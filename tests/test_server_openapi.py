"""The OpenAPI document fuzzed by schemathesis against a real server with the store up.

No 5xx, and no status, content type, header or body the document does not
describe. Examples are bounded (``-n``) and the run is deterministic.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from ledger.pilkada.scenario import Scenario
from ledger.server.wire import ENVELOPE_TYPE
from tests.servers import Server, make_home
from tests.world import world_statements

SCHEMATHESIS = str(Path(sys.executable).parent / "schemathesis")
CHECKS = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_schema_conformance,response_headers_conformance"
)
MAX_EXAMPLES = 15


def test_the_openapi_document_holds_under_fuzzing(tmp_path: Path) -> None:
    scenario = Scenario()
    home = make_home(tmp_path / "ledger", scenario)
    envelopes, _ = world_statements(scenario)
    with Server(home) as server:
        for e in envelopes:  # a ledger with something in it
            response = httpx.post(
                f"{server.url}/v1/envelopes", content=e.raw, headers={"Content-Type": ENVELOPE_TYPE}
            )
            assert response.status_code == 201
        env = dict(os.environ, SCHEMATHESIS_HOOKS="tests.schemathesis_hooks")
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        result = subprocess.run(
            [
                SCHEMATHESIS,
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                CHECKS,
                "--max-examples",
                str(MAX_EXAMPLES),
                "--generation-deterministic",
                "--request-timeout",
                "30",
                "--phases",
                "examples,coverage,fuzzing",
            ],
            env=env,
            cwd=tmp_path,  # schemathesis keeps its example database in the working directory
            capture_output=True,
            text=True,
            timeout=240,
            check=False,
        )
        assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
        assert " passed" in result.stdout and "Tested: 19" in result.stdout, result.stdout[-3000:]
