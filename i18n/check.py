"""Which message ids the code marks for translation, and which have no Chinese: the catalog completeness check.

Extraction is Babel's own (`babel.messages.extract`): Python calls of `T(...)` and `N_(...)`, and `t(...)` in the
pages' JavaScript and templates (web/templates, Jinja2). The OpenAPI document's summaries and descriptions
(route `summary=` and docstrings) are read from the document the app builds (`api.openapi.texts`).
`python -m i18n.check` lists what is missing; tests/test_i18n.py fails on any.
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.extract import extract_from_dir

from i18n import catalog, language

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("analytics", "api", "cases", "cli", "config", "etl", "gis", "i18n", "store", "web")
PASSES = [([("**.py", "python")], {"T": None, "N_": None}), ([("**/static/*.js", "javascript")], {"t": None}),
          ([("**/templates/*.html", "jinja2.ext:babel_extract")], {"t": None})]  # the pages' {{ t("...") }}


def extracted() -> dict[str, list[str]]:
    """msgid → where it is used (file:line), over the product's code and pages."""
    out: dict[str, list[str]] = {}
    for package in PACKAGES:
        for methods, keywords in PASSES:
            for filename, lineno, message, _comments, _context in extract_from_dir(
                    str(ROOT / package), methods, keywords=keywords, comment_tags=(), strip_comment_tags=True):
                msgid = message[0] if isinstance(message, tuple) else message
                if msgid:
                    out.setdefault(msgid, []).append(f"{package}/{filename}:{lineno}")
    for msgid in openapi_texts():
        out.setdefault(msgid, []).append("api/openapi.json")
    return out


def openapi_texts() -> list[str]:
    """The texts of the API's OpenAPI document (English), from an app built over a throwaway database."""
    import tempfile

    from api.app import create_app
    from api.openapi import texts
    from config import get_settings

    with tempfile.TemporaryDirectory() as tmp:
        app = create_app(get_settings(database_url=f"sqlite:///{tmp}/openapi.sqlite", data_dir=tmp), migrate=False)
        try:
            with language("en"):
                return texts(app.openapi())
        finally:
            app.state.engine.dispose()


def missing(lang: str = "zh-CN") -> dict[str, list[str]]:
    """The ids used in code that have no translation in `lang`."""
    have = catalog(lang)
    return {m: where for m, where in extracted().items() if m not in have}


def main() -> int:
    gaps = missing()
    for msgid, where in sorted(gaps.items()):
        print(f"{where[0]}: no zh-CN translation for {msgid!r}")
    print(f"i18n messages={len(extracted())} missing_zh_CN={len(gaps)}")
    return 1 if gaps else 0


if __name__ == "__main__":
    sys.exit(main())
