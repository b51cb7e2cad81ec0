"""Real server processes for tests: `ledger serve` on 127.0.0.1, a random port, bounded in time.

A :class:`Server` is started as a child process with the test's own Python
environment; :meth:`Server.wait_ready` polls ``/healthz``; :meth:`Server.stop`
terminates it (and kills it if it does not stop). :class:`TcpProxy` stands
between a server and PostgreSQL so a test can take "the store" down and up again
without touching the shared database server.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

from ledger.pilkada.scenario import Scenario
from ledger.store.home import LedgerHome
from projections.recorder import Projections

PASSPHRASE = "test-passphrase"
READY_TIMEOUT_S = 60.0
LEDGER = str(Path(sys.executable).parent / "ledger")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def make_home(directory: Path, scenario: Scenario, database: str = "sqlite:ledger.db") -> Path:
    """A ledger directory pinned to ``scenario``'s roots and log key (nothing appended)."""
    trust = scenario.trust()
    ledger = LedgerHome(directory).create(
        election=trust.election,
        origin=trust.origin,
        kpu_root=trust.kpu_root,
        bawaslu_root=trust.bawaslu_root,
        passphrase=PASSPHRASE.encode(),
        database=database,
        log_key=scenario.log_key,
    )
    Projections.create(ledger)  # as `ledger create` does
    ledger.close()
    return directory


def server_env(**extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env["LEDGER_PASSPHRASE"] = PASSPHRASE
    env.pop("LEDGER_LOG_PASSPHRASE", None)
    env.update(extra)
    return env


class Server:
    """``ledger serve DIR --listen 127.0.0.1:PORT`` as a child process."""

    def __init__(
        self,
        directory: Path,
        *,
        workers: int = 1,
        port: int | None = None,
        args: tuple[str, ...] = ("--checkpoint-interval", "1"),
        env: dict[str, str] | None = None,
    ) -> None:
        self.directory = directory
        self.workers = workers
        self.port = port or free_port()
        self.args = args
        self.env = env or server_env()
        self.process: subprocess.Popen[bytes] | None = None
        self.log = directory.parent / f"server-{self.port}.log"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        command = [LEDGER, "serve", str(self.directory), "--listen", f"127.0.0.1:{self.port}"]
        command += ["--workers", str(self.workers), *self.args]
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                command, env=self.env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def wait_ready(self, timeout: float = READY_TIMEOUT_S) -> Server:
        deadline = time.monotonic() + timeout
        assert self.process is not None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"server exited {self.process.returncode}:\n{self.output()}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"server not ready after {timeout} s:\n{self.output()}")

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-4000:] if self.log.exists() else ""

    def kill(self) -> None:
        """kill -9 the whole process group (uvicorn and its workers)."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def __enter__(self) -> Server:
        return self.start().wait_ready()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class TcpProxy:
    """A loopback TCP proxy to ``target``; ``down()`` cuts every connection and refuses new ones."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._sockets: list[socket.socket] = []
        self._lock = threading.Lock()

    def up(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        with self._lock:
            self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            if self._listener is not None:
                self._listener.close()
                self._listener = None
            for s in self._sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self._sockets.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                if self._listener is not listener:  # down() ran while this one connected
                    client.close()
                    upstream.close()
                    return
                self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
