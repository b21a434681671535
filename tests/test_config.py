import pytest

from spiking_nr.config import load_config, to_toml


def test_formats_and_overrides(tmp_path):
    (tmp_path / "c.toml").write_text('[train]\nlr = 0.02\n[model]\nneuron = "lif"\n')
    (tmp_path / "c.yaml").write_text("train:\n  lr: 0.02\nmodel:\n  neuron: lif\n")
    (tmp_path / "c.json").write_text('{"train": {"lr": 0.02}, "model": {"neuron": "lif"}}')
    configs = [load_config(tmp_path / f"c.{ext}") for ext in ("toml", "yaml", "json")]
    assert configs[0] == configs[1] == configs[2]
    assert configs[0].train.lr == 0.02 and configs[0].model.neuron == "lif"
    over = load_config(tmp_path / "c.toml", ["train.lr=0.5", "model.hidden=[8, 4]"])
    assert over.train.lr == 0.5 and over.model.hidden == (8, 4)
    (tmp_path / "r.toml").write_text(to_toml(over))
    assert load_config(tmp_path / "r.toml") == over


@pytest.mark.parametrize("overrides, match", [
    (["train.lrr=1"], "unknown config key 'train.lrr'"),
    (["optim.lr=1"], "unknown config section"),
    (["train.chunks=1.5"], "train.chunks must be an integer"),
    (["model.recurrent=1"], "true or false"),
    (["lr=1"], "section.key=value"),
])
def test_bad_configs(overrides, match):
    with pytest.raises(ValueError, match=match):
        load_config(None, overrides)


def test_regularisation_and_loss_mode_reach_the_train_config(tmp_path, capsys):
    from spiking_nr.cli import main

    main(["train", "--print-config", "--out", str(tmp_path), "--set", "train.rate_weight=2.0",
          "train.rate_upper=0.1", "train.dropout=0.2", "train.loss_mode=mask"])
    text = capsys.readouterr().out
    assert "rate_weight = 2.0" in text and "dropout = 0.2" in text and 'loss_mode = "mask"' in text
    # a bad value is a one-line error with exit code 2, not a traceback
    assert main(["train", "--print-config", "--out", str(tmp_path), "--set", "train.dropout=1.5"]) == 2
    assert "dropout must be in [0, 1)" in capsys.readouterr().err
