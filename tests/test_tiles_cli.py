"""``ledger tiles``, ``ledger mirror``, ``ledger migrate`` and ``ledger verify`` of a tile
tree or a URL, through ``ledger.cli.main``, against a real static file server."""

from __future__ import annotations

import json
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.format.note import SIG_TYPE_ED25519, NoteSigner
from tests.test_cli import Cli, cli, ready, ready_template  # noqa: F401 - fixtures


def test_a_ledger_published_as_tiles_mirrors_and_verifies_as_its_export(
    ready: Cli,  # noqa: F811 - the imported fixture
    served: tuple[Path, str],
) -> None:
    root, base = served
    out = root / f"{ready.root.name}-tiles"
    trust = str(Path(ready.ledger, "trust.json"))
    ready.fails("tiles", ready.ledger, str(out), match="no checkpoint yet")
    ready.ok("checkpoint", "issue", "-L", ready.ledger, "-o", ready.path("cp.note"))
    size = Path(ready.path("cp.note")).read_text().split("\n")[1]
    said = ready.ok("tiles", ready.ledger, str(out))
    assert said.startswith(f"tiles: {out} publishes the checkpoint of size {size} (was 0); ")
    assert ready.ok("tiles", ready.ledger, str(out)).endswith("; 0 files written\n")

    mirrored = ready.path("mirror")
    said = ready.ok("mirror", f"{base}/{out.name}", mirrored, "--trust", trust)
    assert (
        said
        == f"mirror: {mirrored} holds the checkpoint of size {size} (was 0); 2 files fetched and checked\n"
    )

    assert ready.run("export", "-L", ready.ledger, ready.path("ledger.export"))[0] == 0
    reports = [
        ready.ok("verify", source, "--trust", trust)
        for source in (ready.path("ledger.export"), str(out), mirrored, f"{base}/{out.name}")
    ]
    assert reports[0].endswith("VERDICT: OK - every signature, grant, chain and checkpoint holds\n")
    assert reports == [reports[0]] * 4

    # Errors: one line each, nothing kept.
    document = json.loads(Path(trust).read_text())
    stranger = NoteSigner(Ed25519PrivateKey.generate(), document["origin"], SIG_TYPE_ED25519)
    document["log_vkey"] = stranger.verifier.vkey
    other = ready.write("other-trust.json", json.dumps(document))
    ready.fails(
        "mirror", f"{base}/{out.name}", ready.path("m2"), "--trust", other,
        match="/checkpoint: note has no verifiable signatures",
    )  # fmt: skip
    ready.fails("mirror", f"{base}/nothing-here", ready.path("m2"), "--trust", trust, match="404")
    assert not Path(ready.path("m2")).exists() or not any(Path(ready.path("m2")).iterdir())
    said = ready.run("migrate", ready.ledger)
    assert said == (0, "", "migrate: already in the current layout; nothing to do\n")
