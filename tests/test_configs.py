"""The example configs in configs/ load, validate and describe data the CLI can build."""

from pathlib import Path

import numpy as np
import pytest

from spiking_nr.config import load_config
from spiking_nr.data.sources import source_kind, streams_for
from spiking_nr.masks import MASKS

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.toml"))


def test_the_example_configs_ship():
    assert {p.name for p in CONFIGS} >= {"e1_image_stream.toml", "e2_keyword_stream.toml",
                                         "my_data.toml"}


@pytest.mark.parametrize("path", CONFIGS, ids=[p.name for p in CONFIGS])
def test_config_loads_and_is_valid(path):
    config = load_config(path)
    assert config.train.mask in MASKS
    assert config.train.reset_policy in ("never", "segment", "sample")
    assert config.train.chunks > 0 and config.eval.steps > 0 and config.model.hidden
    source_kind(config.data.dataset)  # raises on an unknown source


def test_e1_config_builds_the_substitute_stream():
    config = load_config(CONFIGS[[p.name for p in CONFIGS].index("e1_image_stream.toml")])
    splits, train, test = streams_for(config.data)
    assert train.n_features == 28 and train.n_classes == 5 and "SUBSTITUTE" in splits.note
    assert splits.mask_preset == "image_rows"


def test_my_data_config_builds_streams_from_a_npz(tmp_path):
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "my_data.npz", x=(rng.random((40, 10, 6)) < 0.2).astype(np.uint8),
             y=np.arange(40) % 4)
    path = CONFIGS[[p.name for p in CONFIGS].index("my_data.toml")]
    config = load_config(path, [f"data.dataset=npz:{tmp_path / 'my_data.npz'}"])
    _, train, test = streams_for(config.data)
    assert train.n_classes == 3 and train.distractors is not None and test.n_features == 6


def test_e2_config_names_the_keyword_classes():
    from spiking_nr.data.keyword_stream import DISTRACTOR_WORDS, TARGET_WORDS

    config = load_config(CONFIGS[[p.name for p in CONFIGS].index("e2_keyword_stream.toml")])
    assert source_kind(config.data.dataset) == "speech"
    assert tuple(config.data.targets.split(",")) == TARGET_WORDS
    assert tuple(config.data.distractors.split(",")) == DISTRACTOR_WORDS
