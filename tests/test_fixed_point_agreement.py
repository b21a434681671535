from experiments.fixed_point_agreement import main


def test_wide_trace_keeps_the_float_spike_counts(tmp_path):
    result = main(["--seeds", "1", "--steps", "300", "--out", str(tmp_path)])
    for row in result["rows"]:
        float_spikes = row["wide_trace"]["float_spikes_layer0"]
        wide = abs(row["wide_trace"]["fixed_spikes_layer0"] - float_spikes)
        twelve = abs(row["twelve_bit_trace"]["fixed_spikes_layer0"] - float_spikes)
        assert float_spikes > 1000 and wide < 0.01 * float_spikes and wide < twelve, row
    assert (tmp_path / "agreement.json").is_file()
