"""Execution: the cost model every mode shares, and the paper (and simulated) executor."""
