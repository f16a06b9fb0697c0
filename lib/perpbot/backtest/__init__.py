"""Backtests over stored history with the live decision functions (see engine.py)."""
