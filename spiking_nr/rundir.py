"""A training run folder: one trainer at a time, resume with the run's own config, no duplicate logs.

``OUT/`` holds ``config.toml`` (the resolved config), ``checkpoint.pt``, ``metrics.jsonl`` (one line
per trained chunk, with its ``position``), ``summary.json``, ``training.png`` and ``.lock``. The lock
is an advisory ``flock`` on ``OUT/.lock``: the kernel drops it when its process ends (also after
SIGKILL), so a stale lock file never blocks a later run; it is left in place on purpose (removing
it would race with a second trainer opening it).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

from spiking_nr.config import RunConfig
from spiking_nr.io import atomic_write

RUN_FILES = ("config.toml", "checkpoint.pt", "metrics.jsonl", "summary.json", "training.png")
# What --set may change on --resume: everything else is the run's own (model shape, stream,
# optimiser, loss and mask), or the resumed run would not continue the recorded one.
RESUMABLE_KEYS = ("train.chunks", "eval.lanes", "eval.steps")


def existing_run_files(out: Path) -> list[str]:
    """The run files already in ``out`` (empty when ``out`` is new or holds none)."""
    return [name for name in RUN_FILES if (out / name).exists()]


@contextlib.contextmanager
def run_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` exclusively; ``ValueError`` if another process trains into ``out``."""
    out.mkdir(parents=True, exist_ok=True)
    fd = os.open(out / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ValueError(f"{out} is in use by another trainer (lock {out / '.lock'} is held); "
                             "wait for it or train into another --out folder") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())  # for people: which process holds it
        yield
    finally:
        os.close(fd)  # releases the lock


def check_resume_overrides(recorded: RunConfig, wanted: RunConfig) -> None:
    """``ValueError`` naming the first key that ``--set`` changes but a resume must keep."""
    for section in fields(RunConfig):
        old, new = getattr(recorded, section.name), getattr(wanted, section.name)
        for key in fields(type(old)):
            dotted = f"{section.name}.{key.name}"
            if dotted in RESUMABLE_KEYS or getattr(old, key.name) == getattr(new, key.name):
                continue
            why = "changes the model's shape" if section.name == "model" else \
                "is part of the recorded run"
            raise ValueError(f"--resume continues the run recorded in config.toml: --set {dotted} "
                             f"{why} ({getattr(old, key.name)!r} -> {getattr(new, key.name)!r}); "
                             f"only {', '.join(RESUMABLE_KEYS)} may change")


def truncate_metrics(path: Path, position: int) -> int:
    """Keep only the lines of ``metrics.jsonl`` up to chunk ``position`` (the checkpoint's), so a
    resumed run never logs a position twice; a torn last line is dropped. Returns lines kept."""
    if not path.is_file():
        return 0
    kept = []
    for line in path.read_text(errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue  # torn by a kill mid-write
        if isinstance(record, dict) and isinstance(record.get("position"), int) \
                and record["position"] <= position:
            kept.append(line)
    with atomic_write(path, "w") as handle:
        handle.write("".join(f"{line}\n" for line in kept))
    return len(kept)
