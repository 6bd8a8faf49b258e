"""Every Dutch text a person can see has an English translation, and the compiled catalogue is current."""
from __future__ import annotations

import io
from pathlib import Path

from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

ROOT = Path(__file__).resolve().parents[2]
CATALOGUE = ROOT / "idp" / "translations" / "en" / "LC_MESSAGES"
METHODS = [("idp/**.py", "python"), ("idp/templates/**.html", "jinja2")]
KEYWORDS = {"_": None, "gettext": None, "N_": None}


def source_messages() -> set[str]:
    found = extract_from_dir(str(ROOT), METHODS, keywords=KEYWORDS, strip_comment_tags=True)
    return {message for _, _, message, _, _ in found}


def english() -> dict:
    with open(CATALOGUE / "messages.po", encoding="utf-8") as po:
        return {m.id: m.string for m in read_po(po, locale="en") if m.id}


def test_every_message_has_an_english_translation():
    translations = english()
    untranslated = sorted(m for m in source_messages() if not translations.get(m))
    assert not untranslated, f"add these to {CATALOGUE / 'messages.po'} (make translations): {untranslated}"


def test_compiled_catalogue_matches_the_po_file():
    with open(CATALOGUE / "messages.po", encoding="utf-8") as po:
        catalog = read_po(po, locale="en")
    compiled = io.BytesIO()
    write_mo(compiled, catalog)
    assert compiled.getvalue() == (CATALOGUE / "messages.mo").read_bytes(), "run `make translations`"
