"""System settings (the invoice billing switch) and versioned invoice profiles."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Never, ParamSpec, TypeVar

import sqlalchemy as sa
from sqlmodel import Session, col, select

from core import audit, clock
from core.db import guarded
from core.errors import BillingDisabledError, InvoiceDeskError
from core.inputs import UNSET, Unset, given
from core.models import InvoiceProfile, Setting
from core.roles import ADMIN, Actor
from core.validation import ProfileFields, require_flag

INVOICE_BILLING = "invoice_billing"
P = ParamSpec("P")
R = TypeVar("R")
PROFILE_FIELDS = ("remit_to_name", "remit_to_address", "logo", "logo_mime", "footer", "terms_days",
                  "show_procedure_codes", "total_by", "number_prefix", "aging_basis", "write_off_confirm_cents",
                  "email_subject", "email_body")


@guarded
def invoice_billing_enabled(session: Session) -> bool:
    setting = session.get(Setting, INVOICE_BILLING)
    return setting is not None and setting.value == "on"


# Which actions the billing switch blocks, declared once (domain rule 1): function name -> the refusal's words.
# Corrections (voiding a receipt, a credit memo) stay possible while billing is off.
BLOCKED_WHILE_BILLING_OFF: dict[str, str] = {}


def needs_invoice_billing(what: str) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Declare a core writer as one the billing switch blocks; it is refused before it reads anything else."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        BLOCKED_WHILE_BILLING_OFF[fn.__name__] = what

        @functools.wraps(fn)
        def gated(*args: P.args, **kwargs: P.kwargs) -> R:
            session = args[0] if args else kwargs["session"]
            require_invoice_billing(session, what)  # type: ignore[arg-type]
            return fn(*args, **kwargs)

        return gated

    return decorate


def require_invoice_billing(session: Session, what: str) -> None:
    if not invoice_billing_enabled(session):
        raise BillingDisabledError(
            f"Invoice billing is switched off, so {what} is not possible. "
            "Turn it on in Settings > Invoice billing."
        )


@guarded
def set_invoice_billing(session: Session, *, enabled: bool, actor: str | Actor) -> None:
    actor = audit.require_actor(actor, ADMIN)
    enabled = require_flag(enabled, "invoice billing")  # 'off' is a true value in Python: it would turn billing on
    value = "on" if enabled else "off"
    setting = session.get(Setting, INVOICE_BILLING)
    before = setting.value if setting else "off"
    if setting is None:
        setting = Setting(key=INVOICE_BILLING, value=value)
    setting.value, setting.updated_by, setting.updated_at = value, actor, clock.now()
    session.add(setting)
    session.flush()
    audit.record(session, actor=actor, action="settings.invoice_billing", entity="setting",
                 detail={"before": before, "after": value})


@guarded
def time_zone_name(session: Session) -> str:
    """The practice's time zone as set in Settings, or '' when it follows the server's."""
    setting = session.get(Setting, clock.ZONE_SETTING)
    return setting.value if setting is not None else ""


@guarded
def set_time_zone(session: Session, *, zone: str, actor: str | Actor) -> None:
    """Set the practice's time zone (an IANA name such as America/Chicago); '' follows the server's."""
    actor = audit.require_actor(actor, ADMIN)
    if not isinstance(zone, str):
        raise InvoiceDeskError(f"The time zone must be a name such as America/Chicago, not {zone!r}.")
    name = zone.strip()
    if name and clock.zone_named(name) is None:
        raise InvoiceDeskError(f"'{name[:60]}' is not a time zone; choose one such as America/Chicago.")
    setting = session.get(Setting, clock.ZONE_SETTING)
    before = setting.value if setting is not None else ""
    if setting is None:
        setting = Setting(key=clock.ZONE_SETTING, value=name)
    setting.value, setting.updated_by, setting.updated_at = name, actor, clock.now()
    session.add(setting)
    session.flush()
    clock.forget_zone(session)
    audit.record(session, actor=actor, action="settings.time_zone", entity="setting",
                 detail={"before": before or "server", "after": name or "server"})


@guarded
def current_profile(session: Session) -> InvoiceProfile | None:
    return session.exec(select(InvoiceProfile).order_by(col(InvoiceProfile.version).desc()).limit(1)).first()


def profile_for_new_batch(session: Session, *, actor: str) -> InvoiceProfile:
    """The profile in force now; a first batch on a new database gets a plain default version 1."""
    profile = current_profile(session)
    if profile is None:
        # Two first batches at once: they take turns on the billing switch's row, and the second finds the first's.
        session.execute(sa.select(col(Setting.key)).where(col(Setting.key) == INVOICE_BILLING).with_for_update())
        profile = current_profile(session)
    if profile is None:
        profile = save_invoice_profile(session, actor=actor, remit_to_name="Our Practice",
                                       footer="Thank you for your business.")
    return profile


@guarded
def save_invoice_profile(session: Session, *, actor: str | Actor, remit_to_name: str | Unset = UNSET,
                         remit_to_address: str | Unset = UNSET, logo: bytes | None | Unset = UNSET,
                         logo_mime: str | Unset = UNSET, footer: str | Unset = UNSET, terms_days: int | Unset = UNSET,
                         show_procedure_codes: bool | Unset = UNSET, total_by: str | Unset = UNSET,
                         number_prefix: str | Unset = UNSET, aging_basis: str | Unset = UNSET,
                         write_off_confirm_cents: int | Unset = UNSET, email_subject: str | Unset = UNSET,
                         email_body: str | Unset = UNSET, **unknown: Never) -> InvoiceProfile:
    """Save the changes given as a new version; batches already made keep the version they had."""
    actor = audit.require_actor(actor, ADMIN)
    fields = given(**unknown,
                   remit_to_name=remit_to_name, remit_to_address=remit_to_address, logo=logo, logo_mime=logo_mime,
                   footer=footer, terms_days=terms_days, show_procedure_codes=show_procedure_codes,
                   total_by=total_by, number_prefix=number_prefix, aging_basis=aging_basis,
                   write_off_confirm_cents=write_off_confirm_cents, email_subject=email_subject,
                   email_body=email_body)
    # The profile's rules (core.validation.ProfileFields) check what is changed; the rest was checked when saved.
    fields = ProfileFields.require(fields)
    base = current_profile(session)
    values = {name: getattr(base, name) for name in PROFILE_FIELDS} if base else {}
    before = dict(values)
    values.update(fields)
    version = (session.execute(sa.select(sa.func.max(col(InvoiceProfile.version)))).scalar() or 0) + 1
    profile = InvoiceProfile(version=version, created_by=actor, created_at=clock.now(), **values)
    session.add(profile)
    session.flush()
    audit.record(session, actor=actor, action="settings.invoice_profile", entity="invoice_profile",
                 ids=[profile.id], detail={"version": version, "changed": sorted(fields),
                                           "changes": {k: [_shown(before.get(k)), _shown(getattr(profile, k))]
                                                       for k in sorted(fields) if before.get(k) != getattr(profile, k)}})
    return profile


def _shown(value):
    """A profile value as the audit log keeps it: a logo by its size, not its bytes."""
    return f"{len(value):,} bytes" if isinstance(value, bytes) else value
