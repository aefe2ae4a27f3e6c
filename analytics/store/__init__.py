"""The database owner: the DuckDB connection, the Ibis backend over it, table contracts, writes."""
