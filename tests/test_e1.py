import json

import pytest

from experiments.e1_image_stream import VARIANTS, main


@pytest.mark.slow
def test_e1_quick_runs_every_row(tmp_path):
    result = main(["--quick", "--out", str(tmp_path)])
    assert list(result["rows"]) == [v.name for v in VARIANTS]
    keys = [row["key"] for row in result["rows"].values()]
    assert {"a", "e", "f", "f_reset", "a_free", "h"} <= set(keys)
    for name, row in result["rows"].items():
        test = row["test"]["seeds"]["0"]
        assert test["segment_accuracy"] > 0.3, name  # 5 classes: chance is 0.2
        assert test["accuracy_by_position"] and test["accuracy_on_stream_of_n_segments"], name
        assert test["n_gaps"] > 0 and test["n_distractor_segments"] > 0, name
        assert 0.0 <= test["gap_auroc"] <= 1.0 and 0.0 <= test["distractor_auroc"] <= 1.0, name
        assert row["test"]["mean"]["segment_accuracy"]["mean"] == test["segment_accuracy"]
        assert 0.0 <= row["validation"]["seeds"]["0"]["segment_accuracy"] <= 1.0, name
    rows = {row["key"]: row["test"]["seeds"]["0"] for row in result["rows"].values()}
    # (f) and (f_reset) are one model evaluated two ways: the resets must change its outputs
    assert rows["f"]["segment_accuracy"] != rows["f_reset"]["segment_accuracy"]
    diff = result["paired_differences"]["a - f_reset (segment_accuracy)"]
    assert diff["mean"] == pytest.approx(rows["a"]["segment_accuracy"] - rows["f_reset"]["segment_accuracy"])
    assert (tmp_path / "e1_quick_accuracy_vs_position.png").stat().st_size > 1000
    assert "f_reset" in (tmp_path / "e1_quick.md").read_text()
    assert json.loads((tmp_path / "e1_quick.json").read_text())["data"].startswith("SUBSTITUTE")


def test_late_bin_is_the_bin_that_starts_last():
    """JSON files hold the position bins sorted as text ("segments 2-10" after "segments 1001-..."):
    the late column must still be the bin that starts last."""
    from experiments.e1_image_stream import _late_bin

    means = {name: {"mean": value} for name, value in
             [("segments 1-1", 0.5), ("segments 1001-1188", 0.9), ("segments 101-1000", 0.8),
              ("segments 11-100", 0.7), ("segments 2-10", 0.6)]}
    result = {"rows": {"r": {"test": {"mean": {"accuracy_by_position": means}}}}}
    _late_bin(result)
    assert means["late"] == {"mean": 0.9, "bin": "segments 1001-1188"}
