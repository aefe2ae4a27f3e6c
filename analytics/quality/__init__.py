"""Data dictionary and data-quality checks of the bank's tables (issue 15)."""
