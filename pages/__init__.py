"""The pages: one thin script per page, run by st.navigation (a package so import-linter sees them)."""
