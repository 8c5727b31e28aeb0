"""The Swedish catalogue is complete, and the shipped .mo is compiled from it.

These fail whenever someone adds a string without writing its Swedish: left empty or
as msgmerge's fuzzy guess in the .po (Django shows a fuzzy entry in English, and the
guess is often wrong: "every connector down" was guessed as "uttags-id"), or not in
the .po at all because `makemessages -l sv` was not run. Django reads only the .mo, so
`compilemessages` must have run after the last change to the .po.
"""

import ast
import gettext
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from django.conf import settings

CATALOGUE = Path(settings.BASE_DIR) / "locale" / "sv" / "LC_MESSAGES" / "django.po"
COMPILED = CATALOGUE.with_suffix(".mo")


@dataclass
class Entry:
    """One message of a .po file: its keys, translations and flags."""

    line: int
    flags: set[str] = field(default_factory=set)
    fields: dict[str, str] = field(default_factory=dict)

    @property
    def msgid(self) -> str:
        return self.fields.get("msgid", "")

    @property
    def translations(self) -> list[str]:
        return [value for key, value in self.fields.items() if key.startswith("msgstr")]


def read_po(path: Path) -> list[Entry]:
    """The entries of a .po file as makemessages writes it (obsolete ones left out)."""
    entries: list[Entry] = []
    entry: Entry | None = None
    key = ""
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#~"):
            entry = None
            continue
        if entry is None:
            entry = Entry(line=number)
            entries.append(entry)
        if line.startswith("#,"):
            entry.flags.update(flag.strip() for flag in line[2:].split(","))
        elif line.startswith("#"):
            continue
        elif line.startswith('"'):
            entry.fields[key] += ast.literal_eval(line)
        else:
            key, _, text = line.partition(" ")
            entry.fields[key] = ast.literal_eval(text)
    return [entry for entry in entries if "msgid" in entry.fields]


def messages(path: Path = CATALOGUE) -> list[Entry]:
    """The catalogue's messages, without its header (the entry with an empty msgid)."""
    return [entry for entry in read_po(path) if entry.msgid]


def without_swedish(entries: list[Entry]) -> list[str]:
    """The messages with an empty translation or a fuzzy flag, by line and msgid."""
    return [
        f"line {entry.line}: {entry.msgid!r}"
        for entry in entries
        if "fuzzy" in entry.flags or not all(entry.translations)
    ]


def test_every_string_has_swedish_and_none_is_a_fuzzy_guess() -> None:
    missing = without_swedish(messages())
    assert messages(), "the Swedish catalogue has no messages"
    assert not missing, (
        f"Strings without Swedish ({len(missing)}; translate them in {CATALOGUE.name}, "
        "remove the fuzzy flags, then run compilemessages):\n" + "\n".join(missing)
    )


def test_every_string_in_the_code_is_in_the_catalogue(tmp_path: Path) -> None:
    # makemessages on a copy of the code, so the checkout's .po stays as it is: a string
    # added to the code since the .po was last regenerated comes out untranslated.
    copy = tmp_path / "code"
    shutil.copytree(
        settings.BASE_DIR,
        copy,
        symlinks=True,
        ignore=shutil.ignore_patterns(".*", "var", "__pycache__", "*.mo", "test-artifacts"),
    )
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "sv", "--no-obsolete"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    regenerated = copy / CATALOGUE.relative_to(settings.BASE_DIR)
    missing = without_swedish(messages(regenerated))
    assert not missing, (
        f"Strings in the code without Swedish ({len(missing)}): run makemessages -l sv "
        f"--no-obsolete, translate them in {CATALOGUE.name}, then run compilemessages:\n"
        + "\n".join(missing)
    )


def test_the_compiled_catalogue_matches_the_po() -> None:
    with COMPILED.open("rb") as compiled:
        catalog = gettext.GNUTranslations(compiled)._catalog  # type: ignore[attr-defined]
    expected: dict[object, str] = {}
    for entry in messages():
        if "fuzzy" in entry.flags or not all(entry.translations):
            continue  # left out of the .mo: the test above names them
        context = entry.fields.get("msgctxt")
        msgid = f"{context}\x04{entry.msgid}" if context is not None else entry.msgid
        if "msgid_plural" in entry.fields:
            for key, value in entry.fields.items():
                if key.startswith("msgstr["):
                    expected[(msgid, int(key[7:-1]))] = value
        else:
            expected[msgid] = entry.fields["msgstr"]
    compiled_messages = {key: value for key, value in catalog.items() if key != ""}
    stale = sorted(
        repr(key)
        for key in expected.keys() | compiled_messages.keys()
        if expected.get(key) != compiled_messages.get(key)
    )
    assert not stale, (
        f"{COMPILED.name} is not compiled from {CATALOGUE.name} "
        "(run manage.py compilemessages -l sv):\n" + "\n".join(stale[:20])
    )
