"""perpbot: a mean-reversion bot for Hyperliquid perpetual futures, built as a Unix toolchain."""

__version__ = "0.1.0"
