"""The report's message catalog: every sentence of every report, in Vietnamese and English.

The messages live in gettext catalogs, ``locale/<lang>/LC_MESSAGES/report.po``, read at run time
with Babel (:func:`babel.messages.pofile.read_po`). A message id is a symbolic key
(``"summary.index"``), never an English sentence, so that the English text is a translation
like the Vietnamese one and neither language is derived from the other by substitution.
Placeholders use Python's brace syntax (``{value}``); numbers are formatted by
:mod:`happiness_index.report.numbers` before they are put into a message.

A translator edits the ``.po`` files with any gettext tool (Poedit, Weblate, ``msgfmt -c``).
``tests/test_report_catalog.py`` checks that both catalogs hold the same keys, that every entry
is translated, that the placeholders agree, and that no English sentence is in the Vietnamese
catalog.
"""

from __future__ import annotations

import functools
import string
from importlib import resources

from babel.messages.pofile import read_po

from .numbers import check_lang

__all__ = ["LANGUAGES", "MessageCatalog", "catalog"]

LANGUAGES = ("vi", "en")
DOMAIN = "report"


class MessageCatalog:
    """The messages of one language.

    Parameters
    ----------
    lang : {"vi", "en"}
    messages : dict
        ``{key: text}`` as read from the ``.po`` file.

    Notes
    -----
    Call the catalog with a key and the placeholders' values: ``t("summary.index",
    year="2024", value="76,93")``. An unknown key raises ``KeyError`` naming the key and
    the catalog file: it is a defect of the library, never of the user's data.
    """

    def __init__(self, lang: str, messages: dict[str, str]):
        self.lang = lang
        self.messages = dict(messages)

    def __call__(self, key: str, /, **values) -> str:
        try:
            text = self.messages[key]
        except KeyError:
            raise KeyError(f"message {key!r} is missing from locale/{self.lang}/LC_MESSAGES/{DOMAIN}.po") from None
        return text.format(**values) if values else text

    def __contains__(self, key: str) -> bool:
        return key in self.messages

    def placeholders(self, key: str) -> set[str]:
        """Names of the ``{placeholders}`` of a message."""
        return {f for _, f, _, _ in string.Formatter().parse(self.messages[key]) if f}


def po_path(lang: str):
    """The ``.po`` file of ``lang`` (a Traversable inside the installed package)."""
    return resources.files("happiness_index.report") / "locale" / lang / "LC_MESSAGES" / f"{DOMAIN}.po"


@functools.cache
def catalog(lang: str) -> MessageCatalog:
    """The message catalog of ``lang`` (read once, then cached).

    Raises
    ------
    HappinessIndexError
        ``lang`` is not a report language.
    """
    check_lang(lang)
    with po_path(lang).open("rb") as f:
        cat = read_po(f, locale=lang, domain=DOMAIN)
    return MessageCatalog(lang, {m.id: m.string for m in cat if m.id})
