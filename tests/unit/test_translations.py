"""Every string a person can read is in every language's catalog, complete and current.

CI runs this: it fails when code gains a string the template lacks (run
`pybabel extract` and `pybabel update`, see docs/languages.md), or a catalog has
an empty, fuzzy or placeholder-breaking entry.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
LOCALES = ROOT / "models" / "locale"
LANGUAGES = ("de", "it")
KEYWORDS = {"_": None, "N_": None, "ngettext": (1, 2)}
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def extracted() -> set[str]:
    with (ROOT / "babel.cfg").open() as config:
        method_map, options_map = parse_mapping_cfg(config)
    found = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(ROOT), method_map, options_map, keywords=KEYWORDS
    ):
        found.add(message[0] if isinstance(message, tuple) else message)
    return found


def template_ids() -> set[str]:
    with (LOCALES / "inhouse.pot").open("rb") as handle:
        return {m.id if isinstance(m.id, str) else m.id[0] for m in read_po(handle) if m.id}


def test_the_template_has_every_string_in_the_code() -> None:
    missing = extracted() - template_ids()
    assert not missing, (
        f"strings missing from models/locale/inhouse.pot (run pybabel extract/update): "
        f"{sorted(missing)[:10]}"
    )


@pytest.mark.parametrize("language", LANGUAGES)
def test_each_catalog_is_complete_current_and_keeps_placeholders(language: str) -> None:
    with (LOCALES / language / "LC_MESSAGES" / "inhouse.po").open("rb") as handle:
        catalog = read_po(handle, locale=language)
    ids = {m.id if isinstance(m.id, str) else m.id[0] for m in catalog if m.id}
    assert template_ids() <= ids, f"{language}: not updated from the template"
    problems = []
    for message in catalog:
        if not message.id:
            continue
        sources = message.id if isinstance(message.id, tuple) else (message.id,)
        targets = message.string if isinstance(message.string, tuple) else (message.string,)
        if message.fuzzy or not all(targets):
            problems.append(f"untranslated or fuzzy: {sources[0]!r}")
            continue
        wanted = set(PLACEHOLDER.findall(" ".join(sources)))
        for target in targets:
            got = set(PLACEHOLDER.findall(target))
            # A singular may say "one" instead of {n}; nothing else may go missing.
            if got - wanted or wanted - got - {"n"}:
                problems.append(f"placeholders differ: {sources[0]!r} -> {target!r}")
    assert not problems, f"{language}: " + "; ".join(problems[:10])


@pytest.mark.parametrize(
    "path",
    ["inhouse.pot", *(f"{language}/LC_MESSAGES/inhouse.po" for language in LANGUAGES)],
)
def test_no_message_is_in_a_catalog_twice(path: str) -> None:
    """Babel keeps one of two entries for the same message silently (a merge that
    kept both sides would then translate it one way or the other by chance)."""
    text = (LOCALES / path).read_text(encoding="utf-8")
    entries = re.findall(
        r'^msgid ((?:".*"\n)+)(?:msgid_plural (?:".*"\n)+)?((?:msgstr.*\n)+)', text, re.M
    )
    seen: set[str] = set()
    for message_id, translation in entries:
        assert message_id not in seen, f"{path}: {message_id.strip()} is there twice"
        seen.add(message_id)
        single = [line for line in translation.splitlines() if line.startswith("msgstr ")]
        assert len(single) <= 1, f"{path}: {message_id.strip()} has {len(single)} translations"
