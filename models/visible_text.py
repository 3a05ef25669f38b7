"""One person's text as another person will see it: no invisible steering.

Unicode direction controls (U+202E RIGHT-TO-LEFT OVERRIDE and friends) make
`invoice‮fdp.exe` read as `invoiceexe.pdf`, and zero-width characters hide
differences between two names that look the same (`IT Admin` and `IT\u200bAdmin`).
Neither has a use in a request title, a reply or a person's name at a European
desk, so every platform's escaping path removes them before anything else; the
text is otherwise shown exactly as typed.

The zero-width joiner is the exception: it glues emoji into one picture
(👩‍💻), so it is kept between two emoji and removed everywhere else.
"""

from __future__ import annotations

import re

_DIRECTION_CONTROLS = (
    "\u061c"  # ARABIC LETTER MARK
    "\u200e\u200f"  # LEFT-TO-RIGHT / RIGHT-TO-LEFT MARK
    "\u202a-\u202e"  # embeddings, overrides and POP DIRECTIONAL FORMATTING
    "\u2066-\u2069"  # isolates
)
_INVISIBLE = (
    "\u00ad"  # SOFT HYPHEN
    "\u180e"  # MONGOLIAN VOWEL SEPARATOR
    "\u200b\u200c"  # ZERO WIDTH SPACE / NON-JOINER
    "\u2060-\u2064"  # WORD JOINER and invisible operators
    "\ufeff"  # ZERO WIDTH NO-BREAK SPACE (a BOM inside text)
)
_STEERING = re.compile(f"[{_DIRECTION_CONTROLS}{_INVISIBLE}]")
# A joiner stays only between two pictographs (emoji sequences); the emoji
# presentation selector U+FE0F may sit before it.
_STRAY_JOINER = re.compile(
    "(?<![\U0001f000-\U0001faff\u2600-\u27bf\ufe0f])\u200d"
    "|\u200d(?![\U0001f000-\U0001faff\u2600-\u27bf])"
)


def neutralise(text: str) -> str:
    """`text` without direction controls and invisible characters."""
    return _STRAY_JOINER.sub("", _STEERING.sub("", text))
