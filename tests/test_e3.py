import math

import pytest

from experiments.e3_soak import main


@pytest.mark.slow
def test_e3_quick_soak_stays_finite_and_flat(tmp_path):
    result = main(["--quick", "--out", str(tmp_path)])
    for mode, run in result["runs"].items():
        assert run["steps"] == 100_000
        assert run["segment_accuracy"] > 0.3, mode
        assert all(math.isfinite(v) for v in run["per_window"]["mean_abs_voltage"]), mode
        # no runaway: the firing rate drifts by less than 1% of a spike per step per window
        assert abs(run["drift"]["firing_rate"]["slope_per_window"]) < 0.01, mode
    assert result["runs"]["fixed"]["max_abs_voltage_fraction_of_24bit"] < 1.0
    assert (tmp_path / "e3_quick.png").stat().st_size > 1000
