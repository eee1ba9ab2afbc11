"""The indicators page (`GET /indicators` in a browser): a table to read, sort and download, no map."""

from __future__ import annotations

from typing import Any

from config import Settings
from i18n import DEFAULT_LANGUAGE, gettext, normalize
from i18n.terms import TERMS
from web.pages import _TEMPLATES, _embedded, page_catalog


def render_indicators_page(settings: Settings, lang: str | None = None) -> str:
    """The page's HTML in `lang`, its strings embedded like the map pages' (web/pages.py)."""
    lang = normalize(lang) or normalize(settings.language) or DEFAULT_LANGUAGE

    def t(msgid: str, **params: Any) -> str:
        return gettext(msgid, lang).format(**params) if params else gettext(msgid, lang)

    config = {"page": "indicators", "lang": lang, "time_zone": settings.timezone,
              "demo_user": "dispatcher" if settings.demo_sign_in else None}
    i18n = _embedded({"lang": lang, "messages": page_catalog(lang), "terms": TERMS})
    return _TEMPLATES.get_template("indicators.html").render(t=t, lang=lang, i18n=i18n, config=_embedded(config))
