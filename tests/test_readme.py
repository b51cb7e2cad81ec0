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
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import Server
from tests.witness_processes import WitnessProcess

README = Path(__file__).resolve().parents[1] / "README.md"
README_ADDRESS = "127.0.0.1:8080"  # where the README's server listens; the test picks a free port
WITNESS_COMMAND = re.compile(r"ledger witness serve (\S+) --listen (127\.0\.0\.1:\d+) &")


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
    subprocess.run(["ledger", "demo"], cwd=tmp_path, env=env, check=True, capture_output=True)
    servers: list[Server | WitnessProcess] = []
    try:
        _run_sessions(tmp_path, env, servers)
    finally:
        for server in servers:
            server.stop()


def _run_sessions(
    tmp_path: Path, env: dict[str, str], servers: list[Server | WitnessProcess]
) -> None:
    """Every session in order; ``ledger serve ... &`` starts a server on a free port,
    which later commands reach where the README says 127.0.0.1:8080; ``ledger witness
    serve DIR --listen ADDRESS &`` a witness service, reached where it says ADDRESS."""
    port = "8080"
    addresses: dict[str, str] = {}
    for written, expected in sessions(README.read_text()):
        command = written.replace(README_ADDRESS, f"127.0.0.1:{port}")
        for readme_address, address in addresses.items():
            command = command.replace(readme_address, address)
        witness = WITNESS_COMMAND.fullmatch(command)
        if witness:
            process = WitnessProcess(tmp_path / witness[1], env["LEDGER_PASSPHRASE"])
            servers.append(process)
            addresses[witness[2]] = process.start().removeprefix("http://")
            continue
        if command.startswith("ledger serve ") and command.endswith(" &"):
            directory = shlex.split(command)[2]
            server = Server(tmp_path / directory, args=(), env=dict(env))
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
