"""Real, valid files of every kind the ledger reads from outside, built once through the CLI.

The fuzz tests mutate these so that mutations reach deep code (a flipped byte
inside a valid proof, not only junk that fails at the first check).
"""

from __future__ import annotations

import base64
import io
import json
import re
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from ledger.cli import main
from ledger.format.note import Checkpoint, parse_note
from ledger.log.witness import state_file_name
from tests.cli_support import toml_document
from tests.test_cli import CONTEST, ELECTION, ORIGIN, PASSPHRASE, SHEET, TPS, TPS2, T
from tests.world import form, tally

__all__ = [
    "CONTEST",
    "ORIGIN",
    "PASSPHRASE",
    "SHEET",
    "TPS",
    "TPS2",
    "Seeds",
    "T",
    "build_seeds",
    "run",
]

ROLES = ("kpu", "bawaslu", "kab", "kpps", "kpps2", "ptps")


def run(*argv: str) -> tuple[int, str, str]:
    """``ledger ARGV`` in-process; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        code = main(list(argv))
    return code, out.getvalue(), err.getvalue()


def ok(*argv: str) -> str:
    code, out, err = run(*argv)
    assert code == 0 and "error" not in err, f"ledger {' '.join(argv)} failed: {err}"
    return out


@dataclass
class Seeds:
    """A small ledger, a witness, and one valid file of each kind."""

    root: Path
    ledger: str
    trust: str
    witness_dir: str
    witness_vkey: str

    def path(self, name: str) -> str:
        return str(self.root / name)

    def read(self, name: str) -> bytes:
        return (self.root / name).read_bytes()

    @property
    def witness_state(self) -> Path:
        return Path(self.witness_dir, "state", state_file_name(ORIGIN))


def build_seeds(root: Path, monkeypatch: pytest.MonkeyPatch) -> Seeds:
    """Keys, a ledger with two sheets, two cosigned checkpoints, and files exported from it."""
    monkeypatch.setenv("LEDGER_PASSPHRASE", PASSPHRASE)
    for name in ("LEDGER_LOG_PASSPHRASE", "LEDGER_DATABASE", "LEDGER_DIR"):
        monkeypatch.delenv(name, raising=False)
    keys = root / "keys"
    publics = {}
    for name in ROLES:
        out = ok("keys", "generate", name, "--dir", str(keys))
        publics[name] = re.search(r"public key \(hex\) ([0-9a-f]{64})", out)[1]  # type: ignore[index]
    ledger = str(root / "ledger")
    witness_dir = str(root / "witness")
    out = ok("witness", "init", witness_dir, "--name", "bawaslu.example/witness")
    wkey = out.split()[-1]
    ok(
        "create", ledger, "--election", ELECTION, "--origin", ORIGIN,
        "--kpu-root", publics["kpu"], "--bawaslu-root", publics["bawaslu"], "--witness", wkey,
    )  # fmt: skip
    at = ("-L", ledger, "--time", str(T))
    ok("define-election", *at, "-k", str(keys / "kpu.key"), "--name", "Pilkada 2024")
    ok(
        "define-contest", *at, "-k", str(keys / "kpu.key"), "--office", "bupati",
        "--region", "33.16", "--name", "Bupati Blora", "--pair", "A", "--pair", "B",
    )  # fmt: skip
    for granter, subject, role, scope in (
        ("kpu", "kab", "kpu-kab", "33.16"),
        ("kab", "kpps", "kpps", TPS),
        ("kab", "kpps2", "kpps", TPS2),
        ("bawaslu", "ptps", "ptps", TPS),
    ):
        ok(
            "grant", *at, "-k", str(keys / f"{granter}.key"), "--subject", publics[subject],
            "--role", role, "--scope", scope, "--label", f"{role} {scope}",
        )  # fmt: skip
    (root / "count.json").write_text(json.dumps(form(tally())))
    (root / "count.toml").write_text(toml_document(form(tally((90, 70), invalid=3))))
    ok(
        "count", *at, "-k", str(keys / "kpps.key"), "--contest", CONTEST, "--tps", TPS,
        "--receipt", str(root / "receipt.note"), str(root / "count.json"),
    )  # fmt: skip
    ok("attest", *at, "-k", str(keys / "ptps.key"), "--contest", CONTEST, "--tps", TPS)
    trust = str(Path(ledger, "trust.json"))
    ok("checkpoint", "issue", "-L", ledger, "-o", str(root / "cp1.note"))
    ok(
        "witness", "cosign", witness_dir, str(root / "cp1.note"), "--log", trust,
        "-o", str(root / "cp1.cosigned"), "--time", str(T + 60),
    )  # fmt: skip
    ok("checkpoint", "add-cosignature", "-L", ledger, str(root / "cp1.cosigned"))
    size1 = str(Checkpoint.parse(parse_note((root / "cp1.note").read_bytes()).text).size)
    (root / "inclusion.json").write_text(
        ok("proof", "inclusion", "-L", ledger, "--stream", SHEET, "--seq", "1")
    )
    ok(
        "count", *at, "-k", str(keys / "kpps2.key"), "--contest", CONTEST, "--tps", TPS2,
        str(root / "count.toml"),
    )  # fmt: skip
    ok("checkpoint", "issue", "-L", ledger, "-o", str(root / "cp2.note"))
    (root / "consistency.json").write_text(ok("proof", "consistency", "-L", ledger, "--old", size1))
    ok(
        "witness", "cosign", witness_dir, str(root / "cp2.note"), "--log", trust,
        "--proof", str(root / "consistency.json"), "-o", str(root / "cp2.cosigned"),
        "--time", str(T + 120),
    )  # fmt: skip
    ok("checkpoint", "add-cosignature", "-L", ledger, str(root / "cp2.cosigned"))
    # Again, now that the proof's newer checkpoint carries the witness's cosignature.
    (root / "consistency.json").write_text(ok("proof", "consistency", "-L", ledger, "--old", size1))
    ok("export", "-L", ledger, str(root / "ledger.export"))
    ok("dossier", "-L", ledger, SHEET, "-o", str(root / "sheet.dossier"))
    envelopes = json.loads(ok("show", "-L", ledger, "--json", SHEET))
    assert [e["kind"] for e in envelopes] == ["count", "attest"]
    (root / "trust.json").write_bytes(Path(trust).read_bytes())
    policy = json.loads(Path(trust).read_text())["policy"]
    (root / "policy.txt").write_text(policy)
    # One envelope as a file (from the export's first count: the inclusion proof holds it).
    envelope = json.loads((root / "inclusion.json").read_text())["envelope"]
    (root / "count.env.b64").write_text(envelope + "\n")
    (root / "count.env").write_bytes(base64.b64decode(envelope))
    seeds = Seeds(root, ledger, str(root / "trust.json"), witness_dir, wkey)
    # Every seed verifies as it stands, so a failure under mutation is the mutation's doing.
    ok("verify", seeds.path("ledger.export"), "--trust", seeds.trust)
    ok("verify-dossier", seeds.path("sheet.dossier"), "--trust", seeds.trust)
    ok("proof", "verify", seeds.path("inclusion.json"), "--log", seeds.trust)
    ok("proof", "verify", seeds.path("consistency.json"), "--log", seeds.trust)
    ok("receipt", "verify", seeds.path("receipt.note"), "--log", seeds.trust)
    chain = ("--chain", seeds.path("sheet.dossier"))
    ok("verify-statement", seeds.path("count.env"), "--trust", seeds.trust, *chain)
    assert seeds.witness_state.is_file()
    return seeds
