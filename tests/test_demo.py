import json

import pytest

from experiments.demo import main


@pytest.mark.slow
def test_demo_quick_end_to_end(tmp_path):
    summary = main(["--quick", "--out", str(tmp_path)])
    for name in ["summary.json", "summary.md", "network_fixed.h5", "raster.png", "traces.png",
                 "accuracy_vs_position.png", "model_reset-free.pt"]:
        assert (tmp_path / name).stat().st_size > 0, name
    assert summary["torch_fixed_equals_cpu_backend"] is True
    assert summary["lava"]["spikes_identical"] and summary["lava"]["final_voltage_identical"]
    assert summary["lava"]["spikes"] > 0
    free = summary["results"]["reset-free model, never reset"]["segment_accuracy"]
    assert free > 0.4  # 5 classes: chance is 0.2
    assert json.loads((tmp_path / "summary.json").read_text())["data"].startswith("SUBSTITUTE")
