"""On a CPU with AVX512-BF16, importing bitsandbytes (what every `astrabot chat` and training
stage does) looks its CPU kernel up on the offline Hub; the two notices that prints reach
no terminal once `harden_process` ran, and would without it."""

from __future__ import annotations

import subprocess
import sys

import pytest

# Runs in a fresh interpreter: bitsandbytes probes the CPU once, when first imported.
PROBE = """
import importlib.abc, importlib.machinery, os, sys
if sys.argv[1] == "hardened":
    from astrabot_pipeline.settings import harden_process
    harden_process()
else:
    os.environ["HF_HUB_OFFLINE"] = "1"

class AnswerAsAvx512Bf16(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != "bitsandbytes.functional":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, path)
        run = spec.loader.exec_module
        def exec_module(module):
            run(module)
            module.has_avx512bf16 = lambda: True
        spec.loader.exec_module = exec_module
        return spec

sys.meta_path.insert(0, AnswerAsAvx512Bf16())
import bitsandbytes
"""


def _import_bitsandbytes(mode: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return done.stderr


@pytest.mark.slow
def test_the_offline_kernel_lookup_notices_are_silenced_and_appear_without_it():
    assert "Skipping publisher trust check" in _import_bitsandbytes("plain")
    assert _import_bitsandbytes("hardened") == ""
