"""Deterministic sample bank with planted truths.

``generate_bank`` builds the canonical tables in memory; ``build_sample_database``
loads them into a DuckDB file (all or nothing) and writes the truth file that
tests check the analytics against. See docs/sample_data.md.
"""

from sample_data.generate import (
    GENERATOR_VERSION,
    GeneratedBank,
    build_sample_database,
    code_fingerprint,
    generate_bank,
)

__all__ = ["GENERATOR_VERSION", "GeneratedBank", "build_sample_database", "code_fingerprint", "generate_bank"]
