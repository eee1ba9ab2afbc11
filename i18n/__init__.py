"""Every string a person reads, in the reader's language: gettext catalogs through Babel, Chinese first.

Message ids are the English text, with `{named}` fields filled in after translation (so a translation may
put them in another order). The Chinese catalogs are `i18n/locales/zh_CN/*.po`, one file per area of the
product (errors, routing, pages, …) so people can work on them side by side; they are read with Babel's
`read_po` when first needed (no compiled `.mo` to go stale; `scripts/i18n.sh` extracts new ids and checks).
English needs no catalog: the id is the English. An id without a translation falls back to the English.

The language of the work in hand is a context variable: the API sets it per request (`?lang=`, the user's
preference, `Accept-Language`, then `GRIDGOV_LANGUAGE`), the CLI from the setting. Machine fields never
change with it: JSON keys, enum values and error `code`s stay the same in every language.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from functools import cache
from pathlib import Path
from typing import Any

LANGUAGES = ("zh-CN", "en")
DEFAULT_LANGUAGE = "zh-CN"
LOCALES = Path(__file__).with_name("locales")
_FOLDER = {"zh-CN": "zh_CN"}
_current: ContextVar[str] = ContextVar("gridgov_language", default=DEFAULT_LANGUAGE)


def normalize(tag: str | None) -> str | None:
    """A supported language from a tag as browsers and people write it (zh, zh-CN, zh_Hans_CN, en-GB …)."""
    if not tag:
        return None
    parts = re.split(r"[-_]", tag.strip().lower())
    if parts[0] == "zh" and not ({"tw", "hk", "mo", "hant"} & set(parts[1:])):
        return "zh-CN"
    if parts[0] == "en":
        return "en"
    return None


def accept_language(header: str | None) -> list[str]:
    """The supported languages an `Accept-Language` header asks for, best first; anything malformed is ignored."""
    ranked: list[tuple[float, int, str]] = []
    for n, item in enumerate((header or "")[:1000].split(",")):
        tag, _, params = item.partition(";")
        q = 1.0
        m = re.fullmatch(r"\s*q\s*=\s*([01](?:\.\d{0,3})?)\s*", params) if params else None
        if params and m is None:
            continue
        if m is not None:
            q = float(m.group(1))
        lang = normalize(tag) if re.fullmatch(r"\s*[A-Za-z]{1,8}(?:[-_][A-Za-z0-9]{1,8})*\s*", tag) else None
        if lang and q > 0:
            ranked.append((-q, n, lang))
    return [lang for _, _, lang in sorted(ranked)]


def negotiate(*, query: str | None = None, preference: str | None = None, accept: str | None = None,
              default: str | None = None) -> str:
    """The language to answer in: `?lang=`, then the user's preference, then `Accept-Language`, then the
    configured default, then zh-CN. An unknown or malformed value is skipped, never an error."""
    for candidate in (normalize(query), normalize(preference), *accept_language(accept), normalize(default)):
        if candidate:
            return candidate
    return DEFAULT_LANGUAGE


def current_language() -> str:
    return _current.get()


def set_language(lang: str) -> None:
    """Set the language of the work in hand (this context and the threads it starts)."""
    _current.set(normalize(lang) or DEFAULT_LANGUAGE)


@contextmanager
def language(lang: str) -> Iterator[None]:
    """Work in `lang` inside the block."""
    token = _current.set(normalize(lang) or DEFAULT_LANGUAGE)
    try:
        yield
    finally:
        _current.reset(token)


@cache
def catalog(lang: str) -> dict[str, str]:
    """msgid → translation for a language (every .po file of its folder; fuzzy and empty entries left out)."""
    from babel.messages.pofile import read_po

    folder = _FOLDER.get(lang)
    out: dict[str, str] = {}
    if folder is None:
        return out
    for path in sorted((LOCALES / folder).glob("*.po")):
        with path.open("rb") as f:
            for message in read_po(f, locale=folder):
                if message.id and isinstance(message.id, str) and message.string and not message.fuzzy:
                    out[message.id] = str(message.string)
    return out


def gettext(msgid: str, lang: str | None = None) -> str:
    """The translation of `msgid` in `lang` (default: the current language), else the English id."""
    return catalog(lang or current_language()).get(msgid, msgid)


class Text:
    """Translatable text with named fields, rendered in a language when someone reads it.

    `str()` gives the English (logs, tracebacks, tests of behaviour); `render()` the current language."""

    __slots__ = ("msgid", "params")

    def __init__(self, msgid: str, /, **params: Any) -> None:
        self.msgid = msgid
        self.params = params

    def render(self, lang: str | None = None) -> str:
        lang = lang or current_language()
        values = {k: v.render(lang) if isinstance(v, Text) else v for k, v in self.params.items()}
        try:
            return gettext(self.msgid, lang).format(**values)
        except (KeyError, IndexError, ValueError):  # a broken translation must not hide the message
            return self.msgid.format(**values)

    def __str__(self) -> str:
        return self.render("en")

    def __repr__(self) -> str:
        return f"T({self.msgid!r}, {self.params!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Text) and (self.msgid, self.params) == (other.msgid, other.params)

    def __hash__(self) -> int:
        return hash(self.msgid)


def T(msgid: str, /, **params: Any) -> Text:  # noqa: N802 - the extraction keyword, short on purpose
    """Mark a message for translation (rendered later, in the reader's language)."""
    return Text(msgid, **params)


def N_(msgid: str) -> str:  # noqa: N802
    """Mark a string for extraction only (a term kept as an id and translated where it is shown)."""
    return msgid


def join(items: list[str], lang: str | None = None) -> str:
    """A list as the language writes it: 甲、乙、丙 or A, B, C."""
    return ("、" if (lang or current_language()) == "zh-CN" else ", ").join(items)


def render(value: str | Text, lang: str | None = None) -> str:
    """A message in `lang` whether it was marked for translation or not."""
    return value.render(lang) if isinstance(value, Text) else value
