"""A person at a real terminal: `inhouse` on a pseudo-terminal, read through a screen.

The process gets a pty as its standard input and output, so it sees a terminal
exactly as it would in a person's shell. What it prints is fed to pyte, a
terminal emulator, which keeps the screen a person would look at and answers
the terminal's questions (where is the cursor?) as a real terminal does.
"""

from __future__ import annotations

import fcntl
import os
import pty
import select
import struct
import subprocess
import termios
import time

import pyte

from tests.e2e.cli import Inhouse

COLUMNS, ROWS = 200, 40


class Keyboard:
    def __init__(self, machine: Inhouse, *args: str) -> None:
        self.master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
        self.process = subprocess.Popen(
            machine.command(*args),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            cwd=machine.workdir,
            env=machine.env(TERM="xterm"),
            start_new_session=True,  # the pty is its controlling terminal, as in a shell
        )
        os.close(slave)
        self.screen = pyte.Screen(COLUMNS, ROWS)
        self.screen.write_process_input = self._answer
        self._stream = pyte.ByteStream(self.screen)
        self.output = b""

    def _answer(self, data: str) -> None:
        os.write(self.master, data.encode())

    def type(self, text: str) -> None:
        """Keys pressed; "\\r" is Enter."""
        os.write(self.master, text.encode())

    def lines(self) -> list[str]:
        return [line.rstrip() for line in self.screen.display]

    @property
    def cursor_line(self) -> str:
        """The line the cursor is on: the one being typed."""
        return self.lines()[self.screen.cursor.y]

    def wait_for(self, text: str, timeout: float = 30) -> None:
        """Read the terminal until `text` is on the screen."""
        deadline = time.monotonic() + timeout
        while not any(text in line for line in self.lines()):
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never appeared on the screen:\n" + "\n".join(self.lines())
            self._read(min(left, 0.2))

    def settle(self, seconds: float = 0.5) -> None:
        """Read whatever the program draws for a moment."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._read(left)

    def _read(self, timeout: float) -> None:
        ready, _, _ = select.select([self.master], [], [], timeout)
        if not ready:
            return
        try:
            data = os.read(self.master, 65536)
        except OSError:  # the program ended and closed the terminal
            time.sleep(timeout)
            return
        self.output += data
        self._stream.feed(data)

    def close(self, timeout: float = 20) -> int:
        """Wait for the program to end; its exit code."""
        deadline = time.monotonic() + timeout
        while self.process.poll() is None and time.monotonic() < deadline:
            self._read(0.2)
        if self.process.poll() is None:
            self.process.kill()
        code = self.process.wait(5)
        os.close(self.master)
        return code
