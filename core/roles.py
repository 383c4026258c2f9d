"""Who is acting and what they may do (domain rule 18).

A viewer reads and downloads; a manager does every billing action; an admin is a manager who may also
change Settings (the billing switch, the time zone, invoice profiles, parties and groups, imports).
Every core write takes its actor: a plain string (local mode, full rights) or an `Actor` signed in
with an e-mail and a role. The check lives here, in core, so a page that shows a button by mistake
still cannot let a viewer write.
"""

from __future__ import annotations

from dataclasses import dataclass

from core.errors import InvoiceDeskError

VIEWER, MANAGER, ADMIN = "viewer", "manager", "admin"
ROLES = (VIEWER, MANAGER, ADMIN)
_RANK = {VIEWER: 0, MANAGER: 1, ADMIN: 2}
_MAX = 120  # AuditRecord.actor's width


def _clean(text: object) -> str:
    if not isinstance(text, str):
        return ""
    return " ".join(text.replace("\x00", "").split())


@dataclass(frozen=True)
class Actor:
    """A signed-in person: the e-mail the audit log records, the role the lists gave them, and a name to show."""

    email: str
    role: str = MANAGER
    name: str = ""

    def __post_init__(self) -> None:
        email, role = _clean(self.email).lower(), _clean(self.role).lower()
        if not email or len(email) > _MAX:
            raise InvoiceDeskError("A signed-in actor needs an e-mail address (at most 120 characters).")
        if role not in _RANK:
            raise InvoiceDeskError(f"Unknown role {_clean(self.role)[:40]!r}: a role is viewer, manager or admin.")
        object.__setattr__(self, "email", email)
        object.__setattr__(self, "role", role)
        object.__setattr__(self, "name", _clean(self.name)[:_MAX])

    @property
    def label(self) -> str:
        """How the sidebar names them: their name, or their e-mail when the provider gave no name."""
        return self.name or self.email

    def may(self, need: str = MANAGER) -> bool:
        return _RANK[self.role] >= _RANK[need]


def permit(actor: object, need: str = MANAGER) -> str:
    """The name the audit log records for `actor`, or InvoiceDeskError when they may not do this.

    `need` is MANAGER for billing actions and ADMIN for Settings. A plain string is local mode (full rights).
    """
    if need not in _RANK:
        raise ValueError(f"unknown role {need!r}")
    if isinstance(actor, Actor):
        if not actor.may(need):
            if actor.role == VIEWER:
                raise InvoiceDeskError(f"{actor.label} may look at everything but change nothing (role: viewer). "
                                       "Ask a manager to do this, or an administrator to make you a manager.")
            raise InvoiceDeskError(f"Only an administrator may change Settings; {actor.label} is a manager.")
        return actor.email
    name = actor.replace("\x00", "").strip() if isinstance(actor, str) else ""
    if not name:
        raise InvoiceDeskError("Who is doing this? An actor (the manager's name or sign-in) is required.")
    return name[:_MAX]
