"""Who will churn or take up a product, and why: training, registry, quality, explanations, your table."""
