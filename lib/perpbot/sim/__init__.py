"""hl-sim: a local exchange that speaks Hyperliquid's protocol, for tests, demos and dry runs."""
