"""Packages whose names load their module on first use (lazy_exports.py); that loading the
Dagster definitions therefore imports no torch is checked in test_definitions.py."""

from __future__ import annotations

import importlib
import sys
import types

import pytest

from astrabot_pipeline.lazy_exports import lazy_exports

LAZY_PACKAGES = (
    "astrabot_pipeline.training",
    "astrabot_pipeline.evaluation",
    "astrabot_pipeline.privacy",
)


@pytest.mark.parametrize("name", LAZY_PACKAGES)
def test_every_exported_name_is_the_object_its_module_defines(name):
    package = importlib.import_module(name)
    for module_name, exports in package._EXPORTS.items():
        module = importlib.import_module(f"{name}.{module_name}")
        for export in exports:
            assert getattr(package, export) is getattr(module, export), export
    assert set(package.__all__) <= set(dir(package))
    with pytest.raises(AttributeError, match="no attribute 'not_exported'"):
        package.not_exported  # noqa: B018


def test_exports_and_all_that_name_different_things_are_refused(monkeypatch):
    monkeypatch.setitem(sys.modules, "lazy_probe", types.ModuleType("lazy_probe"))
    with pytest.raises(ValueError, match="__all__"):
        lazy_exports("lazy_probe", {"module": ("a", "b")}, ["a"])
