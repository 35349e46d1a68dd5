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


def _import_bitsandbytes(*modes: str) -> list[str]:
    """What importing bitsandbytes prints to stderr, one fresh interpreter per mode. The
    interpreters run side by side: each spends its ~8 s importing torch on one core."""
    probes = [
        subprocess.Popen(
            [sys.executable, "-c", PROBE, mode],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for mode in modes
    ]
    try:
        outputs = [probe.communicate(timeout=300) for probe in probes]
    finally:
        for probe in probes:
            probe.kill()  # those still running after a timeout; a no-op on the rest
    for probe, (_, stderr) in zip(probes, outputs, strict=True):
        assert probe.returncode == 0, stderr
    return [stderr for _, stderr in outputs]


@pytest.mark.slow
def test_the_offline_kernel_lookup_notices_are_silenced_and_appear_without_it():
    plain, hardened = _import_bitsandbytes("plain", "hardened")
    assert "Skipping publisher trust check" in plain
    assert hardened == ""
