"""Benchmarks of the executive KPIs (``python -m bench.run``), with the pandas baseline."""
