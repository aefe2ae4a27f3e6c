"""Account: who am I signed in as, what may I open, my recent sign-ins, and changing my password.

Calls ``analytics.access.auth.recent_activity`` (through ``app.resources.recent_activity``),
``analytics.access.auth.can_view`` and ``analytics.access.auth.change_password`` (through
``app.resources.change_password``).
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
    "password_changed": "Password changed",
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

st.subheader("Change your password")
st.caption(
    f"At least {auth.MIN_PASSWORD_LENGTH} characters. Wrong current passwords count towards the lock-out "
    "like failed sign-ins."
)
with st.form("change_password", clear_on_submit=True):
    current = st.text_input("Current password", type="password", max_chars=auth.MAX_PASSWORD_LENGTH)
    new = st.text_input("New password", type="password", max_chars=auth.MAX_PASSWORD_LENGTH)
    repeat = st.text_input("Repeat the new password", type="password", max_chars=auth.MAX_PASSWORD_LENGTH)
    submitted = st.form_submit_button("Change password")
if submitted:
    if new != repeat:
        st.error(auth.MSG_PASSWORDS_DIFFER)
    else:
        try:
            resources.change_password(resources.database_path(), user.username, current, new)
        except auth.UserError as exc:
            st.error(str(exc))
        else:
            st.success(auth.MSG_PASSWORD_CHANGED)
