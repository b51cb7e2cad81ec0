"""The live projection in a process of its own, following the log until it is stopped.

``ledger project --follow`` runs :func:`run`; ``ledger serve`` and the simulator's
pipeline start one beside their own work with :func:`start` and end it with
:func:`stop`. It projects page after page while the log grows, and polls when it
has caught up. SIGTERM or SIGINT lets it finish (commit) the page in hand and
exit 0; killed outright, it loses at most that page, which the next projector
(a restarted follower, or any read) projects again from the tracking position.

It is one projector among others of the same projection: a server's reads still
catch up what it has not yet done, and whichever commits a page first wins it
(projections.recorder). On SQLite it writes only the projection's own file, so
it never holds the ledger's write lock that appends need.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ledger.errors import ConfigurationError, LedgerError
from ledger.store.home import LedgerHome
from ledger.store.persistence import database_errors
from projections.recorder import PAGE, Projections

__all__ = ["Stopping", "follow", "run", "start", "stop"]

POLL_S = 0.5  # how often a follower that has caught up looks for new leaves
RETRY_S = 2.0  # how long it waits after a database failure before trying again
STOP_TIMEOUT_S = 60.0  # how long stop() waits for the page in hand before killing
_NAP_S = 0.05  # the slices a wait sleeps in, looking for a stop request between them


class Stopping:
    """A request to stop, which a signal handler may make: a plain flag, because a
    handler that took a lock the code it interrupted holds (threading.Event's) would
    wait for itself."""

    def __init__(self) -> None:
        self.requested = False

    def request(self, *_: object) -> None:
        self.requested = True

    def wait(self, seconds: float) -> None:
        """Sleep ``seconds``, or less if a stop is requested meanwhile."""
        deadline = time.monotonic() + seconds
        while not self.requested and (left := deadline - time.monotonic()) > 0:
            time.sleep(min(left, _NAP_S))


def follow(
    projections: Projections,
    stopping: Stopping,
    *,
    page: int = PAGE,
    poll_s: float = POLL_S,
    parent: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> int:
    """Project pages until a stop is requested (or, with ``parent``, until that process
    is no longer this one's parent); return the position reached.

    A database that fails is tried again after :data:`RETRY_S` (``warn`` is told
    why): the follower outlives a database restart as the server does.
    """
    while not stopping.requested:
        if parent is not None and os.getppid() != parent:
            break  # whoever started it is gone (killed outright): nobody will stop it
        try:
            done = projections.project_page(page)
        except database_errors() as e:
            if warn is not None:
                warn(f"{type(e).__name__}: {e}; trying again in {RETRY_S:g} s")
            stopping.wait(RETRY_S)
            continue
        if done is None:
            stopping.wait(poll_s)
    return projections.position()


def run(
    directory: str | os.PathLike[str],
    *,
    page: int = PAGE,
    poll_s: float = POLL_S,
    parent: int | None = None,
) -> int:
    """Follow the ledger in ``directory`` until SIGTERM or SIGINT; return the position
    reached. The signals only set a flag, so the page in hand is committed first."""
    stopping = Stopping()
    handlers = {
        signum: signal.signal(signum, stopping.request)
        for signum in (signal.SIGTERM, signal.SIGINT)
    }
    try:
        ledger = LedgerHome(directory).open()
        try:
            projections = Projections(ledger)
            try:
                try:
                    projections.position()  # missing tables fail here, once, in one line
                except database_errors() as e:
                    raise ConfigurationError(f"cannot read the projection: {e}") from e
                return follow(
                    projections,
                    stopping,
                    page=page,
                    poll_s=poll_s,
                    parent=parent,
                    warn=lambda text: print(f"ledger project: {text}", file=sys.stderr),
                )
            finally:
                projections.close()
        finally:
            ledger.close()
    finally:
        for signum, handler in handlers.items():
            signal.signal(signum, handler)


def start(directory: Path, database_url: str) -> subprocess.Popen[bytes]:
    """Start a follower of the ledger in ``directory`` (its database at
    ``database_url``, handed down as ``LEDGER_DATABASE``) as a child process, which
    also stops when this process is gone."""
    env = dict(os.environ, LEDGER_DATABASE=database_url)
    command = [sys.executable, "-m", "projections.follow", str(directory)]
    command += ["--parent", str(os.getpid())]
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)


def stop(process: subprocess.Popen[bytes], timeout: float = STOP_TIMEOUT_S) -> int:
    """Ask a follower to stop (SIGTERM: it commits the page in hand) and wait for it;
    kill it if it has not stopped within ``timeout``. Return its exit status."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m projections.follow DIR [--parent PID]``, as :func:`start` runs it."""
    parser = argparse.ArgumentParser(prog="python -m projections.follow")
    parser.add_argument("directory", metavar="DIR")
    parser.add_argument("--parent", type=int, metavar="PID", help="stop when PID is gone")
    args = parser.parse_args(argv)
    try:
        run(args.directory, parent=args.parent)
    except LedgerError as e:
        print(f"ledger project: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
