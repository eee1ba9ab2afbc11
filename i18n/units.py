"""Areas, distances, dates, lists and stored codes as a person reads them, in the reader's language.

Each helper returns a lazy `Text`, rendered when the message holding it is read: a message kept for later (a
cached topology answer, an error raised before the answer is written) reads right in every language. `str()` is
the English, as for any `Text`.

- `area(m2)`: "7.56 km²（11,342 亩）" / "7.56 km² (11,342 mu)"; below 1 km² in m² ("3,605 m²（5.4 亩）").
  1 亩 = 10,000/15 m² ≈ 666.67 m² (the statutory 市亩).
- `distance(m)`: "850 m", "3.2 km" (metric in both languages).
- `day(d)`: "2026年11月29日" in Chinese prose, ISO "2026-11-29" in English (data fields stay ISO in both).
- `moment(dt)`: "2026年11月29日 17:00" / "2026-11-29 17:00", the instant's own (the county's) wall clock.
- `listing(items)`: 甲、乙、丙 / A, B, C, each item rendered in the same language; `limit` ends it with "…";
  `clauses=True` joins sentences (甲；乙 / A; B).
- `term(kind, code)`: a stored code (case state, action, layer, …) in the words of the practice in Chinese
  (`i18n.terms`: 上报 立案 派遣 …) and as the code itself in English, so English messages — and the English
  `detail` of an error, which scripts read — keep the stable codes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from i18n import Text, current_language, render

MU_M2 = 10_000 / 15  # one 亩 in square metres (≈ 666.67)


class _Rendered(Text):
    """A value whose words depend on the language, rendered by `fn(lang)` when read."""

    __slots__ = ("_fn",)

    def __init__(self, tag: str, fn: Callable[[str], str], /, **params: Any) -> None:
        super().__init__(tag, **params)  # tag: a label for repr and equality, never a message id
        self._fn = fn

    def render(self, lang: str | None = None) -> str:
        return self._fn(lang or current_language())


def _zh(lang: str) -> bool:
    return lang == "zh-CN"


def _mu(m2: float) -> str:
    mu = m2 / MU_M2
    if abs(mu) >= 100:
        return f"{mu:,.0f}"
    if abs(mu) >= 1:
        return f"{mu:,.1f}"
    return f"{mu:.2f}" if abs(mu) >= 0.01 or mu == 0 else f"{mu:.1g}"


def _metric_area(m2: float) -> str:
    if abs(m2) >= 1e6:
        return f"{m2 / 1e6:,.2f} km²"
    return f"{m2:,.0f} m²" if abs(m2) >= 100 else f"{m2:,.1f} m²"


def area(m2: float) -> Text:
    """An area in m² or km², with 亩 beside it."""
    value = float(m2)

    def fn(lang: str) -> str:
        if _zh(lang):
            return f"{_metric_area(value)}（{_mu(value)} 亩）"
        return f"{_metric_area(value)} ({_mu(value)} mu)"
    return _Rendered("<area>", fn, m2=value)


def distance(m: float) -> Text:
    """A distance in m (below 1 km) or km."""
    value = float(m)

    def fn(lang: str) -> str:
        if abs(value) >= 100_000:
            return f"{value / 1000:,.0f} km"
        if abs(value) >= 1000:
            return f"{value / 1000:,.1f} km"
        return f"{value:,.0f} m" if abs(value) >= 10 else f"{value:.1f} m"
    return _Rendered("<distance>", fn, m=value)


def day(d: date) -> Text:
    """A day in prose: 2026年11月29日, or ISO in English."""
    only = d.date() if isinstance(d, datetime) else d
    return _Rendered("<day>", lambda lang: f"{only.year}年{only.month}月{only.day}日" if _zh(lang)
                     else only.isoformat(), d=only)


def moment(dt: datetime) -> Text:
    """An instant to the minute, on its own (the county's) wall clock."""
    return _Rendered("<moment>", lambda lang: f"{day(dt).render(lang)} {dt:%H:%M}", dt=dt)


def listing(items: Iterable[str | Text], *, limit: int | None = None, sep: str | None = None,
            clauses: bool = False) -> Text:
    """Items as the language lists them (甲、乙 / A, B; clauses: 甲；乙 / A; B), or joined by `sep`; past `limit`,
    "…"."""
    kept = tuple(items)
    shown, more = (kept[:limit], len(kept) > limit) if limit is not None else (kept, False)

    def fn(lang: str) -> str:
        words = [render(i, lang) for i in shown] + (["…"] if more else [])
        comma = ("；" if clauses else "、") if _zh(lang) else ("; " if clauses else ", ")
        return (sep if sep is not None else comma).join(words)
    return _Rendered("<listing>", fn, items=shown, more=more, sep=sep, clauses=clauses)


def term(kind: str, code: str | None) -> Text:
    """A stored code in the reader's words: the practice's word in Chinese, the code itself in English."""
    from i18n.terms import label

    return _Rendered("<term>", lambda lang: (label(kind, code, lang) or "") if _zh(lang) else (code or ""),
                     kind=kind, code=code)
