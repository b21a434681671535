import pytest

from experiments.warmup_memory import MODELS, MODES, main


@pytest.mark.slow
def test_warmup_quick_runs_every_task_and_mode(tmp_path):
    result = main(["--quick", "--out", str(tmp_path)])
    tasks = result["tasks"]
    assert len(tasks) == 3 and any(t.startswith("copy") for t in tasks)
    for task, rows in tasks.items():
        assert list(rows) == [f"{kind} / {mode} warm-up" for kind in MODELS for mode in MODES], task
        for name, row in rows.items():
            accuracy = row.get("test_accuracy", row.get("segment_accuracy"))
            assert 0.0 <= accuracy <= 1.0, (task, name)
            if name.endswith("none warm-up"):
                assert row["vaa_before"] is None and row["vaa_after"] is None
            else:
                assert 0.0 < row["vaa_before"] <= 1.0 and 0.0 < row["vaa_after"] <= 1.0
    # the ALIF SRNN's settled adaptation states spread out under warm-up (VAA* target 0.95)
    alif = [rows["alif / full warm-up"] for rows in tasks.values()]
    assert all(r["vaa_after"] >= r["vaa_before"] for r in alif), alif
    assert (tmp_path / "warmup_quick.png").stat().st_size > 1000
