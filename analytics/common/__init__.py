"""What every capability shares: months and periods, formatting, uploads, shared expressions, domain types."""
