"""Analytics over the case record: hotspots, evaluation indicators, the delegation review, the annual publication."""
