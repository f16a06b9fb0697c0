"""Hyperliquid: request weights, the info client, response parsing (and later signing and wire)."""
