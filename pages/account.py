"""Account: who am I signed in as, what may I open, and my recent sign-ins.

Calls ``analytics.access.auth.recent_activity`` (through ``app.resources.recent_activity``) and
``analytics.access.auth.can_view``.
"""

import streamlit as st

from analytics.access import auth
from app import components, resources

user = components.require_access("account")

st.title("Account")
st.markdown(f"Signed in as **{user.username}** with the role **{components.ROLE_LABELS[user.role]}**.")
st.subheader("Pages you can open")
st.markdown("\n".join(f"- {title}" for key, _, title, _ in components.PAGES if auth.can_view(user.role, key)))
st.subheader("Your recent sign-in activity")
st.caption("Failed sign-ins you do not recognise? Tell your administrator: they are in the audit log.")
EVENT_LABELS = {
    "sign_in": "Signed in",
    "sign_in_failed": "Failed sign-in",
    "sign_in_locked": "Refused: too many failures",
    "sign_out": "Signed out",
}
activity = resources.recent_activity(resources.database_path(), user.username)
activity = activity.with_columns(activity.get_column("action").replace_strict(EVENT_LABELS, default=None))
st.dataframe(
    activity,
    hide_index=True,
    column_config={
        "ts": st.column_config.DatetimeColumn("Time (UTC)", format="YYYY-MM-DD HH:mm:ss"),
        "action": "Event",
    },
)
