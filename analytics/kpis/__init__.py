"""How are the bank's customer KPIs doing: the executive summary, NPS, engagement, retention, rollups."""
