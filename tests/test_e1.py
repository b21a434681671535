import pytest

from experiments.e1_image_stream import VARIANTS, main


@pytest.mark.slow
def test_e1_quick_runs_every_row(tmp_path):
    result = main(["--quick", "--out", str(tmp_path)])
    assert list(result["rows"]) == [v.name for v in VARIANTS]
    for name, row in result["rows"].items():
        assert row["segment_accuracy"] > 0.3, name  # 5 classes: chance is 0.2
        assert row["accuracy_by_position"], name
    assert (tmp_path / "e1_quick_accuracy_vs_position.png").stat().st_size > 1000
    assert result["data"].startswith("SUBSTITUTE")
