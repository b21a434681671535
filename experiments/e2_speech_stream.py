"""E2, continual keyword stream: energy vs temporal-intensity masks, reset-free vs reset-based.

SYNTHETIC DATA (no real speech offline): keyword clips synthesised with espeak-ng in the Speech
Commands layout (spiking_nr.data.synthetic_keywords). The ten command words are the targets; bed,
bird, cat, dog and house are distractors; low background noise fills random gaps. 40 log-mel bands
per 10 ms frame, 98 frames per clip, speakers (voice x variant) disjoint between train and test.
With a real Speech Commands folder pass ``--speech-commands PATH``.

Rows (evaluated on one unbroken held-out stream, never reset unless the row says so):
  (a) reset-free, adaptive loss, temporal-intensity mask   (b) same, energy mask
  (c) same, oracle mask                                     (e) reset at every segment start
  (f) trained on isolated clips, run on the stream without reset
  (h) as (a), a non-spiking GRU of the same width (context)
A segment's class is the argmax of its mean softmax over all its frames (a word fills only part
of its 1 s clip, so its last frames are background). Accuracy overall, by position in the stream,
and on streams cut after 1, 10, 100, 1000 segments.

    python -m experiments.e2_speech_stream            # ~10 min on 2 cores (first run also
                                                      # synthesises 2250 clips, ~1 min)
    python -m experiments.e2_speech_stream --quick    # ~1 min
"""

from __future__ import annotations

import argparse
import functools
import time
from pathlib import Path

import numpy as np
import torch

from experiments.continual import StreamTask, Variant, evaluate_variant, train_variant
from spiking_nr import viz
from spiking_nr._checks import resolve_device
from spiking_nr.data.keyword_stream import (
    N_CLASSES,
    N_FEATURES,
    SYNTHETIC_NOTE,
    keyword_streams,
)
from spiking_nr.io import write_json
from spiking_nr.masks import masked_chunks
from spiking_nr.streams import collect

VARIANTS = (
    Variant("(a) reset-free, adaptive loss, temporal-intensity mask"),
    Variant("(b) reset-free, adaptive loss, energy mask", mask="energy"),
    Variant("(c) reset-free, adaptive loss, oracle mask", mask="oracle"),
    Variant("(e) reset at every segment start (oracle-synchronised)", reset_policy="segment"),
    Variant("(f) trained on isolated clips, run without reset", reset_policy="sample"),
    Variant("(h) as (a), non-spiking GRU (context)", neuron="gru"),
)
CLIP_FRAMES = 98


def keyword_task(root: str | Path, seed: int, clips_per_word: int, synthetic: bool = True) -> StreamTask:
    streams = keyword_streams(root, seed, clips_per_word, synthetic=synthetic)
    note = SYNTHETIC_NOTE if synthetic else f"Speech Commands recordings from {root}"
    return StreamTask("keyword stream", note, N_FEATURES, N_CLASSES, streams.train, streams.test,
                      functools.partial(masked_chunks, preset="keywords",
                                        intensity=streams.scale.intensity), chunk_len=3 * CLIP_FRAMES,
                      tbptt_window=CLIP_FRAMES, sample_len=CLIP_FRAMES, decision_steps=None)


def mask_agreement(task: StreamTask, steps: int = 20000) -> dict[str, dict[str, float]]:
    """How each input-driven mask relates to the oracle on the held-out stream: the fraction of
    target steps it marks informative, and of non-target steps (distractor words, gaps)."""
    chunk = collect(task.test_stream, 4, steps)
    result = {}
    for mask in ("temporal_intensity", "energy"):
        informative = next(task.with_mask(iter([chunk]), mask)).informative
        result[mask] = {"on_target_steps": float(informative[chunk.is_target].mean()),
                        "on_other_steps": float(informative[~chunk.is_target].mean())}
    return result


def main(argv: list[str] | None = None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small and fast (CI)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--data", default="data/synthetic_keywords",
                        help="folder of the SYNTHETIC keyword set (made on first use, then cached)")
    parser.add_argument("--speech-commands", metavar="PATH",
                        help="use a real Speech Commands folder instead of the synthetic set")
    parser.add_argument("--out", default="experiments/results/e2", help="folder for JSON and PNG")
    parser.add_argument("--device", default="cpu", help="cpu (default), cuda or cuda:N")
    args = parser.parse_args(argv)
    try:
        device = resolve_device(args.device)
    except ValueError as exc:
        parser.error(f"--device: {exc}")
    torch.set_num_threads(2)
    chunks, hidden, lanes, steps, clips = ((15, 48, 2, 4000, 40) if args.quick
                                           else (600, 128, 4, 110_000, 150))
    started = time.time()
    synthetic = args.speech_commands is None
    root = args.data if synthetic else args.speech_commands
    if synthetic and args.quick:
        root = str(Path(args.data).with_name(Path(args.data).name + "_quick"))
    task = keyword_task(root, args.seed, clips, synthetic)
    chunk = collect(task.test_stream, lanes, steps)
    rows, curves = {}, {}
    for variant in VARIANTS:
        model = train_variant(task, variant, chunks, hidden, args.seed, device=device)
        rows[variant.name], curves[variant.name] = evaluate_variant(model, variant, task, chunk)
        print(f"{variant.name}: segment accuracy {rows[variant.name]['segment_accuracy']:.3f}, "
              f"distractor AUROC {rows[variant.name]['distractor_auroc']:.3f}", flush=True)
    result = {"experiment": "E2 continual keyword stream", "data": task.data_note, "quick": args.quick,
              "clips_per_word": clips, "model": f"{N_FEATURES} -> {hidden} recurrent ALIF -> {N_CLASSES}",
              "training_chunks": chunks, "training_chunk_steps": task.chunk_len,
              "evaluation": {"lanes": lanes, "steps_per_lane": steps},
              "masks_vs_oracle": mask_agreement(task), "rows": rows,
              "seconds": round(time.time() - started, 1)}
    suffix = "_quick" if args.quick else ""
    write_json(f"{args.out}/e2{suffix}.json", result)
    viz.accuracy_over_stream({k: (x, np.asarray(y)) for k, (x, y) in curves.items()},
                             path=f"{args.out}/e2{suffix}_accuracy_vs_position.png",
                             title="E2 (SYNTHETIC espeak-ng keywords): accuracy vs position"
                             if synthetic else "E2 (Speech Commands): accuracy vs position",
                             xlabel="segments seen in the unbroken stream (bin upper edge)")
    return result


if __name__ == "__main__":
    main()
