"""Copier on a pseudo-terminal, as a person runs it: the screen they see (pyte renders it),
the keys they press (pexpect sends them). Used by the prompt and update tests."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from pathlib import Path

import pexpect
import pyte

from scripts.serving import TOOLS_BIN, tool_env

COLUMNS, ROWS = 240, 50
# questionary marks the highlighted choice of a select with this pointer.
POINTER = "»"
CLEAR_LINE = "\x15"  # Ctrl-U: empties an input prompt that shows a default


class Terminal:
    """A program on a pseudo-terminal, with the screen a person would see (pyte renders it)."""

    def __init__(self, args: list[str], cwd: Path) -> None:
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.stream = pyte.Stream(self.screen)
        self.child = pexpect.spawn(
            args[0], args[1:], cwd=str(cwd), env={**tool_env(), "TERM": "xterm"},
            encoding="utf-8", dimensions=(ROWS, COLUMNS), timeout=30,
        )  # fmt: skip
        self.transcript = ""  # everything the program wrote, scrolled off the screen or not
        self.child.logfile_read = self

    # pexpect hands everything it reads to logfile_read: the screen gets the same bytes.
    def write(self, text: str) -> None:
        self.transcript += text
        self.stream.feed(text)

    def flush(self) -> None:
        pass

    def text(self) -> str:
        return "\n".join(line.rstrip() for line in self.screen.display).strip("\n")

    def wait_for(self, text: str) -> None:
        self.child.expect_exact(text)

    def settle(self) -> None:
        """Read what the program drew after a key press, until it stops drawing."""
        while True:
            try:
                self.child.read_nonblocking(65536, timeout=0.3)
            except pexpect.TIMEOUT:
                return

    def highlighted(self) -> str:
        # The pointer starts the line; an answer shown above may hold the same character.
        return next((line for line in self.screen.display if line.lstrip().startswith(POINTER)), "")

    def choose(self, label: str) -> None:
        """Move a select's pointer down to the choice whose label starts with `label`."""
        for _ in range(10):
            self.settle()
            if f"{POINTER} {label}" in self.highlighted():
                self.child.send("\r")
                return
            self.child.send("\x1b[B")
        raise AssertionError(f"no choice {label!r} on screen:\n{self.text()}")

    def type(self, answer: str) -> None:
        self.child.send(CLEAR_LINE + answer + "\r")

    def refusal(self) -> str:
        """The validation line under the prompt, once the program has drawn it."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            self.settle()
            lines = [line.strip() for line in self.screen.display if "is not allowed" in line]
            if lines:
                return lines[-1]
        raise AssertionError(f"no refusal on screen:\n{self.text()}")


@dataclass
class Ask:
    """One question: wait for its help text, optionally get refused once, then answer."""

    help: str
    answer: str = ""  # typed text, or a choice label with choose=True; "" takes the default
    choose: bool = False
    wrong: str | None = None  # typed first, and refused at the prompt
    refused: str = ""  # what the refusal line must say after the question's name


def answer(terminal: Terminal, ask: Ask) -> str | None:
    """Answer one question; returns the refusal line when a wrong answer was typed first."""
    terminal.wait_for(ask.help)
    refusal = None
    if ask.wrong is not None:
        assert ask.answer, "after a wrong answer the field holds it: give the right one"
        terminal.settle()
        terminal.type(ask.wrong)
        refusal = terminal.refusal()
        question = re.search(r"Validation error for question '(\w+)': (.*)", refusal)
        assert question, refusal
        # One line: the question named once, then the value and what is allowed.
        assert refusal.count(question[1]) == 1, refusal
        assert ask.refused in question[2], refusal
    if ask.choose:
        terminal.choose(ask.answer)
    else:
        terminal.settle()
        if ask.answer:
            terminal.type(ask.answer)
        else:
            terminal.child.send("\r")
    return refusal


def copier_in_terminal(args: list[str], cwd: Path, asks: list[Ask]) -> Terminal:
    terminal = Terminal([str(TOOLS_BIN / "copier"), *args], cwd)
    for ask in asks:
        answer(terminal, ask)
    terminal.child.expect(pexpect.EOF, timeout=120)
    terminal.child.close()
    assert terminal.child.exitstatus == 0, terminal.text()
    return terminal
