"""`inhouse chat` shows notices as they arrive, not only after Enter.

Alice has a line half-typed when Luca reopens the request in his own terminal:
she must see the reopen at once (or she resolves it a second time without
knowing why it came back), and keep what she had typed. Both at a real
terminal (a pseudo-terminal) and with standard input a pipe (scripts, tests).
"""

from __future__ import annotations

import json
import subprocess
import threading
import time

from tests.e2e.cli import Inhouse
from tests.e2e.keyboard import Keyboard

LUCA, ALICE = "luca@example.com", "alice@example.com"


def test_a_reopen_shows_while_a_line_is_half_typed_and_the_line_stays(desk: Inhouse) -> None:
    desk.chat(LUCA, "/request it Printer on fire")
    desk.chat(ALICE, "claim IT-1", "resolve IT-1 Put the fire out")
    keyboard = Keyboard(desk, "chat", "--as", ALICE)
    try:
        keyboard.wait_for("Hello Alice Novak.")
        keyboard.type("note IT-1 Looking ag")
        keyboard.wait_for("> note IT-1 Looking ag")

        desk.chat(LUCA, "reopen IT-1 Still smoking")  # another person, another process
        keyboard.wait_for("→ [#it] IT-1 · Printer on fire: Luca Rossi reopened it: Still smoking")
        # The notice is printed above the prompt, which is then drawn again: read on
        # for a moment so the screen is the one a person sees after the redraw.
        keyboard.settle()
        lines = keyboard.lines()
        shown = next(i for i, line in enumerate(lines) if "reopened it: Still smoking" in line)
        # Above the input line, which still holds what Alice had typed, cursor at its end.
        assert keyboard.cursor_line == "> note IT-1 Looking ag", "\n".join(lines)
        assert shown < keyboard.screen.cursor.y
        assert keyboard.screen.cursor.x == len("> note IT-1 Looking ag")

        keyboard.type("ain\r")
        keyboard.wait_for("Internal note added to IT-1.")

        # Ctrl-C leaves the step-by-step form without filing anything.
        keyboard.type("/request\r")
        keyboard.wait_for("Team [facilities (Facilities)")
        keyboard.type("\x03")
        keyboard.wait_for("Nothing filed.")
        keyboard.type("quit\r")
    finally:
        code = keyboard.close()
    seen = keyboard.output.decode("utf-8", "replace")
    assert code == 0, seen
    assert "Traceback" not in seen and "Warning" not in seen, seen
    # What she typed before and after the notice is one line, as she meant it.
    notes = desk.query("SELECT data FROM request_events WHERE kind = 'note'")
    assert [json.loads(str(data))["text"] for (data,) in notes] == ["Looking again"]
    assert desk.query("SELECT key FROM requests") == [("IT-1",)]


def test_in_a_pipe_a_notice_arrives_while_no_line_comes(desk: Inhouse) -> None:
    desk.chat(LUCA, "/request it Printer on fire")
    desk.chat(ALICE, "claim IT-1")
    chat = subprocess.Popen(
        desk.command("chat", "--as", ALICE),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=desk.workdir,
        env=desk.env(),
    )
    assert chat.stdout is not None and chat.stdin is not None
    seen: list[str] = []
    reader = threading.Thread(target=lambda: seen.extend(iter(chat.stdout.readline, "")))
    reader.start()
    try:
        _wait_for(seen, "Hello Alice Novak.")
        desk.chat(LUCA, "reply IT-1 Now the paper tray is melting")
        _wait_for(seen, "→ [#it] IT-1 · Printer on fire: Luca Rossi wrote: Now the paper tray")
        chat.stdin.write("quit\n")
        chat.stdin.close()
        assert chat.wait(20) == 0
    finally:
        if chat.poll() is None:
            chat.kill()
        reader.join(5)
    errors = chat.stderr.read() if chat.stderr else ""
    assert "Traceback" not in "".join(seen) + errors, "".join(seen) + errors


def _wait_for(seen: list[str], text: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not any(text in line for line in seen):
        assert time.monotonic() < deadline, f"{text!r} never came:\n{''.join(seen)}"
        time.sleep(0.1)
