"""The trade loop's parts: running a tick's stages (tick), the exchange's health (outage)."""
