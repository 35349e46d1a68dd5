import stat

import pandas as pd
import pytest

from astrabot_pipeline.storage import atomic_output, read_parquet, write_parquet, write_text


def _mode(path):
    return stat.S_IMODE(path.stat().st_mode)


def test_files_are_created_0600_in_0700_directories(tmp_path):
    target = tmp_path / "private" / "deep" / "file.txt"
    write_text(target, "x")
    assert _mode(target) == 0o600
    assert _mode(target.parent) == 0o700


def test_a_failed_directory_write_leaves_the_previous_output_untouched(tmp_path):
    out = tmp_path / "out"
    with atomic_output(out, directory=True) as folder:
        (folder / "good.txt").write_text("v1")
    with pytest.raises(RuntimeError), atomic_output(out, directory=True) as folder:
        (folder / "half.txt").write_text("partial")
        raise RuntimeError("boom")
    assert sorted(p.name for p in out.iterdir()) == ["good.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_parquet_round_trips_through_an_atomic_write(tmp_path):
    frame = pd.DataFrame({"a": [1, 2], "b": ["x", None]})
    path = write_parquet(tmp_path / "t.parquet", frame)
    assert read_parquet(path)["a"].tolist() == [1, 2]
    assert _mode(path) == 0o600
