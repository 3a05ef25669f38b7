"""Where `inhouse chat` reads what a person types and writes what they see.

At a terminal, prompt_toolkit keeps the line being typed at the bottom and prints
notices above it as they arrive, so a reopen shows up while someone is still
typing `resolve`, and their half-typed line survives it. When standard input is a
pipe (a script, a test) there is no line to keep: lines are read one by one.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from typing import Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.patch_stdout import patch_stdout


class Terminal(Protocol):
    async def ask(self, prompt: str) -> str:
        """The next line typed. EOFError when input ends (Ctrl-D, the end of a pipe);
        KeyboardInterrupt on Ctrl-C."""
        ...

    def write(self, text: str) -> None:
        """Show text to the person, above the line they are typing if they are."""
        ...

    def opened(self) -> AbstractContextManager[None]:
        """The time the terminal is in use: `write` works only within it."""
        ...


@dataclass
class LineTerminal:
    """Lines from a pipe (or any `read`), answers to `show`."""

    read: Callable[[str], str] = input
    show: Callable[[str], None] | None = None

    async def ask(self, prompt: str) -> str:
        # In a thread, so notices can still be delivered while a script is slow to type.
        return await asyncio.to_thread(self.read, prompt)

    def write(self, text: str) -> None:
        if self.show is not None:
            self.show(text)
        else:
            # At once, not when a pipe's buffer fills: a notice is news now.
            print(text, flush=True)

    @contextmanager
    def opened(self) -> Iterator[None]:
        yield


class PromptTerminal:
    """A person at a keyboard: an input line that notices print above."""

    def __init__(self) -> None:
        self._session: PromptSession[str] | None = None

    async def ask(self, prompt: str) -> str:
        assert self._session is not None, "ask within opened()"
        return await self._session.prompt_async(prompt)

    def write(self, text: str) -> None:
        print(text, flush=True)

    @contextmanager
    def opened(self) -> Iterator[None]:
        # Everything printed meanwhile goes above the prompt, which is then drawn
        # again with what the person had typed so far.
        with patch_stdout():
            self._session = PromptSession()
            try:
                yield
            finally:
                self._session = None


def open_terminal() -> Terminal:
    """The keyboard when there is one, else plain lines (pipes, scripts, tests)."""
    if sys.stdin.isatty() and sys.stdout.isatty():
        return PromptTerminal()
    return LineTerminal()
