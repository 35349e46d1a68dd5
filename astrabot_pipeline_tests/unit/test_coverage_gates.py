"""The coverage gates `make test` enforces: which layer a file counts in, and the verdict."""

from __future__ import annotations

from astrabot_pipeline_tests.coverage_gates import LAYERS, OTHER, PACKAGE, Tally, layer_of, render


def test_each_file_counts_in_the_layer_the_gates_name():
    assert layer_of("signal/pipes_entry.py").name == "core"
    assert layer_of("defs/resources/decoder.py").name == "core"
    assert layer_of("cli/backup.py").name == "core"
    assert layer_of("definitions.py").name == "core"
    assert layer_of("enrichment/nitter.py").name == "data processing"
    assert layer_of("synthetic/corpus.py").name == "data processing"
    assert layer_of("privacy/scope.py").name == "privacy"
    # A name that merely starts like a gated module or folder is not in it.
    assert layer_of("signals/x.py") is OTHER
    assert layer_of("cli_extra.py") is OTHER
    assert layer_of("inference/server.py") is OTHER


def test_every_gated_folder_and_module_exists():
    for layer in LAYERS:
        for part in layer.parts:
            assert (PACKAGE / part).exists(), part


def test_a_layer_below_its_gate_fails_and_the_table_says_so():
    core, privacy = LAYERS[0], LAYERS[2]
    below = Tally(privacy, statements=1000, missed=51)  # 94.9 %
    at = Tally(core, statements=1000, missed=100)  # 90.0 %
    assert not below.passed and at.passed
    assert Tally(OTHER, statements=10, missed=10).passed  # not gated
    table = render([at, below])
    assert "BELOW GATE" in table.splitlines()[2] and " ok" in table.splitlines()[1]
