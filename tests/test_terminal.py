"""Terminal output (rich): tables plain off a terminal and ruled on one; progress silent
off a terminal and drawn on one."""

from __future__ import annotations

import io

import pytest

from ledger.cli._common import print_table
from ledger.progress import Progress


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_table_off_a_terminal_is_plain_text(capsys: pytest.CaptureFixture[str]) -> None:
    print_table(
        ["pair", "name", "votes"],
        [[1, "[bold]Ahmad[/bold]", "395,570"], [2, "Budi", "76,734"]],
        right=[2],
    )
    assert capsys.readouterr().out.splitlines() == [
        "pair  name                  votes",
        "1     [bold]Ahmad[/bold]  395,570",  # a cell is text, never markup
        "2     Budi                 76,734",
    ]


def test_a_table_off_a_terminal_is_never_cut(capsys: pytest.CaptureFixture[str]) -> None:
    long = "x" * 500
    print_table(["a", "b"], [[long, "end"]])
    assert capsys.readouterr().out.splitlines()[1] == f"{long}  end"


def test_a_table_on_a_terminal_is_ruled(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FORCE_COLOR", "1")  # rich: treat stdout as a terminal
    monkeypatch.setenv("COLUMNS", "80")
    print_table(["pair", "votes"], [[1, "395,570"]], right=[1])
    out = capsys.readouterr().out
    assert "\x1b[1m" in out  # the bold header
    assert "─" in out  # the rule under it
    assert "395,570" in out


def test_progress_off_a_terminal_writes_nothing() -> None:
    stream = io.StringIO()
    with Progress("verifying", 10, stream=stream) as progress:
        for _ in range(10):
            progress.advance()
    assert progress.done == 10
    assert stream.getvalue() == ""


def test_progress_on_a_terminal_draws_the_count() -> None:
    stream = _Terminal()
    with Progress("verifying", 1000, stream=stream, every=0.0) as progress:
        progress.advance(250)
        progress.advance(750)
    drawn = stream.getvalue()
    assert "verifying" in drawn
    assert "1,000/1,000" in drawn


def test_progress_without_a_total_counts() -> None:
    stream = _Terminal()
    with Progress("ingesting", stream=stream, every=0.0) as progress:
        progress.advance(1234)
    assert "1,234 (" in stream.getvalue()
