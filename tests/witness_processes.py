"""Witness services as real processes on 127.0.0.1, for the network tests.

Each :class:`WitnessProcess` is one ``ledger witness serve DIR --listen
127.0.0.1:0`` process (a free port, announced on its first stdout line); it is
killed at the end of the test that started it. Requests are built here from the
text of c2sp.org/tlog-witness, not by the project's client.
"""

from __future__ import annotations

import base64
import http.client
import io
import os
import re
import select
import signal
import subprocess
import sys
import urllib.parse
from collections.abc import Iterator, Sequence
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from ledger.cli import main
from ledger.format.note import Verifier

PASSPHRASE = "witness-test-passphrase"
LEDGER_BIN = Path(sys.executable).with_name("ledger")
START_TIMEOUT = 30.0
HTTP_TIMEOUT = 10.0
_READY = re.compile(r"witness \S+ listening on (http://127\.0\.0\.1:\d+)\n")


def spec_body(old: int, proof: Sequence[bytes], note: bytes) -> bytes:
    """An add-checkpoint body as tlog-witness words it: "an old size line, zero or more
    consistency proof lines, and an empty line, followed by a checkpoint"; the old size
    line is `old`, a space, ASCII decimal; each proof line one hash in base64."""
    lines = b"old " + str(old).encode("ascii") + b"\n"
    lines += b"".join(base64.standard_b64encode(h) + b"\n" for h in proof)
    return lines + b"\n" + note


@dataclass(frozen=True)
class Answer:
    status: int
    content_type: str
    body: bytes


def request(url: str, method: str, path: str, body: bytes | None = None) -> Answer:
    """One HTTP request to a service on loopback."""
    parts = urllib.parse.urlsplit(url)
    assert parts.hostname == "127.0.0.1"
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=HTTP_TIMEOUT)
    try:
        conn.request(method, path, body=body)
        response = conn.getresponse()
        return Answer(response.status, response.getheader("Content-Type", ""), response.read())
    except (ConnectionError, http.client.HTTPException):  # a process killed mid-request
        return Answer(0, "", b"")
    finally:
        conn.close()


def add_checkpoint(url: str, body: bytes) -> Answer:
    return request(url, "POST", "/add-checkpoint", body)


def latest(url: str, origin: str) -> Answer:
    return request(url, "GET", "/checkpoints/" + urllib.parse.quote(origin, safe=""))


def _cli(*argv: str) -> str:
    out = io.StringIO()
    with redirect_stdout(out):
        code = main(list(argv))
    assert code == 0, argv
    return out.getvalue()


def make_witness(directory: Path, name: str, logs: Sequence[tuple[str, str]]) -> Verifier:
    """``witness init`` and ``witness follow`` (vkey, origin) for each log; the witness key."""
    # The CLI reads the passphrase from the environment: set for these calls only, so
    # no later test (the README's, the outcomes') runs with the witness's passphrase.
    before = os.environ.get("LEDGER_PASSPHRASE")
    os.environ["LEDGER_PASSPHRASE"] = PASSPHRASE
    try:
        out = _cli("witness", "init", str(directory), "--name", name)
        match = re.fullmatch(r"witness verifier key: (\S+)\n", out)
        assert match, out
        for vkey, origin in logs:
            _cli("witness", "follow", str(directory), vkey, "--origin", origin)
    finally:
        if before is None:
            del os.environ["LEDGER_PASSPHRASE"]
        else:
            os.environ["LEDGER_PASSPHRASE"] = before
    return Verifier.parse(match[1])


class WitnessProcess:
    """``ledger witness serve`` on a free port of 127.0.0.1."""

    def __init__(self, directory: Path, passphrase: str = PASSPHRASE) -> None:
        self.directory = directory
        self.passphrase = passphrase
        self.process: subprocess.Popen[bytes] | None = None
        self.url = ""

    def start(self) -> str:
        env = {**os.environ, "LEDGER_PASSPHRASE": self.passphrase}
        argv = [str(LEDGER_BIN), "witness", "serve", str(self.directory)]
        self.process = subprocess.Popen(
            [*argv, "--listen", "127.0.0.1:0"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=env,
        )
        assert self.process.stdout is not None
        ready, _, _ = select.select([self.process.stdout], [], [], START_TIMEOUT)
        line = self.process.stdout.readline().decode() if ready else ""
        match = _READY.fullmatch(line)
        if not match:
            self.kill()
            raise AssertionError(f"witness did not start: {line!r}")
        self.url = match[1]
        return self.url

    def kill(self) -> None:
        """kill -9: no chance to flush or finish anything."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self._close()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._close()

    def _close(self) -> None:
        if self.process is not None:
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()


def started(processes: list[WitnessProcess]) -> Iterator[list[WitnessProcess]]:
    """Start them all; stop them all at the end (for a fixture)."""
    try:
        for p in processes:
            p.start()
        yield processes
    finally:
        for p in processes:
            p.stop()
