"""Tailor's Streamlit UI: entrypoint, cached resources, session state, shared widgets."""
