"""First-violation lists (首违不罚 / 责令改正前置 / 可单独警告) and the party (当事人) of a handled case.

A matter's list class is catalogue data (`first_violation` in the matter's attributes, the 首违类别 column, with
its look-back window `first_violation_months`, 首违回溯期). When the same party has no earlier case of the matter
within the window, the list proposes its outcome; otherwise — or for a matter on no list — the proposal is a
penalty under the case's procedure (简易: on the spot; 普通: a filed penalty decision). The officer records the
outcome; a choice other than the proposal is kept as such.

The party's number is checked and never kept: an 18-digit resident ID (GB 11643: birth date and the ISO 7064
MOD 11-2 check character; a 15-digit first-generation ID is widened to its 18-digit form, so both hash the
same) or a 统一社会信用代码 (GB 32100: 31-character alphabet, MOD 31 check character). What is stored is a salted
HMAC-SHA256 (to find the same party again) and a masked form (to show).
"""

from __future__ import annotations

import calendar
import hashlib
import hmac
import re
from dataclasses import dataclass
from datetime import date, datetime
from typing import Literal

from gis.errors import InvalidInput
from i18n import T, Text

ListClass = Literal["none", "no_penalty", "correction_first", "warning_only"]
LIST_CLASSES: tuple[str, ...] = ("none", "no_penalty", "correction_first", "warning_only")
OUTCOMES: tuple[str, ...] = ("no_penalty", "correction_order", "warning", "penalty")
# What a first violation of a listed matter gets.
FIRST_OUTCOME = {"no_penalty": "no_penalty", "correction_first": "correction_order", "warning_only": "warning"}
DEFAULT_MONTHS = 12
PARTY_KINDS = ("person", "organisation")

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"
USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
_USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)


def id_check_char(first17: str) -> str:
    """The check character of a resident ID from its first 17 digits (ISO 7064 MOD 11-2)."""
    return _ID_CHECK[sum(int(c) * w for c, w in zip(first17, _ID_WEIGHTS, strict=True)) % 11]


def uscc_check_char(first17: str) -> str:
    """The check character of a 统一社会信用代码 from its first 17 characters (GB 32100, MOD 31)."""
    total = sum(USCC_ALPHABET.index(c) * w for c, w in zip(first17, _USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def _birth_ok(digits: str) -> bool:
    try:
        born = date(int(digits[:4]), int(digits[4:6]), int(digits[6:8]))
    except ValueError:
        return False
    return date(1880, 1, 1) <= born <= date.today()


def normalize_id_card(value: str) -> str:
    """A resident ID as its 18-character form, or InvalidInput saying what is wrong."""
    text = value.strip().upper().replace(" ", "")
    if re.fullmatch(r"[0-9]{15}", text):  # first generation: 6-digit area, YYMMDD, 3-digit sequence
        if not _birth_ok("19" + text[6:12]):
            raise InvalidInput(T("the ID number's birth date {birth} is not a real date", birth=text[6:12]),
                               where="party.id_number", code="bad_id_number")
        body = text[:6] + "19" + text[6:]
        return body + id_check_char(body)
    if not re.fullmatch(r"[0-9]{17}[0-9X]", text):
        raise InvalidInput(T("an ID number has 18 characters (17 digits and a digit or X), or 15 digits on an old "
                             "card"),
                           where="party.id_number", code="bad_id_number")
    if not _birth_ok(text[6:14]):
        raise InvalidInput(T("the ID number's birth date {birth} is not a real date", birth=text[6:14]),
                           where="party.id_number", code="bad_id_number")
    if id_check_char(text[:17]) != text[17]:
        raise InvalidInput(T("the ID number's check digit is wrong: check the number and type it again"),
                           where="party.id_number", code="bad_id_number")
    return text


def normalize_uscc(value: str) -> str:
    """A 统一社会信用代码 in capitals, or InvalidInput saying what is wrong."""
    text = value.strip().upper().replace(" ", "")
    if len(text) != 18 or any(c not in USCC_ALPHABET for c in text):
        raise InvalidInput(T("a unified social credit code has 18 characters: digits and capital letters "
                             "except I, O, Z, S and V"), where="party.id_number", code="bad_credit_code")
    if uscc_check_char(text[:17]) != text[17]:
        raise InvalidInput(T("the unified social credit code's check character is wrong: check the code and type "
                             "it again"), where="party.id_number", code="bad_credit_code")
    return text


@dataclass(frozen=True)
class Party:
    """A checked party: kind, the type of number, the number itself (held in memory only) and a name."""

    kind: str
    id_type: str
    number: str
    name: str

    def masked(self) -> str:
        """What may be shown: 110***********123X; 91**********12345X."""
        keep = (3, 4) if self.id_type == "id_card" else (2, 4)
        return self.number[:keep[0]] + "*" * (len(self.number) - sum(keep)) + self.number[-keep[1]:]

    def masked_name(self) -> str:
        """A person's name shows its first character only (张*); an organisation's name in full."""
        if self.kind == "organisation" or not self.name:
            return self.name
        return self.name[0] + "*" * (len(self.name) - 1)

    def digest(self, salt: str) -> str:
        """The salted hash the party is found again by (HMAC-SHA256 over the type and the number)."""
        return hmac.new(salt.encode(), f"{self.id_type}:{self.number}".encode(), hashlib.sha256).hexdigest()


def parse_party(data: object) -> Party:
    """The party from JSON ({kind, id_number, name}); a bad number is InvalidInput in the reader's words."""
    if not isinstance(data, dict):
        raise InvalidInput(T("party must be an object with kind, id_number and name"), where="party")
    kind = data.get("kind")
    if kind not in PARTY_KINDS:
        raise InvalidInput(T("party kind must be person or organisation, got {kind}", kind=repr(kind)),
                           where="party.kind")
    number, name = data.get("id_number"), data.get("name", "")
    if not isinstance(number, str) or not number.strip():
        raise InvalidInput(T("the party's ID number or unified social credit code is missing"),
                           where="party.id_number")
    if not isinstance(name, str) or len(name) > 200 or re.search(r"[\x00-\x1f\x7f]", name):
        raise InvalidInput(T("the party's name must be text of at most 200 characters, without control characters"),
                           where="party.name")
    if kind == "person":
        return Party("person", "id_card", normalize_id_card(number), name.strip())
    return Party("organisation", "uscc", normalize_uscc(number), name.strip())


def list_class(attributes: dict[str, object]) -> str:
    """The matter's first-violation list class ('none' when unclassified)."""
    value = attributes.get("first_violation")
    return value if isinstance(value, str) and value in LIST_CLASSES else "none"


def window_months(attributes: dict[str, object]) -> int:
    value = attributes.get("first_violation_months")
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else DEFAULT_MONTHS


def months_before(at: datetime, months: int) -> datetime:
    """The same wall-clock moment `months` calendar months earlier (the 31st falls back to the month's end)."""
    year, month = divmod(at.year * 12 + at.month - 1 - months, 12)
    return at.replace(year=year, month=month + 1, day=min(at.day, calendar.monthrange(year, month + 1)[1]))


@dataclass(frozen=True)
class Proposal:
    """The outcome the list proposes, and why."""

    outcome: str
    list_class: str
    first: bool
    months: int
    earlier: tuple[int, ...]
    basis: Text

    def as_json(self) -> dict[str, object]:
        return {"outcome": self.outcome, "list": self.list_class, "first": self.first, "window_months": self.months,
                "earlier_cases": list(self.earlier), "basis": self.basis.render()}


def propose(klass: str, months: int, earlier: tuple[int, ...], procedure: str) -> Proposal:
    """The proposal for a party with `earlier` cases of the matter within the window (case ids)."""
    first = not earlier
    how = T("simple procedure (on the spot)") if procedure == "simple" else T("ordinary procedure")
    if klass in FIRST_OUTCOME and first:
        outcome = FIRST_OUTCOME[klass]
        basis = T("first violation of a {list} matter: no earlier case of this party within {months} months",
                  list=_LIST_WORDS[klass], months=months)
    elif klass in FIRST_OUTCOME:
        outcome = "penalty"
        basis = T("not a first violation: the party's earlier case(s) {cases} within {months} months; penalty "
                  "under the {procedure}", cases=", ".join(f"#{c}" for c in earlier), months=months, procedure=how)
    else:
        outcome = "penalty"
        basis = T("the matter is on no first-violation list: penalty under the {procedure}", procedure=how)
    return Proposal(outcome, klass, first, months, earlier, basis)


_LIST_WORDS = {"no_penalty": T("no-penalty list"), "correction_first": T("correction-first list"),
               "warning_only": T("warning-only list")}
