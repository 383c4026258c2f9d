"""One set of rules for what a manager types about a party, a group or the invoice profile (issue 10).

`PartyFields` is the party's rules, used alike by `create_party`, `update_party` and the parties CSV import, so
the same value is accepted or refused the same way, with the same words, wherever it is typed. `ProfileFields`
does the same for the invoice profile. Each rule's message names the field, shows the value and says the fix.
"""

from __future__ import annotations

import string
import unicodedata
from collections.abc import Mapping
from enum import Enum
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, ValidationError, ValidationInfo, field_validator

from core.errors import InvoiceDeskError
from core.inputs import email_addresses, is_email, parse_id
from core.models import AgingBasis, PartyKind, TotalBy

# The words a CSV cell may use for yes and no; a call from Python passes True or False.
YES, NO = frozenset({"yes", "y", "true", "1"}), frozenset({"no", "n", "false", "0"})


def label(name: str) -> str:
    return name.replace("_", " ").capitalize()


def shown(value: object, width: int = 40) -> str:
    """A value as a message quotes it: its repr, cut to a readable width."""
    text = repr(value)
    return text if len(text) <= width else text[:width - 3] + "..."


def clean_text(value: object, name: str, limit: int, *, lines: bool = False) -> str:
    """Text as stored: NUL removed, trimmed, at most `limit` characters, one line unless `lines`."""
    if not isinstance(value, str):
        raise ValueError(f"{label(name)} must be text, not {shown(value)}.")
    text = value.replace("\x00", "").strip()
    if lines:
        text = text.replace("\r\n", "\n")
    if len(text) > limit:
        raise ValueError(f"{label(name)} is {len(text):,} characters long; shorten it to at most {limit:,}.")
    allowed = "\n\t" if lines else ""
    if any(unicodedata.category(c) == "Cc" and c not in allowed for c in text):
        where = "a control character" if lines else "a line break, tab or control character"
        raise ValueError(f"{label(name)} holds {where}; type it on {'its lines' if lines else 'one line'}.")
    return text


def flag(value: object, name: str, *, words: bool = False) -> bool:
    """A yes/no field: True or False from Python; yes/no (y/n, true/false, 1/0) from a CSV cell too."""
    if isinstance(value, bool):
        return value
    if words and isinstance(value, str) and value.strip().lower() in YES | NO:
        return value.strip().lower() in YES
    raise ValueError(f"{label(name)} must be yes or no (True or False), not {shown(value)}.")


def problems(error: ValidationError) -> list[tuple[str, str]]:
    """(field, message) for each rule a value broke, in the order of the fields."""
    found = []
    for item in error.errors():
        name = str(item["loc"][0]) if item["loc"] else ""
        cause = (item.get("ctx") or {}).get("error")
        if item["type"] == "extra_forbidden":
            message = f"Unknown {{what}} field '{name}'."
        elif isinstance(cause, Exception):
            message = str(cause)
        else:  # a type the before-validators let through; not expected, still in words
            message = f"{label(name)}: {item['msg']}."
        found.append((name, message))
    return found


class _Fields(BaseModel):
    """Only the fields given are checked and returned, so an update checks what it changes."""

    model_config = ConfigDict(extra="forbid", validate_default=False, arbitrary_types_allowed=True)
    what: ClassVar[str] = "field"

    @classmethod
    def check(cls, values: Mapping[str, object], *, csv: bool = False) -> tuple[dict[str, Any], list[tuple[str, str]]]:
        """The clean values, or the problems: [(field, message)]; never raises for a bad value."""
        try:
            model = cls.model_validate(dict(values), context={"csv": csv})
        except ValidationError as exc:
            return {}, [(name, message.replace("{what}", cls.what)) for name, message in problems(exc)]
        # A vocabulary value (PartyKind, TotalBy) is stored as its plain text.
        clean = {name: str(value) if isinstance(value, Enum) else value
                 for name, value in model.model_dump(exclude_unset=True).items()}
        return clean, []

    @classmethod
    def require(cls, values: Mapping[str, object]) -> dict[str, Any]:
        """The clean values, or an InvoiceDeskError naming every problem."""
        clean, found = cls.check(values)
        if found:
            raise InvoiceDeskError(" ".join(message for _, message in found))
        return clean


# ---------- parties ----------

PARTY_TEXT = {"account_code": 40, "name": 200, "contact_name": 200, "email": 1000, "email_cc": 1000,
              "address_line1": 200, "address_line2": 200, "city": 100, "state": 40, "postal_code": 20}
GROUP_NAME_LIMIT = 200


class PartyFields(_Fields):
    """A bill-to party's fields as typed: in a form, a call to core, or a row of a parties CSV."""

    what: ClassVar[str] = "party"
    account_code: str = ""
    name: str = ""
    kind: PartyKind = PartyKind.EMPLOYER
    group_id: int | None = None
    billable: bool = True
    active: bool = True
    contact_name: str = ""
    email: str = ""
    email_cc: str = ""
    address_line1: str = ""
    address_line2: str = ""
    city: str = ""
    state: str = ""
    postal_code: str = ""

    @field_validator(*PARTY_TEXT, mode="before")
    @classmethod
    def _text(cls, value: object, info: ValidationInfo) -> str:
        name = info.field_name or ""
        text = clean_text(value, name, PARTY_TEXT[name])
        if name == "account_code" and not text:
            raise ValueError("A party needs an account code.")
        if name == "name" and not text:
            raise ValueError("A party needs a name.")
        if name in ("email", "email_cc") and text:
            # Billing e-mail: several addresses, separated by commas; stored as "a@x.com, b@x.com".
            addresses = email_addresses(text)
            bad = [a for a in addresses if not is_email(a)]
            if bad:
                raise ValueError(f"{shown(bad[0])} is not an e-mail address; write each as name@example.com, "
                                 "separated by commas.")
            return ", ".join(addresses)
        return text

    @field_validator("kind", mode="before")
    @classmethod
    def _kind(cls, value: object) -> PartyKind:
        if isinstance(value, str) and value.strip().lower() in tuple(PartyKind):
            return PartyKind(value.strip().lower())
        raise ValueError(f"Kind must be employer or attorney, not {shown(value)}.")

    @field_validator("billable", "active", mode="before")
    @classmethod
    def _flag(cls, value: object, info: ValidationInfo) -> bool:
        return flag(value, info.field_name or "", words=bool(info.context and info.context.get("csv")))

    @field_validator("group_id", mode="before")
    @classmethod
    def _group(cls, value: object) -> int | None:
        if value is None:
            return None
        if isinstance(value, int) and parse_id(value) is not None:
            return value
        raise ValueError(f"Group id {shown(value)} is not an id; choose a group from the list, or None.")


def group_name(value: object) -> str:
    """An employer group's name, for create_group, update_group and the group column of a parties CSV."""
    try:
        text = clean_text(value, "group", GROUP_NAME_LIMIT)
    except ValueError:
        text = ""
    if not text:
        raise InvoiceDeskError(f"A group needs a name of at most {GROUP_NAME_LIMIT} characters.")
    return text


def free_text(value: object, name: str, limit: int) -> str:
    """A note, a reason, a reference: text with its NUL characters removed, trimmed, at most `limit` characters
    on both databases (PostgreSQL refuses NUL in text, SQLite would keep any length)."""
    if value is None:
        return ""
    try:
        return clean_text(value, name, limit, lines=True)
    except ValueError as exc:
        raise InvoiceDeskError(str(exc)) from None


def require_flag(value: object, name: str) -> bool:
    """A yes/no argument of a core function (a setting, a switch): True or False, refused in words otherwise."""
    try:
        return flag(value, name)
    except ValueError as exc:
        raise InvoiceDeskError(str(exc)) from None


# ---------- the invoice profile ----------

MAX_LOGO_BYTES = 2 * 1024 * 1024
# The footer prints in a fixed strip at the bottom of every page; longer text would be shrunk to fit (to 2.6 pt at
# 1,000 characters), so it is refused instead.
MAX_FOOTER = 200

# What a subject or body template may say; a manager sees this list in Settings.
PLACEHOLDERS = {
    "invoice_number": "the invoice's number as sent (INV-000123-2)",
    "balance_due": "the balance printed on it ($1,234.00)",
    "billed": "what it billed",
    "due_date": "its due date (2026-12-27)",
    "sent_on": "the day the batch sent it",
    "party_name": "the bill-to party",
    "account_code": "the party's account code",
    "contact_name": "the party's contact, else its name",
    "practice_name": "the remit-to name of the invoice profile",
    "batch_number": "the batch (stb) number",
}


def check_template(text: str, what: str) -> str:
    """An e-mail template as saved: only the placeholders above, each plain ({name}, no attribute, index or format)."""
    try:
        parts = list(string.Formatter().parse(text))
    except ValueError as exc:
        raise InvoiceDeskError(f"The {what} has a stray brace ({exc}); write a literal brace as {{{{ or }}}}.") from exc
    for _, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in PLACEHOLDERS or spec or conversion:
            shown_field = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise InvoiceDeskError(f"The {what} uses {shown_field[:60]}, which is not a placeholder; use "
                                   + ", ".join("{" + p + "}" for p in PLACEHOLDERS) + ".")
    return text


_PROFILE_TEXT = {"remit_to_name": (200, False), "remit_to_address": (600, True), "logo_mime": (40, False),
                 "email_subject": (300, False), "email_body": (4000, True)}
_LOGO_TYPES = ("", "image/png", "image/jpeg", "image/jpg", "image/gif")


class ProfileFields(_Fields):
    """The invoice profile's fields as a manager sets them in Settings."""

    what: ClassVar[str] = "invoice profile"
    remit_to_name: str = ""
    remit_to_address: str = ""
    logo: bytes | None = None
    logo_mime: str = ""
    footer: str = ""
    terms_days: int = 30
    show_procedure_codes: bool = True
    total_by: TotalBy = TotalBy.PATIENT
    number_prefix: str = "INV-"
    aging_basis: AgingBasis = AgingBasis.FIRST_SENT
    write_off_confirm_cents: int = 5000
    email_subject: str = ""
    email_body: str = ""

    @field_validator(*_PROFILE_TEXT, mode="before")
    @classmethod
    def _text(cls, value: object, info: ValidationInfo) -> str:
        name = info.field_name or ""
        limit, lines = _PROFILE_TEXT[name]
        text = clean_text(value, name, limit, lines=lines)
        if name in ("email_subject", "email_body"):
            try:
                check_template(text, label(name).lower())
            except InvoiceDeskError as exc:
                raise ValueError(str(exc)) from exc
        if name == "logo_mime" and text not in _LOGO_TYPES:
            raise ValueError(f"The logo must be a PNG, JPEG or GIF image, not {shown(text)}.")
        return text

    @field_validator("footer", mode="before")
    @classmethod
    def _footer(cls, value: object) -> str:
        if isinstance(value, str) and len(value.strip()) > MAX_FOOTER:
            raise ValueError(f"The footer is {len(value.strip()):,} characters; at most {MAX_FOOTER} fit the bottom "
                             "of every page at a readable size. Shorten it, or put the rest in the remit-to address.")
        return clean_text(value, "footer", MAX_FOOTER, lines=True)

    @field_validator("logo", mode="before")
    @classmethod
    def _logo(cls, value: object) -> bytes | None:
        if value is None or value == b"":
            return None
        if not isinstance(value, bytes | bytearray):
            raise ValueError(f"The logo must be the bytes of an image file, not {shown(value)}.")
        if len(value) > MAX_LOGO_BYTES:
            raise ValueError(f"The logo is {len(value) / 1024 / 1024:.1f} MB, larger than 2 MB; use a smaller image.")
        return bytes(value)

    @field_validator("terms_days", mode="before")
    @classmethod
    def _terms(cls, value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 365:
            return value
        raise ValueError(f"Payment terms must be a whole number of days from 0 to 365, not {shown(value)}.")

    @field_validator("show_procedure_codes", mode="before")
    @classmethod
    def _codes(cls, value: object) -> bool:
        return flag(value, "show_procedure_codes")

    @field_validator("total_by", mode="before")
    @classmethod
    def _total_by(cls, value: object) -> TotalBy:
        if isinstance(value, str) and value in tuple(TotalBy):
            return TotalBy(value)
        raise ValueError(f"Total by must be 'patient' or 'procedure', not {shown(value)}.")

    @field_validator("aging_basis", mode="before")
    @classmethod
    def _aging_basis(cls, value: object) -> AgingBasis:
        if isinstance(value, str) and value in tuple(AgingBasis):
            return AgingBasis(value)
        raise ValueError(f"Aging counts from 'first sent' or 'due date', not {shown(value)}.")

    @field_validator("write_off_confirm_cents", mode="before")
    @classmethod
    def _write_off_confirm(cls, value: object) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 100_000_000:
            return value
        raise ValueError("The write-off amount that asks for a second confirmation must be whole cents from 0 to "
                         f"100,000,000 ($1,000,000.00), not {shown(value)}.")

    @field_validator("number_prefix", mode="before")
    @classmethod
    def _prefix(cls, value: object) -> str:
        if isinstance(value, str) and 0 < len(value) <= 12 and all(c.isascii() and (c.isalnum() or c in "-_/")
                                                                    for c in value):
            return value
        raise ValueError(f"The number prefix must be 1 to 12 letters, digits, '-', '_' or '/', not {shown(value)}.")
