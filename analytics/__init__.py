"""Tailor's analytics library: every computation behind the pages, free of Streamlit.

Modules: ``db`` (the DuckDB owner), ``schemas`` (table contracts and result
types), ``rollups`` (maintained aggregates), ``kpis``, ``auth`` (users, roles,
sign-in), ``privacy`` (masking), ``cli`` (``python -m analytics``).
"""
