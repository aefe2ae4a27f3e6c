"""Data-subject requests: access export and erasure, consent coverage (issue 15)."""
