"""Data in from any source: arrays (.npz / .npy folder), SHD HDF5, Speech Commands, tonic; one
interface (``open_source`` + ``continual_streams``) shared by the CLI's ``--data``."""

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from spiking_nr.cli import main as cli_main
from spiking_nr.data.arrays import load_arrays
from spiking_nr.data.sources import continual_streams, from_tonic, open_source, tonic_dataset
from spiking_nr.encoding import rows_threshold
from tests.data.test_shd import _write_shd
from tests.data.test_speech_commands import _layout


def _arrays(n=60, t=7, c=5, classes=4, seed=0):
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    x = (rng.random((n, t, c)) < 0.3).astype(np.uint8)
    x[:, 0, :] = 0
    x[np.arange(n), 0, y % c] = 1  # the class is readable from the first step
    return x, y


def test_npz_dense_split_and_streams_with_targets_and_distractors(tmp_path):
    x, y = _arrays()
    np.savez(tmp_path / "d.npz", x=x, y=y, distractors=np.array([3]))
    splits = open_source(f"npz:{tmp_path / 'd.npz'}", seed=1)
    assert len(splits.train) + len(splits.test) == 60 and len(splits.test) == 12  # 0.2 per class
    assert sorted(np.bincount(splits.test.labels).tolist()) == [3, 3, 3, 3]
    assert splits.distractors == (3,) and splits.train.n_features == 5
    index = int(np.flatnonzero(y == splits.train.labels[0])[0])
    assert splits.train[0][0].dtype == np.float32 and splits.train[0][0].shape == (7, 5)
    assert splits.train[0][0][0, y[index] % 5] == 1
    train, test = continual_streams(splits, "2,0", None, seed=0, gap_range=(0, 3))
    assert train.n_classes == 2 and train.distractors is not None
    chunk = next(test.chunks(2, 300, total_steps=300))
    assert set(np.unique(chunk.target).tolist()) == {-1, 0, 1}
    # class 2 became label 0: its segments start with channel 2 on
    starts = chunk.segment_start & chunk.is_target
    first_rows = chunk.inputs[starts]
    assert np.all(first_rows[chunk.target[starts] == 0][:, 2] == 1)
    assert (~chunk.is_target & (chunk.target == -1)).any()  # distractor/gap segments present


def test_npy_folder_with_test_split_and_uint8_images_are_rescaled(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (20, 6, 6)).astype(np.uint8)
    np.save(tmp_path / "x.npy", images)
    np.save(tmp_path / "y.npy", np.arange(20) % 2)
    np.save(tmp_path / "x_test.npy", images[:6])
    np.save(tmp_path / "y_test.npy", np.arange(6) % 2)
    splits = open_source(f"npy:{tmp_path}")
    assert len(splits.train) == 20 and len(splits.test) == 6
    assert "255" in splits.train.metadata["rescaled"]
    np.testing.assert_allclose(splits.train[3][0], images[3] / 255.0, rtol=1e-6)
    with pytest.raises(ValueError, match="divide by 255"):
        rows_threshold(images[0])  # a raw uint8 image never silently saturates


def test_events_npz_become_spike_frames(tmp_path):
    events = np.array([[0, 0, 1], [0, 2, 3], [1, 1, 0], [1, 1, 0], [3, 4, 2]])  # sample 2: none
    np.savez(tmp_path / "e.npz", events=events, y=np.array([0, 1, 0, 1, 0, 1]), n_steps=5,
             n_channels=4)
    splits = load_arrays(tmp_path / "e.npz", test_fraction=0.34)
    frames = {}
    for ds in (splits.train, splits.test):
        for i in range(len(ds)):
            frames[tuple(map(tuple, np.argwhere(ds[i][0])))] = ds[i][0]
    assert ((0, 1), (2, 3)) in frames and ((1, 0),) in frames and () in frames
    assert max(f.max() for f in frames.values()) == 1.0  # repeated events count once
    assert all(f.shape == (5, 4) for f in frames.values())


@pytest.mark.parametrize("arrays, message", [
    ({"x": np.zeros((4, 5)), "y": np.zeros(4, int)}, r"x must be \[N, T, C\]"),
    ({"x": np.zeros((4, 5, 2)), "y": np.zeros(4)}, "y must be an integer array"),
    ({"x": np.zeros((4, 5, 2)), "y": np.array([0, 1, -1, 0])}, "must be >= 0"),
    ({"x": np.zeros((4, 5, 2)), "y": np.zeros(3, int)}, "3 labels but there are 4 samples"),
    ({"x": np.zeros((4, 5, 2)).astype(np.int32) + 7, "y": np.zeros(4, int)}, "values up to 7"),
    ({"x": np.full((4, 5, 2), np.nan), "y": np.zeros(4, int)}, "NaN"),
    ({"x": np.zeros((0, 5, 2)), "y": np.zeros(0, int)}, "training split is empty"),
    ({"x": np.zeros((4, 5, 2)), "y": np.zeros(4, int), "x_test": np.zeros((0, 5, 2)),
      "y_test": np.zeros(0, int)}, "test split is empty"),
    ({"y": np.zeros(4, int)}, "no samples"),
])
def test_bad_arrays_name_the_file_and_the_problem(tmp_path, arrays, message):
    np.savez(tmp_path / "bad.npz", **arrays)
    with pytest.raises(ValueError, match=message) as info:
        load_arrays(tmp_path / "bad.npz")
    assert "bad.npz" in str(info.value)


def test_bad_data_in_the_cli_is_one_line_and_exit_2(tmp_path, capsys):
    x, y = _arrays()
    np.savez(tmp_path / "d.npz", x=x, y=y)
    np.savez(tmp_path / "obj.npz", x=np.array([object()] * 3), y=np.zeros(3, int))
    (tmp_path / "text.npz").write_text("not numpy")
    cases = [(["--data", f"npz:{tmp_path / 'd.npz'}", "--targets", "0,1", "--distractors", "7"],
              "class 7 does not occur"),
             (["--data", f"npz:{tmp_path / 'd.npz'}", "--targets", "0,1,2,3", "--distractors", "3"],
              "both targets and distractors"),
             (["--data", f"npz:{tmp_path / 'obj.npz'}"], "obj.npz"),
             (["--data", f"npz:{tmp_path / 'text.npz'}"], "text.npz"),
             (["--data", f"npz:{tmp_path / 'missing.npz'}"], "does not exist"),
             (["--data", "csv:foo"], "unknown data source")]
    for flags, message in cases:
        code = cli_main(["train", *flags, "--set", "train.chunks=1", "--out", str(tmp_path / "r")])
        err = capsys.readouterr().err
        assert code == 2 and message in err, (flags, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_shd_files_through_the_same_interface(tmp_path):
    samples = [([0.01 * k, 0.5], [k, 699]) for k in range(6)]
    for split in ("train", "test"):
        _write_shd(tmp_path / f"shd_{split}.h5", samples, [0, 1, 2, 0, 1, 2], keys=["a", "b", "c"])
    splits = open_source(f"shd:{tmp_path}")
    assert splits.train.n_features == 700 and splits.train[0][0].shape == (250, 700)
    train, _ = continual_streams(splits, "a,b", "c")  # class names work as well as labels
    assert train.n_classes == 2 and train.distractors.labels.tolist() == [0, 0]


def test_speech_commands_layout_through_the_same_interface(tmp_path):
    _layout(tmp_path, words=("yes", "no"), per_word=4, extra=("bed",))
    (tmp_path / "testing_list.txt").write_text(
        "yes/spk2_nohash_0.wav\nno/spk2_nohash_0.wav\nbed/spk2_nohash_0.wav\n")
    splits = open_source(f"speech:{tmp_path}", classes=["yes", "no", "bed"])
    assert splits.train.class_names == ("yes", "no", "bed") and splits.train.n_features == 40
    frames = np.concatenate([splits.train[i][0] for i in range(len(splits.train))])
    np.testing.assert_allclose(frames.mean(0), 0.0, atol=1e-3)  # standardised on training clips
    assert splits.mask_preset == "keywords" and splits.intensity is not None
    train, test = continual_streams(splits, "yes,no", "bed")
    chunk = next(test.chunks(1, 400, total_steps=400))
    assert chunk.inputs.shape == (400, 1, 40) and set(np.unique(chunk.target)) <= {-1, 0, 1}


def _tonic_events(rng, n, label):
    dtype = np.dtype([("x", int), ("p", int), ("t", int)])
    events = np.zeros(n, dtype)
    events["x"] = rng.integers(0, 8, n) if label == 0 else rng.integers(8, 16, n)
    events["p"] = rng.integers(0, 2, n)
    events["t"] = np.sort(rng.integers(0, 10000, n))
    return events


def test_tonic_style_dataset_and_transform_on_your_own_events():
    pytest.importorskip("tonic")
    rng = np.random.default_rng(0)
    data = [(_tonic_events(rng, 50, k % 2), k % 2) for k in range(8)]
    ds = from_tonic(data, sensor_size=(16, 1, 2), time_bins=20)
    x, label = ds[1]
    assert x.shape == (20, 32) and label == 1 and set(np.unique(x)) == {0.0, 1.0}
    frames = np.concatenate([ds[i][0] for i in range(0, 8, 2)])  # class 0: only x < 8 fires
    assert frames.reshape(-1, 2, 16)[..., 8:].sum() == 0 and frames.sum() > 0


def test_tonic_dataset_on_disk_is_read_and_never_downloaded(tmp_path):
    pytest.importorskip("tonic")
    with pytest.raises(ValueError, match="never downloads"):
        tonic_dataset("SHD", tmp_path / "empty")
    folder = tmp_path / "SHD"
    folder.mkdir()
    samples = [([0.001 * k, 0.1, 0.2], [k, 3, 5]) for k in range(4)]
    for split in ("train", "test"):
        _write_shd(folder / f"shd_{split}.h5", samples, [0, 1, 0, 1], keys=["x", "y"])
        (folder / f"shd_{split}.h5.zip").write_bytes(b"")  # tonic checks the archive is there
    with h5_extra_speaker(folder):
        splits = open_source(f"tonic:SHD:{tmp_path}", time_bins=10)
    assert splits.train.n_features == 700 and len(splits.test) == 4
    x, _ = splits.train[0]
    # unit 0 at the start, 3 in the middle (tonic's ToFrame may drop the very last event)
    assert x.shape == (10, 700) and x[:, 0].sum() == 1 and x[:, 3].sum() == 1
    assert set(np.flatnonzero(x.sum(0))) <= {0, 3, 5}


class h5_extra_speaker:
    """tonic's SHD also reads ``extra/speaker``: add it to the test files."""

    def __init__(self, folder):
        self.folder = folder

    def __enter__(self):
        import h5py

        for path in Path(self.folder).glob("*.h5"):
            with h5py.File(path, "a") as f:
                f.create_dataset("extra/speaker", data=np.zeros(len(f["labels"]), np.uint16))

    def __exit__(self, *exc):
        return False


def test_mnist_substitute_source_gives_the_image_streams():
    from spiking_nr.data.image_stream import image_streams

    splits = open_source("mnist-substitute-stream", seed=0)
    ours = continual_streams(splits, None, None, seed=0, gap_range=(0, 10))
    theirs = image_streams(0, gap_range=(0, 10))
    for a, b in zip(ours, theirs):
        x, y = next(a.chunks(2, 200, total_steps=200)), next(b.chunks(2, 200, total_steps=200))
        assert all(np.array_equal(u, v) for u, v in zip(x, y))
    assert ours[0].n_classes == 5


def test_the_data_side_does_not_import_the_loss_side():
    code = ("import sys, spiking_nr.data, spiking_nr.data.sources, spiking_nr.data.arrays, "
            "spiking_nr.data.image_stream, spiking_nr.data.keyword_stream; "
            "bad = [m for m in ('spiking_nr.masks', 'spiking_nr.losses', 'spiking_nr.train') "
            "if m in sys.modules]; assert not bad, bad")
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(root), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
