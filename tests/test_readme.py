"""The README's journeys, run as written, so the README cannot drift from the program.

Every ```console block is a session: a line starting with ``$ `` is a command, the
lines after it (up to the next command) are its expected output, where a line
``...`` stands for any number of lines. The commands run in order, in one fresh
directory where the demo was built (the Quickstart's first command, minus the
install), with the environment the README's ``export`` line sets.
"""

from __future__ import annotations

import os
import re
import select
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import Server

README = Path(__file__).resolve().parents[1] / "README.md"
README_ADDRESS = "127.0.0.1:8080"  # where the README's server listens; the test picks a free port
WITNESS_START_S = 30.0
_WITNESS_READY = re.compile(r"witness \S+ listening on http://(127\.0\.0\.1:\d+)\n")


def sessions(text: str) -> list[tuple[str, list[str]]]:
    """(command, expected output lines) in README order."""
    steps: list[tuple[str, list[str]]] = []
    for block in re.findall(r"```console\n(.*?)```", text, flags=re.DOTALL):
        for line in block.splitlines():
            if line.startswith("$ "):
                steps.append((line[2:], []))
            elif steps:
                steps[-1][1].append(line)
    return [(command, _trim(lines)) for command, lines in steps]


def _trim(lines: list[str]) -> list[str]:
    while lines and not lines[-1].strip():
        lines.pop()
    return lines


def matches(expected: list[str], actual: list[str]) -> bool:
    """Line-by-line equality, where an expected '...' line skips any lines."""
    if not expected:
        return not actual
    head, rest = expected[0], expected[1:]
    if head == "...":
        return any(matches(rest, actual[i:]) for i in range(len(actual) + 1))
    return bool(actual) and actual[0].rstrip() == head.rstrip() and matches(rest, actual[1:])


def test_the_readme_has_two_quickstart_commands_and_journeys() -> None:
    text = README.read_text()
    quickstart = re.search(r"## Quickstart\n\n```sh\n(.*?)```", text, flags=re.DOTALL)
    assert quickstart is not None
    commands = [line for line in quickstart.group(1).splitlines() if line.strip()]
    assert len(commands) == 2
    assert commands[0].endswith("ledger demo") and "pytest" in commands[1]
    assert len(sessions(text)) >= 10


@pytest.mark.slow
def test_the_readme_journeys_run_as_written(tmp_path: Path) -> None:
    env = dict(os.environ)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"
    env.pop("LEDGER_DIR", None)
    env.pop("LEDGER_PASSPHRASE", None)  # as on a fresh machine: the README exports it later
    demo = subprocess.run(
        ["ledger", "demo"], cwd=tmp_path, env=env, check=True, capture_output=True, text=True
    )
    # The demo's own next steps: serving names the passphrase the demo's keys took.
    assert "VERDICT: OK" in demo.stdout
    assert (
        "LEDGER_PASSPHRASE=demo-not-secret ledger serve pilkada-demo --listen 127.0.0.1:8080"
        in demo.stdout
    )
    servers: list[Server] = []
    witnesses: list[subprocess.Popen[bytes]] = []
    try:
        _run_sessions(tmp_path, env, servers, witnesses)
    finally:
        for server in servers:
            server.stop()
        for witness in witnesses:
            witness.kill()
            witness.wait(timeout=10)
            for stream in (witness.stdout, witness.stderr):
                if stream is not None:
                    stream.close()


def _start_witness(
    command: str, cwd: Path, env: dict[str, str], witnesses: list[subprocess.Popen[bytes]]
) -> str:
    """``ledger witness serve DIR --listen ADDRESS &`` on a free port; the address it took."""
    argv = shlex.split(command.removesuffix("&"))
    argv[argv.index("--listen") + 1] = "127.0.0.1:0"
    process = subprocess.Popen(
        argv, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    witnesses.append(process)
    assert process.stdout is not None
    ready, _, _ = select.select([process.stdout], [], [], WITNESS_START_S)
    line = process.stdout.readline().decode() if ready else ""
    match = _WITNESS_READY.fullmatch(line)
    assert match, f"{command}: the witness did not start: {line!r}"
    return match[1]


def _run_sessions(
    tmp_path: Path,
    env: dict[str, str],
    servers: list[Server],
    witnesses: list[subprocess.Popen[bytes]],
) -> None:
    """Every session in order; ``ledger serve ... &`` starts a server on a free port,
    which later commands reach where the README says 127.0.0.1:8080, and ``ledger
    witness serve ... --listen ADDRESS &`` a witness, reached where it says ADDRESS."""
    port = "8080"
    addresses: dict[str, str] = {}  # a witness's address in the README -> where it listens
    for written, expected in sessions(README.read_text()):
        command = written.replace(README_ADDRESS, f"127.0.0.1:{port}")
        if command.startswith("ledger witness serve ") and command.endswith(" &"):
            argv = shlex.split(command.removesuffix("&"))
            readme_address = argv[argv.index("--listen") + 1]
            addresses[readme_address] = _start_witness(command, tmp_path, env, witnesses)
            continue
        for readme_address, actual in addresses.items():
            command = command.replace(readme_address, actual)
        if command.startswith("ledger serve ") and command.endswith(" &"):
            argv = shlex.split(command.removesuffix("&"))
            directory = argv[2]
            server = Server(tmp_path / directory, args=tuple(argv[5:]), env=dict(env))
            servers.append(server)
            server.start().wait_ready()
            port = str(server.port)
            continue
        if command.startswith("export "):
            for assignment in shlex.split(command)[1:]:
                name, _, value = assignment.partition("=")
                if name != "PATH":  # the venv's bin is already first on PATH
                    env[name] = value
            continue
        result = subprocess.run(
            ["bash", "-c", command],
            check=False,
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
        )
        assert result.returncode == 0, f"{command}\n{result.stderr}"
        output = result.stdout
        for readme_address, address in addresses.items():  # shown as the README says
            output = output.replace(address, readme_address)
        actual = _trim(output.splitlines())
        assert matches(expected, actual), (
            f"$ {command}\n--- expected\n" + "\n".join(expected) + "\n--- got\n" + "\n".join(actual)
        )
