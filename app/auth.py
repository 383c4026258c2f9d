"""Who is using the app, and what they may do (issue 14).

With an `[auth]` section in `.streamlit/secrets.toml`, everyone signs in through Streamlit's `st.login`
(OpenID Connect). The `[access]` section beside it gives the roles, by e-mail address or whole domain:

    [access]
    viewers = ["@riverbend.example"]           # everyone at the practice may look
    managers = ["maria@riverbend.example"]     # billing actions
    admins = ["it@riverbend.example"]          # Settings too; without this list, managers are admins

The highest list that names someone wins. A signed-in person on no list sees a polite refusal and nothing else.
Without `[auth]` the app runs in local mode: the server listens on 127.0.0.1 only (.streamlit/config.toml) and
the operating-system user (or INVOICE_DESK_USER) is the actor, with full rights.

Pages hide what a role may not do; core refuses it anyway (core.roles), so a page bug cannot let a viewer write.
"""

from __future__ import annotations

import getpass
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st
from streamlit.delta_generator import DeltaGenerator

from app.ui import md
from core import ADMIN, MANAGER, VIEWER, Actor, InvoiceDeskError

USER_ENV = "INVOICE_DESK_USER"
LISTS = (("admins", ADMIN), ("managers", MANAGER), ("viewers", VIEWER))  # highest first
VIEWER_NOTE = "You are signed in as a viewer: you may look at everything and download documents, but not change anything."
ADMIN_NOTE = "Only an administrator may change Settings; you may look at them."


class ConfigError(Exception):
    """The secrets file exists but cannot be read: the app must not fall back to local mode."""


def _secrets_paths() -> list[Path]:
    from streamlit import config

    return [Path(p) for p in (config.get_option("secrets.files") or [])]


def _secrets() -> Mapping[str, Any]:
    """st.secrets as a mapping; empty when there is no secrets file (local mode)."""
    try:
        return {key: st.secrets[key] for key in st.secrets}
    except FileNotFoundError as missing:  # StreamlitSecretNotFoundError: none found, or one that does not parse
        if any(path.exists() for path in _secrets_paths()):
            raise ConfigError(str(missing)) from missing
        return {}


def configured() -> bool:
    """Sign-in is on: the secrets have an [auth] section."""
    return "auth" in _secrets()


def local_actor() -> str:
    """Local mode's actor: INVOICE_DESK_USER, or the operating-system user."""
    name = os.environ.get(USER_ENV, "").strip()
    if name:
        return name
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no user name in a container without /etc/passwd entry
        return "local user"


def _entries(value: object) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list | tuple):
        return []
    return [e.strip().lower() for e in value if isinstance(e, str) and e.strip()]


def _matches(email: str, entry: str) -> bool:
    """An entry is an address (maria@riverbend.example) or a whole domain (@riverbend.example or riverbend.example)."""
    if "@" in entry.lstrip("@"):
        return email == entry
    return email.rpartition("@")[2] == entry.lstrip("@")


def role_for(email: str, access: Mapping[str, object]) -> str | None:
    """The highest role the [access] lists give this address; None when no list names it."""
    email = email.strip().lower()
    if "@" not in email:
        return None
    for key, role in LISTS:
        if any(_matches(email, entry) for entry in _entries(access.get(key))):
            return ADMIN if role == MANAGER and "admins" not in access else role
    return None


def _claim_email(user: Mapping[str, Any]) -> str:
    """The signed-in address: the `email` claim, or Microsoft Entra's `preferred_username` when it is one."""
    for claim in ("email", "preferred_username", "upn"):
        value = user.get(claim)
        if isinstance(value, str) and "@" in value:
            return value.strip().lower()
    return ""


def _user() -> dict[str, Any]:
    try:
        return st.user.to_dict()
    except Exception:  # noqa: BLE001 (no session context: a script importing the page)
        return {}


def signed_in() -> Actor | None:
    """The signed-in person with their role, or None: not signed in, no usable address, or on no list."""
    user = _user()
    if not user.get("is_logged_in"):
        return None
    email = _claim_email(user)
    if not email or user.get("email_verified") is False:
        return None
    access = _secrets().get("access") or {}
    role = role_for(email, access if isinstance(access, Mapping) else {})
    if role is None:
        return None
    try:
        return Actor(email=email, role=role, name=str(user.get("name") or ""))
    except InvoiceDeskError:
        return None


def current() -> str | Actor:
    """Who is acting: the signed-in Actor, or local mode's user name. A signed-out session has no rights."""
    if not configured():
        return local_actor()
    actor = signed_in()
    if actor is None:  # the gate stops such a run before any page; this keeps core refusing if one slipped by
        return Actor(email="signed-out@invoice-desk.invalid", role=VIEWER, name="Nobody signed in")
    return actor


def may(need: str = MANAGER) -> bool:
    """May the current user do what needs this role? Pages use it to hide controls; core checks again."""
    actor = current()
    return not isinstance(actor, Actor) or actor.may(need)


def _providers(auth: Mapping[str, Any]) -> list[str | None]:
    """The [auth] section's providers: None for the default one, else each [auth.NAME] with a client_id."""
    named = [name for name, value in auth.items() if isinstance(value, Mapping) and "client_id" in value]
    return ([None] if "client_id" in auth else []) + sorted(named)


def _sign_in_screen(auth: Mapping[str, Any]) -> None:
    st.title("Invoice Desk")
    st.write("Invoice Desk shows patients' visits and the practice's money, so only the practice's people may "
             "come in. Sign in with your work account to continue.")
    providers = _providers(auth)
    if not providers:
        st.error("Sign-in is configured without a provider: `[auth]` in `.streamlit/secrets.toml` needs a "
                 "`client_id`, `client_secret` and `server_metadata_url` (see README, Sign-in and roles).")
    for provider in providers:
        label = "Sign in" if provider is None else f"Sign in with {provider.replace('_', ' ').title()}"
        st.button(label, type="primary", key=f"auth_login_{provider or 'default'}", icon=":material/login:",
                  on_click=st.login, args=(provider,) if provider else ())


def _refusal(user: Mapping[str, Any]) -> None:
    email = _claim_email(user)
    st.title("Invoice Desk")
    if not email:
        st.warning("Your sign-in did not give an e-mail address, and Invoice Desk lets people in by address. "
                   "Ask your administrator to have the provider send the `email` claim.")
    elif user.get("email_verified") is False:
        st.warning(f"Your provider has not verified the address {email}, so Invoice Desk cannot let you in "
                   "with it. Verify it with your provider, then sign in again.")
    else:
        st.warning(f"You are signed in as {email}, but that address is not on Invoice Desk's access list. "
                   "If you work at the practice, ask your administrator to add you.")
    st.button("Sign out", key="auth_logout_refused", icon=":material/logout:", on_click=st.logout)


def gate() -> str | Actor:
    """First thing after the router: local mode passes; otherwise a run without a permitted user stops here,
    on the sign-in screen or the refusal, before any page reads data."""
    try:
        secrets = _secrets()
    except ConfigError as broken:
        st.error(f"Invoice Desk cannot read its secrets file, so it will not start without sign-in: {broken}")
        st.stop()
    auth = secrets.get("auth")
    if auth is None:
        exposed = _listening_wider()
        if exposed:
            st.warning(f"Sign-in is off, yet this server listens on {md(exposed)}: anyone who can reach it can see and "
                       "change everything. Configure sign-in (README, Sign-in and roles) or listen on 127.0.0.1.",
                       icon=":material/gpp_maybe:")
        return local_actor()
    user = _user()
    if not user.get("is_logged_in"):
        _sign_in_screen(auth if isinstance(auth, Mapping) else {})
        st.stop()
    actor = signed_in()
    if actor is None:
        _refusal(user)
        st.stop()
    return actor


def _listening_wider() -> str:
    """The server's address when local mode listens beyond this computer ('' on loopback)."""
    from streamlit import config

    address = str(config.get_option("server.address") or "")
    return "" if address in ("127.0.0.1", "localhost", "::1") else address or "every address"


def sidebar(actor: str | Actor) -> None:
    """Who is acting, at the foot of the sidebar: name, role and Sign out; or local mode's notice."""
    if isinstance(actor, Actor):
        st.markdown(f"**{md(actor.label)}**  \n{md(actor.email)} · {actor.role}")
        st.button("Sign out", key="auth_logout", icon=":material/logout:", on_click=st.logout)
    else:
        st.caption(f"Sign-in is off: local mode, this computer only. Acting as **{md(actor)}**.")


def role_tabs(spec: list[tuple[str, str]]) -> list[DeltaGenerator | None]:
    """st.tabs for the labels this user's role may use; a tab they may not use is None (and not drawn)."""
    shown = [label for label, need in spec if may(need)]
    drawn = dict(zip(shown, st.tabs(shown), strict=True))
    return [drawn.get(label) for label, _ in spec]
