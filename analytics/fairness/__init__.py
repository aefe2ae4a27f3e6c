"""Is a decision fair by protected group: metrics, audits, the report, mitigation, sign-offs."""
