"""Tailor's analytics library: every computation behind the pages, free of Streamlit.

One package per question a user asks (kpis, clv, segments, models, experiments, fairness),
on a small shared base (store: the database owner and the table contracts; common: months,
formatting, uploads, shared expressions and domain types; access: sign-in, roles, masking),
and cli for ``python -m analytics``. docs/architecture.md has the map and the import contracts.

Importing the library registers the derived-table builders with the store: the store imports no
capability, so this package root is where the rollups are wired in.
"""

from analytics.kpis import rollups as _rollups  # noqa: F401  (registers the derived-table builders)
