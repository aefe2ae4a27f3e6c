"""Tailor's entrypoint: page config, sign-in gate, navigation by role, shared filters.

Run from the repository root with ``python -m streamlit run app/main.py`` (``make
run`` does it), so that ``import analytics`` resolves.
"""

from __future__ import annotations

import streamlit as st

from analytics.access.auth import can_view
from analytics.store.database import DatabaseError
from app import components, resources


def main() -> None:
    """Draw the shell around the selected page."""
    st.set_page_config(page_title="Tailor", page_icon=":material/insights:", layout="wide")
    path = resources.database_path()
    try:
        db = resources.get_database(path)
    except DatabaseError as exc:
        st.title("Tailor")
        st.error(str(exc))
        st.stop()
    user = components.current_user()
    if user is None:
        components.sign_in_form(db)
        st.stop()
    allowed = [page for page in components.PAGES if can_view(user.role, page[0])]
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


try:
    main()
except Exception as exc:  # noqa: BLE001 - the last line of defence: no traceback reaches the user
    components.show_unexpected_error(exc)
