"""Every bad input gets one clear line: the CLI exits 2, the API raises ValueError/TypeError.

Table-driven: each case builds a corrupt file or a bad argument, runs the CLI in-process
(``spiking_nr.cli.main``) and, where there is one, the API call, and checks the exit code, that
stderr is exactly one line without a traceback, and that the message names the problem.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from neuromorphic_export.cpu import CPUSimulator
from neuromorphic_export.fileio import atomic_write
from neuromorphic_export.io import load_network, save_network
from spiking_nr import SRNN, SRNNConfig
from spiking_nr.checkpoint import checksum, load_checkpoint
from spiking_nr.cli import main as cli_main
from spiking_nr.config import load_config
from spiking_nr.export import to_network_spec
from spiking_nr.train import model_from_checkpoint, save_model


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("good")
    torch.manual_seed(0)
    model = SRNN(SRNNConfig.simple(28, (16,), 5))
    save_model(model, tmp / "m.pt")
    save_network(to_network_spec(model, "fixed"), tmp / "n.h5")
    save_network(to_network_spec(SRNN(SRNNConfig.simple(5, (8,), 3)), "fixed"), tmp / "n5.h5")
    return {"pt": tmp / "m.pt", "h5": tmp / "n.h5", "h5_5in": tmp / "n5.h5", "dir": tmp}


def _copy(src: Path, dst: Path) -> Path:
    dst.write_bytes(src.read_bytes())
    return dst


def _cli_error(capsys, argv: list[str], needle: str) -> str:
    rc = cli_main(argv)
    captured = capsys.readouterr()
    err = captured.err
    assert rc == 2, (argv, rc, captured.out, err)
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert needle.lower() in err.lower(), (needle, err)
    return err


def _api_error(load: Callable[[Path], object], path: Path, needle: str) -> None:
    """``load(path)`` raises one ValueError line naming the file and the problem."""
    with pytest.raises(ValueError) as info:
        load(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message, message
    assert needle.lower() in message.lower(), message


# ---- network files ------------------------------------------------------------------------------
def _edit_h5(edit: Callable[[h5py.File], None]) -> Callable[[Path, Path], Path]:
    def make(good: Path, path: Path) -> Path:
        _copy(good, path)
        with h5py.File(path, "r+") as f:
            edit(f)
        return path
    return make


def _replace(group, key, data, **kwargs):
    del group[key]
    group.create_dataset(key, data=data, **kwargs)


def _truncate(fraction: float) -> Callable[[Path, Path], Path]:
    def make(good: Path, path: Path) -> Path:
        data = good.read_bytes()
        path.write_bytes(data[:int(len(data) * fraction)])
        return path
    return make


def _flip_weight_byte(good: Path, path: Path) -> Path:
    _copy(good, path)
    with h5py.File(path, "r") as f:
        offset = f["layer/1/weight"].id.get_offset()
    data = bytearray(path.read_bytes())
    # bit 1 of the first weight: the value moves by 2 and stays a valid (even, in-range) Lava weight,
    # so only the checksum can tell (bit 0 would make it odd, which the validator refuses first)
    data[offset] ^= 0x02
    path.write_bytes(bytes(data))
    return path


def _nan_weight(f):
    w = f["layer/1/weight"][()].astype(np.float64)
    w[0, 0] = np.nan
    _replace(f["layer/1"], "weight", w)


def _set_attr(key, value):
    return _edit_h5(lambda f: f.attrs.__setitem__(key, value))


NETWORK_CASES = {
    "empty file": (lambda good, p: (p.write_bytes(b""), p)[1], "not an HDF5 file"),
    "text file": (lambda good, p: (p.write_text("hello"), p)[1], "not an HDF5 file"),
    "truncated to 10%": (_truncate(0.1), "HDF5"),
    "truncated to 60%": (_truncate(0.6), "truncated"),
    "truncated to 95%": (_truncate(0.95), "truncated"),
    "flipped weight bit": (_flip_weight_byte, "checksum mismatch"),
    "version 99": (_set_attr("version", 99), "unknown version 99"),
    "version as text": (_set_attr("version", "2"), "unknown version"),
    "format foreign": (_set_attr("format", "netx"), "format 'netx'"),
    "no format": (_edit_h5(lambda f: f.attrs.__delitem__("format")), "missing attribute 'format'"),
    "input_size 2**40": (_set_attr("input_size", 2**40), "input_size"),
    "input_size -3": (_set_attr("input_size", -3), "input_size"),
    "NaN weight": (_edit_h5(_nan_weight), "NaN"),
    "inf bias": (_edit_h5(lambda f: _replace(f["layer/1"], "bias",
                                             np.full(16, np.inf))), "bias"),
    "uint64 2**64-1": (_edit_h5(lambda f: _replace(
        f["layer/1/params"], "alpha", np.full(16, 2**64 - 1, np.uint64))), "beyond the int64 range"),
    "absurd weight shape": (_edit_h5(lambda f: _replace(
        f["layer/1"], "weight", None, shape=(2**20, 2**20), dtype=np.int64, chunks=(64, 64))),
        "declares shape"),
    "rank-3 weight": (_edit_h5(lambda f: _replace(f["layer/1"], "weight", np.zeros((16, 28, 2)))),
                      "declares shape"),
    "wrong weight shape": (_edit_h5(lambda f: _replace(f["layer/1"], "weight",
                                                       np.zeros((16, 27), np.int64))), "28"),
    "string weight": (_edit_h5(lambda f: _replace(f["layer/1"], "weight", np.bytes_("abc"))),
                      "numeric"),
    "no layers": (_edit_h5(lambda f: f.__delitem__("layer")), "no layers"),
    "metadata not JSON": (_set_attr("metadata", "{oops"), "metadata is not valid JSON"),
    "a checkpoint": (lambda good, p: _copy(good.parent / "m.pt", p), "not an HDF5 file"),
}


@pytest.mark.parametrize("case", NETWORK_CASES)
def test_bad_network_file(case, files, tmp_path, capsys):
    make, needle = NETWORK_CASES[case]
    path = make(files["h5"], tmp_path / "bad.h5")
    _api_error(load_network, path, needle)
    for argv in (["info", str(path)], ["simulate", str(path), "--steps", "20"],
                 ["plot", str(path), "--out", str(tmp_path)]):
        err = _cli_error(capsys, argv, needle)
        assert str(path) in err


def test_network_file_without_checksum_still_loads(files, tmp_path):
    """Files written before the checksum existed load unchanged (documented in io.py)."""
    path = _copy(files["h5"], tmp_path / "old.h5")
    with h5py.File(path, "r+") as f:
        del f.attrs["sha256"]
    a, b = load_network(files["h5"]), load_network(path)
    np.testing.assert_array_equal(a.layers[0].weight, b.layers[0].weight)


# ---- checkpoints --------------------------------------------------------------------------------
def _resave(edit: Callable[[dict], None], fix_checksum: bool = True):
    def make(good: Path, path: Path) -> Path:
        data = torch.load(good, weights_only=True)
        edit(data)
        if fix_checksum:
            data["sha256"] = checksum(data)
        torch.save(data, path)
        return path
    return make


def _config_edit(**changes):
    def edit(data):
        config = json.loads(data["model_config"])
        config.update(changes)
        data["model_config"] = json.dumps(config)
    return edit


CHECKPOINT_CASES = {
    "empty file": (lambda good, p: (p.write_bytes(b""), p)[1], "not a readable"),
    "random bytes": (lambda good, p: (p.write_bytes(os.urandom(4096)), p)[1], "not a readable"),
    "truncated to 50%": (_truncate(0.5), "not a readable"),
    "truncated to 99%": (_truncate(0.99), "not a readable"),
    "a network file": (lambda good, p: _copy(good.parent / "n.h5", p), "not a readable"),
    "plain tensor": (lambda good, p: (torch.save(torch.zeros(3), p), p)[1],
                     "not a spiking-nr checkpoint"),
    "dict without format": (lambda good, p: (torch.save({"weights": torch.zeros(3)}, p), p)[1],
                            "not a spiking-nr checkpoint"),
    "format 99": (_resave(lambda d: d.update(format=99)), "format 99"),
    "edited weight": (_resave(lambda d: d["model"]["layers.0.fc.weight"].add_(1e-3),
                              fix_checksum=False), "checksum mismatch"),
    "no model": (_resave(lambda d: d.pop("model")), "'model'"),
    "model config not JSON": (_resave(lambda d: d.update(model_config="{x")), "model_config"),
    "model config unknown key": (_resave(_config_edit(colour="red")), "does not rebuild"),
    "model config hidden 0": (_resave(_config_edit(layers=[{"size": 0}])), "does not rebuild"),
    "weights of another shape": (_resave(_config_edit(
        layers=[{"size": 8, "recurrent": True, "neuron": "alif"}])), "does not rebuild"),
}


@pytest.mark.parametrize("case", CHECKPOINT_CASES)
def test_bad_checkpoint(case, files, tmp_path, capsys):
    make, needle = CHECKPOINT_CASES[case]
    path = make(files["pt"], tmp_path / "bad.pt")
    _api_error(model_from_checkpoint, path, needle)
    for argv in (["eval", str(path), "--steps", "20"],
                 ["export", str(path), str(tmp_path / "out.h5")]):
        _cli_error(capsys, argv, needle)
    assert not (tmp_path / "out.h5").exists()


def test_missing_files_are_one_line(files, tmp_path, capsys):
    missing = str(tmp_path / "missing")
    for argv in (["eval", missing], ["export", missing, str(tmp_path / "o.h5")], ["info", missing],
                 ["simulate", missing], ["plot", missing],
                 ["simulate", str(files["h5"]), "--input", missing]):
        _cli_error(capsys, argv, "does not exist")
    with pytest.raises(FileNotFoundError):
        load_checkpoint(missing)


# ---- configs ------------------------------------------------------------------------------------
CONFIG_CASES = {
    "unknown key": ("[train]\nlrr = 1\n", "unknown config key 'train.lrr'"),
    "unknown section": ("[optim]\nlr = 1\n", "unknown config section"),
    "hidden as text": ("[model]\nhidden = \"big\"\n", "model.hidden must be a list of integers"),
    "lr as text": ("[train]\nlr = \"fast\"\n", "train.lr must be a number"),
    "recurrent as 1": ("[model]\nrecurrent = 1\n", "model.recurrent must be true or false"),
    "chunks as float": ("[train]\nchunks = 2.5\n", "train.chunks must be an integer"),
    "hidden 0": ("[model]\nhidden = [0]\n", "model.hidden"),
    "hidden negative": ("[model]\nhidden = [-4]\n", "model.hidden"),
    "hidden empty": ("[model]\nhidden = []\n", "model.hidden"),
    "batch 0": ("[data]\nbatch = 0\n", "data.batch must be >= 1"),
    "chunk_len 0": ("[data]\nchunk_len = 0\n", "data.chunk_len must be >= 1"),
    "gap_max -1": ("[data]\ngap_max = -1\n", "data.gap_max must be >= 0"),
    "eval.steps 0": ("[eval]\nsteps = 0\n", "eval.steps must be >= 1"),
    "eval.lanes -1": ("[eval]\nlanes = -1\n", "eval.lanes must be >= 1"),
    "tbptt 0": ("[train]\ntbptt_window = 0\n", "train.tbptt_window must be >= 1"),
    "lr 0": ("[train]\nlr = 0\n", "train.lr must be a finite number > 0"),
    "lr nan": ("[train]\nlr = nan\n", "train.lr must be a finite number > 0"),
    "grad_clip -1": ("[train]\ngrad_clip = -1.0\n", "train.grad_clip"),
    "mask typo": ("[train]\nmask = \"temporal_intensty\"\n", "not a mask"),
    "reset typo": ("[train]\nreset_policy = \"nevr\"\n", "reset_policy"),
    "neuron typo": ("[model]\nneuron = \"alfi\"\n", "unknown neuron model"),
    "surrogate typo": ("[model]\nsurrogate = \"gauss\"\n", "unknown surrogate"),
    "kl typo": ("[train]\nkl_direction = \"up\"\n", "kl_direction"),
    "dataset typo": ("[data]\ndataset = \"mnist\"\n", "dataset"),
    "toml syntax": ("[train\nlr = 1\n", "cannot parse"),
    "section not a table": ("model = 3\n", "must be a table"),
}


@pytest.mark.parametrize("case", CONFIG_CASES)
def test_bad_config(case, tmp_path, capsys):
    text, needle = CONFIG_CASES[case]
    path = tmp_path / "c.toml"
    path.write_text(text)
    out = tmp_path / "run"
    _cli_error(capsys, ["train", "--config", str(path), "--out", str(out)], needle)
    assert not out.exists()  # validated before anything is written
    if case not in ("neuron typo", "surrogate typo", "reset typo", "kl typo", "dataset typo"):
        with pytest.raises(ValueError, match="."):  # these are checked by the model/trainer
            load_config(path)


BAD_ARGS = {
    "checkpoint-every 0": (["train", "--checkpoint-every", "0"], "--checkpoint-every"),
    "checkpoint-every text": (["train", "--checkpoint-every", "x"], "--checkpoint-every"),
    "threads 0": (["train", "--threads", "0"], "--threads"),
    "set without dot": (["train", "--set", "lr=1"], "section.key=value"),
    "config extension": (["train", "--config", "{dir}/c.ini"], "does not exist"),
    "steps 0": (["simulate", "{h5}", "--steps", "0"], "--steps must be positive"),
    "steps text": (["simulate", "{h5}", "--steps", "many"], "--steps"),
    "unknown backend": (["simulate", "{h5}", "--backend", "gpu"], "--backend"),
    "unknown command": (["frobnicate"], "invalid choice"),
    "plot window backwards": (["plot", "{h5}", "--window", "5:2", "--out", "{dir}"], "--window needs"),
    "plot window not a range": (["plot", "{h5}", "--window", "5", "--out", "{dir}"], "START:END"),
    "simulate steps 2": (["simulate", "{h5}", "--steps", "2"], "--steps 2 is too short"),
    "negative seed": (["simulate", "{h5}", "--seed", "-1"], "--seed"),
    "eval lanes 0": (["eval", "{pt}", "--lanes", "0"], "--lanes"),
    "plot 5-channel network": (["plot", "{h5_5in}", "--out", "{dir}"], "spiking-nr simulate"),
    "simulate 5-channel network": (["simulate", "{h5_5in}"], "--input"),
    "threshold without input": (["simulate", "{h5}", "--threshold", "0.5"], "--threshold"),
    "export mode": (["export", "{pt}", "{dir}/o.h5", "--mode", "half"], "--mode"),
}


@pytest.mark.parametrize("case", BAD_ARGS)
def test_bad_arguments(case, files, capsys):
    argv, needle = BAD_ARGS[case]
    argv = [a.format(**{k: str(v) for k, v in files.items()}) for a in argv]
    _cli_error(capsys, argv, needle)


# ---- .npy inputs of simulate --------------------------------------------------------------------
NPY_CASES = {
    "1-D": (np.zeros(28, np.uint8), "expected [T, 28]"),
    "3-D": (np.zeros((10, 1, 28), np.uint8), "expected [T, 28]"),
    "wrong channels": (np.zeros((10, 27), np.uint8), "expected [T, 28]"),
    "no steps": (np.zeros((0, 28), np.uint8), "T >= 1"),
    "strings": (np.full((10, 28), "a"), "dtype"),
    "complex": (np.zeros((10, 28), complex), "dtype"),
    "floats in [0, 1)": (np.random.default_rng(0).random((10, 28)), "values other than 0 and 1"),
    "values above 1": (np.full((10, 28), 3), "values other than 0 and 1"),
    "negative": (np.full((10, 28), -1.0), "values other than 0 and 1"),
    "NaN": (np.where(np.eye(10, 28) > 0, np.nan, 0.0), "NaN/inf"),
    "inf": (np.full((10, 28), np.inf), "NaN/inf"),
}


@pytest.mark.parametrize("case", NPY_CASES)
def test_bad_npy_input(case, files, tmp_path, capsys):
    array, needle = NPY_CASES[case]
    path = tmp_path / "x.npy"
    np.save(path, array)
    err = _cli_error(capsys, ["simulate", str(files["h5"]), "--input", str(path)], needle)
    assert str(path) in err


def test_npy_not_a_npy_file(files, tmp_path, capsys):
    path = tmp_path / "x.npy"
    path.write_text("0,1,0\n")
    _cli_error(capsys, ["simulate", str(files["h5"]), "--input", str(path)], "not a readable .npy")


def test_threshold_converts_explicitly(files, tmp_path, capsys):
    x = np.random.default_rng(0).random((50, 28))
    np.save(tmp_path / "x.npy", x)
    assert cli_main(["simulate", str(files["h5"]), "--input", str(tmp_path / "x.npy"),
                     "--threshold", "0.5"]) == 0
    out = capsys.readouterr().out
    np.save(tmp_path / "b.npy", (x >= 0.5).astype(np.uint8))
    assert cli_main(["simulate", str(files["h5"]), "--input", str(tmp_path / "b.npy")]) == 0
    same = capsys.readouterr().out
    spikes = lambda text: text.split("s/s),")[1]  # noqa: E731 - the spike count part
    assert spikes(out) == spikes(same)


# ---- API tensors --------------------------------------------------------------------------------
def _nan_input(shape):
    x = torch.zeros(shape)
    x.view(-1)[0] = float("nan")
    return x


def test_every_input_path_refuses_nan_the_same_way(files):
    model = SRNN(SRNNConfig.simple(28, (16,), 5))
    with pytest.raises(ValueError, match=r"contains 1 NaN/inf value\(s\); expected finite values"):
        model(_nan_input((4, 1, 28)))
    stepper = model.stepper(batch=1)
    for bad in (_nan_input((1, 28)), torch.full((1, 28), float("inf"))):
        with pytest.raises(ValueError, match=r"NaN/inf value\(s\); expected finite values"):
            stepper.step(bad)
    # the stepper's state is untouched by a refused step: later outputs stay finite
    for _ in range(5):
        assert torch.isfinite(stepper.step(torch.ones(1, 28))).all()
    with pytest.raises(ValueError, match=r"NaN/inf value\(s\); expected finite values"):
        CPUSimulator(load_network(files["h5"])).run(_nan_input((4, 28)).numpy())
    with pytest.raises(ValueError, match=r"NaN/inf value\(s\); expected finite values"):
        CPUSimulator(load_network(files["h5"])).step(_nan_input((1, 28)).numpy()[0])


def test_api_refuses_wrong_shapes_and_types(files):
    model = SRNN(SRNNConfig.simple(28, (16,), 5))
    with pytest.raises(ValueError, match="features per step, expected 28"):
        model(torch.zeros(4, 1, 27))
    with pytest.raises(TypeError, match="floating tensor"):
        model(torch.zeros(4, 1, 28, dtype=torch.long))
    with pytest.raises(ValueError, match="must have shape"):
        model.stepper(batch=1).step(torch.zeros(2, 28))
    with pytest.raises(ValueError, match="binary spikes"):
        CPUSimulator(load_network(files["h5"])).run(np.full((4, 28), 0.5))


# ---- interrupted writes -------------------------------------------------------------------------
def test_temporary_of_a_killed_write_is_removed_at_the_next_write(tmp_path):
    target = tmp_path / "file.bin"
    code = ("import os, signal, sys; from neuromorphic_export.fileio import atomic_write\n"
            f"with atomic_write({str(target)!r}) as h:\n"
            "    h.write(b'half'); h.flush(); os.kill(os.getpid(), signal.SIGKILL)\n")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    subprocess.run([sys.executable, "-c", code], env=env, timeout=120)
    left = [p.name for p in tmp_path.iterdir()]
    assert len(left) == 1 and left[0].endswith(".tmp"), left  # what a kill leaves behind
    (tmp_path / ".other.1.x.tmp").write_bytes(b"")  # another target's temporary: not touched
    with atomic_write(target) as handle:
        handle.write(b"whole")
    assert sorted(p.name for p in tmp_path.iterdir()) == [".other.1.x.tmp", "file.bin"]
    assert target.read_bytes() == b"whole"


def test_unwritable_outputs_are_one_line(files, tmp_path, capsys):
    _cli_error(capsys, ["export", str(files["pt"]), str(tmp_path)], "is a folder")
    (tmp_path / "file").write_text("x")
    _cli_error(capsys, ["plot", str(files["h5"]), "--out", str(tmp_path / "file")], "exists")
    _cli_error(capsys, ["simulate", str(files["h5"]), "--steps", "30", "--plot",
                        str(tmp_path / "r.xyz")], "expected a .png, .pdf or .svg")
