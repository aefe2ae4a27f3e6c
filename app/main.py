"""Tailor's entrypoint: page config, sign-in gate, session checks, navigation by role, shared filters.

Run from the repository root with ``python -m streamlit run app/main.py`` (``make
run`` does it), so that ``import analytics`` resolves.

Every rerun of a signed-in session first checks the session (``analytics.access.auth.session_expiry``:
idle and absolute timeouts) and re-reads the account (``analytics.access.auth.load_account``), so a
removed user is signed out and a changed role applies at the next click. An account whose password
was printed or set by an administrator sees only the "set your password" form
(``analytics.access.auth.change_password``) until it has its own: no page runs before that.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime

import streamlit as st

from analytics.access import auth
from analytics.common.types import ROLES, User
from analytics.store.database import Database, DatabaseError
from app import components, resources, state

log = logging.getLogger("tailor")
# Files the server process creates (DuckDB's write-ahead log, a key file on first run) are private
# to its user; the database file itself is set to 0600 by the store.
os.umask(0o077)

# Before sign-in nobody may learn the server's paths: the detailed message goes to the log.
MSG_DB_UNAVAILABLE = (
    "Tailor cannot open its database right now. The details are in the server's log: please tell "
    "your administrator."
)
MSG_FIRST_SIGN_IN = (
    "Your account was set up with a password someone else has seen (printed once, or chosen by an "
    "administrator). Choose your own to continue: Tailor opens once it is set."
)


def _now() -> datetime:
    """The session clock (aware UTC); tests move a session in time by seeding its timestamps."""
    return datetime.now(UTC)


def _show_database_error(exc: DatabaseError) -> None:
    log.error("database unavailable: %s", exc)
    st.title("Tailor")
    st.error(MSG_DB_UNAVAILABLE)
    user = components.current_user()
    signed_in_at, last_activity_at = state.get(state.SIGNED_IN_AT), state.get(state.LAST_ACTIVITY_AT)
    # An administrator whose live session predates the failure gets the detail (the path) to fix it.
    if (
        user is not None
        and user.role == "admin"
        and signed_in_at is not None
        and last_activity_at is not None
        and auth.session_expiry(signed_in_at, last_activity_at, now=_now()) is None
    ):
        st.caption(f"For administrators: {exc}")


def _end_session(db: Database, user: User, reason: auth.SessionEnd) -> None:
    db.write_audit(
        username=user.username,
        role=user.role,
        action="sign_out",
        target="sign_in",
        details={"reason": reason},
    )
    st.session_state.clear()
    st.session_state[state.NOTICE] = auth.SESSION_END_MESSAGES[reason]


def _checked_session(db: Database) -> tuple[User, auth.Account] | None:
    """The signed-in user and their account as the database has it now, or None (signed out)."""
    user = components.current_user()
    if user is None:
        return None
    now = _now()
    # The first rerun after sign-in starts both clocks.
    signed_in_at = state.get(state.SIGNED_IN_AT) or now
    reason = auth.session_expiry(signed_in_at, state.get(state.LAST_ACTIVITY_AT) or now, now=now)
    account = auth.load_account(db, user.username) if reason is None else None
    if reason is None and (account is None or account.role not in ROLES):
        reason = "account_removed"
    if reason is not None or account is None:
        _end_session(db, user, reason or "account_removed")
        return None
    if account.role != user.role:
        user = User(username=account.username, role=account.role)
        st.session_state[state.USER] = user
    st.session_state[state.SIGNED_IN_AT] = signed_in_at
    st.session_state[state.LAST_ACTIVITY_AT] = now
    return user, account


def _set_own_password(db: Database, user: User) -> None:
    """The only screen of an account that must replace a printed or administrator-set password."""
    _, middle, _ = st.columns([1, 1.2, 1])
    with middle:
        st.title("Set your password")
        st.caption(MSG_FIRST_SIGN_IN)
        with st.form("set_own_password", clear_on_submit=True):
            current = st.text_input("Current password", type="password", max_chars=auth.MAX_PASSWORD_LENGTH)
            new = st.text_input(
                "New password",
                type="password",
                max_chars=auth.MAX_PASSWORD_LENGTH,
                help=f"At least {auth.MIN_PASSWORD_LENGTH} characters.",
            )
            repeat = st.text_input(
                "Repeat the new password", type="password", max_chars=auth.MAX_PASSWORD_LENGTH
            )
            submitted = st.form_submit_button("Set password", type="primary", width="stretch")
        if submitted:
            if new != repeat:
                st.error(auth.MSG_PASSWORDS_DIFFER)
                return
            try:
                auth.change_password(db, user.username, current, new)
            except auth.UserError as exc:
                st.error(str(exc))
                return
            st.session_state[state.NOTICE] = auth.MSG_PASSWORD_CHANGED
            st.rerun()


def main() -> None:
    """Draw the shell around the selected page."""
    st.set_page_config(page_title="Tailor", page_icon=":material/insights:", layout="wide")
    path = resources.database_path()
    try:
        db = resources.get_database(path)
    except DatabaseError as exc:
        _show_database_error(exc)
        st.stop()
    session = _checked_session(db)
    notice = st.session_state.pop(state.NOTICE, None)
    if session is None:
        if notice:
            _, middle, _ = st.columns([1, 1.2, 1])
            middle.warning(notice)
        components.sign_in_form(db)
        st.stop()
    user, account = session
    if account.must_change_password:
        components.sidebar_account(db, user)
        _set_own_password(db, user)
        st.stop()
    if notice:
        st.toast(notice)
    allowed = [page for page in components.PAGES if auth.can_view(user.role, page[0])]
    pages = {
        key: st.Page(script, title=title, icon=icon, url_path=key, default=index == 0)
        for index, (key, script, title, icon) in enumerate(allowed)
    }
    selected = st.navigation(list(pages.values()))
    selected_key = next((key for key, page in pages.items() if page is selected), None)
    components.sidebar_account(db, user)
    if selected_key in components.FILTERED_PAGES:
        components.sidebar_filters(resources.available_months(path), resources.saved_segments(path))
    selected.run()


# Streamlit runs this file as __main__; the guard lets tests import its messages without drawing.
if __name__ == "__main__":
    try:
        main()
    except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback reaches the user
        components.show_unexpected_error(exc)
