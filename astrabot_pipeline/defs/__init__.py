"""Dagster wiring only: one module per asset group (plus automation and resources), all
found by `definitions.py` through Dagster's defs-folder loader."""
