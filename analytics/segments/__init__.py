"""Which groups to personalize for: customer features, clustering, saved segments, the map."""
