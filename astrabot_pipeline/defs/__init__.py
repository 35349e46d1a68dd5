"""Dagster wiring only: one module per asset group, loaded by `definitions.py`."""
