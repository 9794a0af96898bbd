"""Kill/resume reliability loop: SIGKILL a real ``ganlab run`` at random points, resume, compare.

Each trial runs a tiny deterministic experiment (the built-in ``mnist``
embedded sample at 32 px, a small ``dcgan``, ``bce``, the ``sample_grid``
callback, checkpoints every 4 steps) into a fresh run directory. The run is
killed 1 to 3 times with SIGKILL at random points, each time resumed with the
same command, then finished; its final training state (every array of the
last checkpoint: G, D, both optimizers, the RNG) is compared bit for bit with
a reference run that was never interrupted.

Kill points, chosen at random per kill:

- ``step``: right after a random global step (fault hook ``GANLAB_FAULT``);
- ``checkpoint-write``: halfway through writing a random checkpoint (the
  temporary file is cut in half, then SIGKILL);
- ``checkpoint-rename``: after a checkpoint's rename, before ``latest.json``;
- ``epoch-end``: after an epoch's sample grid was written, before its checkpoint;
- ``external``: SIGKILL from this script at a random moment of the training
  window (from ``run.json`` appearing to the process exit in the reference
  run: data loading, tracing, steps, checkpoint and sample writes).

After each kill the checkpoints on disk are listed; the resumed process must
restore the newest of them (else a checkpoint was *lost*) without finding any
damaged. Reports a table and writes JSON (default
``benchmarks/results/kill_resume.json``).

Usage::

    .venv/bin/python benchmarks/kill_resume.py [--trials 10] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
EPOCHS, STEPS_PER_EPOCH, EVERY_N_STEPS = 3, 6, 4
TOTAL_STEPS = EPOCHS * STEPS_PER_EPOCH
#: Checkpoints a full run writes: every 4 steps mid-epoch, and every epoch end.
CHECKPOINTS = len([s for s in range(1, TOTAL_STEPS + 1)
                   if s % STEPS_PER_EPOCH == 0 or s % EVERY_N_STEPS == 0])
MODES = ("step", "checkpoint-write", "checkpoint-rename", "epoch-end", "external")
RESUMED = re.compile(r"Resuming from (\S+ckpt-e\d+-s\d+\.npz)")


def config(work: Path, name: str) -> dict[str, Any]:
    """The tiny deterministic experiment."""
    return {
        "name": name, "seed": 11, "run_dir": str(work / "runs" / name),
        "dataset": {"name": "mnist", "params": {"source": "embedded", "image_size": 32,
                                                "tfrecords": str(work / "tfrecords")}},
        "architecture": {"name": "dcgan", "params": {"latent_dim": 16, "base_filters": 4,
                                                     "kernel_size": 4}},
        "loss": {"name": "bce"},
        "train": {"epochs": EPOCHS, "batch_size": 16, "steps_per_epoch": STEPS_PER_EPOCH,
                  "deterministic": True, "verbose": 0, "shuffle_buffer": 256},
        "checkpoint": {"every_n_steps": EVERY_N_STEPS, "keep_last": 2},
        "latents": {"bank_size": 16},
        "callbacks": [{"name": "sample_grid", "params": {"rows": 4, "gif": False}}],
    }


def write(work: Path, name: str) -> Path:
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config(work, name), sort_keys=False))
    return path


def env(fault: str | None) -> dict[str, str]:
    environment = {k: v for k, v in os.environ.items() if k != "GANLAB_FAULT"}
    environment["TF_CPP_MIN_LOG_LEVEL"] = "3"
    environment["PYTHONUNBUFFERED"] = "1"  # every message is out before a SIGKILL
    if fault:
        environment["GANLAB_FAULT"] = fault
    return environment


def ganlab(*args: str, fault: str | None = None, started_file: Path | None = None,
           kill_after: float | None = None) -> tuple[int, str, float | None]:
    """Run ``python -m ganlab ARGS``.

    Args:
        args: The command line.
        fault: ``GANLAB_FAULT`` for the process.
        started_file: A file (re)written when training starts (``run.json``).
        kill_after: SIGKILL the process this many seconds after this process
            (re)wrote ``started_file``.

    Returns:
        ``(exit code, output, seconds from started_file to the end)``.

    """
    process = subprocess.Popen([sys.executable, "-m", "ganlab", *args], cwd=REPO,
                               env=env(fault), stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True)
    training_since = None
    launched = time.time()
    while process.poll() is None:
        if training_since is None and started_file is not None and written_since(
                started_file, launched):
            training_since = time.monotonic()
        if (kill_after is not None and training_since is not None
                and time.monotonic() - training_since >= kill_after):
            process.send_signal(signal.SIGKILL)
            break
        time.sleep(0.005)
    output, _ = process.communicate()
    window = time.monotonic() - training_since if training_since is not None else None
    return process.returncode, output, window


def written_since(path: Path, moment: float) -> bool:
    try:
        return path.stat().st_mtime >= moment
    except FileNotFoundError:
        return False


def checkpoints(run_dir: Path) -> list[str]:
    folder = run_dir / "checkpoints"
    return sorted(p.name for p in folder.glob("ckpt-*.npz")) if folder.is_dir() else []


def final_state(run_dir: Path) -> dict[str, np.ndarray]:
    with np.load(run_dir / "checkpoints" / checkpoints(run_dir)[-1],
                 allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files if k != "__meta__"}


def identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(a[k].tobytes() == b[k].tobytes() for k in a)


@dataclass
class Kill:
    """One kill: where, the exit code, and what the next start restored."""

    mode: str
    fault: str | None
    delay_s: float | None
    exit_code: int
    on_disk_after: list[str]
    restored: str | None = None
    lost: bool = False
    warnings: list[str] = field(default_factory=list)


@dataclass
class Trial:
    """One run killed and resumed until done."""

    index: int
    kills: list[Kill] = field(default_factory=list)
    final_exit: int | None = None
    bit_identical: bool = False
    leftovers: list[str] = field(default_factory=list)
    missed: int = 0
    seconds: float = 0.0

    @property
    def resumed_correctly(self) -> bool:
        return (self.final_exit == 0 and not self.leftovers
                and all(k.exit_code == -signal.SIGKILL and not k.lost and not k.warnings
                        for k in self.kills))


def trained_steps(run_dir: Path) -> int:
    """Global step of the newest checkpoint on disk (where the next start resumes)."""
    names = checkpoints(run_dir)
    if not names:
        return 0
    epoch, step = (int(n) for n in re.findall(r"\d+", names[-1]))
    return epoch * STEPS_PER_EPOCH + step


def pick_kill(rng: random.Random, window: float, done: int) -> tuple[str, str | None,
                                                                     float | None]:
    """A random kill point among those the next process will reach (it resumes at ``done``)."""
    remaining = range(done + 1, TOTAL_STEPS + 1)
    saves = [s for s in remaining if s % STEPS_PER_EPOCH == 0 or s % EVERY_N_STEPS == 0]
    epoch_ends = [s for s in remaining if s % STEPS_PER_EPOCH == 0]
    modes = [m for m, possible in (("step", len(remaining) > 1), ("checkpoint-write", saves),
                                   ("checkpoint-rename", saves), ("epoch-end", epoch_ends),
                                   ("external", True)) if possible]
    mode = rng.choice(modes)
    if mode == "step":
        return mode, f"step:{rng.choice(remaining[:-1])}", None
    if mode == "checkpoint-write":
        return mode, f"checkpoint-write:{rng.randint(1, len(saves))}:torn", None
    if mode == "checkpoint-rename":
        return mode, f"checkpoint-rename:{rng.randint(1, len(saves))}", None
    if mode == "epoch-end":
        return mode, f"epoch-end:{rng.randint(1, len(epoch_ends))}", None
    return mode, None, round(rng.uniform(0.0, 0.9 * window), 2)


def run_trial(index: int, work: Path, rng: random.Random, reference: dict[str, np.ndarray],
              window: float) -> Trial:
    name = f"trial{index:02d}"
    experiment = str(write(work, name))
    run_dir = work / "runs" / name
    trial = Trial(index)
    started = time.monotonic()
    for _ in range(rng.randint(1, 3)):  # the number of kills attempted
        mode, fault, delay = pick_kill(rng, window, trained_steps(run_dir))
        code, output, _ = ganlab("run", experiment, fault=fault,
                                 started_file=run_dir / "run.json", kill_after=delay)
        if trial.kills:
            note_resume(trial.kills[-1], output)
        if code == 0:  # finished before an external kill came
            trial.missed += 1
            trial.final_exit = 0
            break
        trial.kills.append(Kill(mode, fault, delay, code, checkpoints(run_dir)))
    if trial.final_exit is None:
        code, output, _ = ganlab("run", experiment)
        note_resume(trial.kills[-1], output)
        trial.final_exit = code
    if trial.final_exit == 0:
        trial.bit_identical = identical(final_state(run_dir), reference)
    trial.leftovers = sorted(str(p.relative_to(run_dir)) for p in run_dir.rglob("*")
                             if p.name.endswith((".tmp", ".damaged")) or p.name == ".ganlab.lock")
    trial.seconds = round(time.monotonic() - started, 1)
    return trial


def note_resume(kill: Kill, output: str) -> None:
    """What the start after ``kill`` restored, and whether that was the newest checkpoint."""
    found = RESUMED.search(output)
    kill.restored = Path(found.group(1)).name if found else None
    newest = kill.on_disk_after[-1] if kill.on_disk_after else None
    # Every kill point comes after the restore decision, so a start that
    # restored anything but the newest checkpoint on disk lost one.
    kill.lost = kill.restored != newest
    kill.warnings = [line for line in output.splitlines() if line.startswith("warning:")]


def summarise(trials: list[Trial]) -> dict[str, Any]:
    kills = [k for t in trials for k in t.kills]
    by_mode = {mode: sum(1 for k in kills if k.mode == mode) for mode in MODES}
    return {
        "runs_attempted": len(trials),
        "kills": len(kills),
        "kills_by_point": by_mode,
        "kills_too_late": sum(t.missed for t in trials),
        "resumed_correctly": sum(t.resumed_correctly for t in trials),
        "bit_identical": sum(t.bit_identical for t in trials),
        "checkpoints_lost": sum(k.lost for k in kills),
        "damaged_checkpoints_seen": sum(bool(k.warnings) for k in kills),
    }


def table(summary: dict[str, Any]) -> str:
    rows = [("runs attempted", summary["runs_attempted"]),
            ("SIGKILLs", f"{summary['kills']} ("
             + ", ".join(f"{m} {n}" for m, n in summary["kills_by_point"].items()) + ")"),
            ("external kills that came after the run ended", summary["kills_too_late"]),
            ("resumed correctly", summary["resumed_correctly"]),
            ("bit-identical at the end", summary["bit_identical"]),
            ("checkpoints lost", summary["checkpoints_lost"]),
            ("damaged checkpoints seen on resume", summary["damaged_checkpoints_seen"])]
    width = max(len(label) for label, _ in rows)
    return "\n".join(f"{label:<{width}}  {value}" for label, value in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results"
                        / "kill_resume.json")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    work = Path(tempfile.mkdtemp(prefix="ganlab-kill-resume-"))
    started = time.monotonic()
    try:
        code, output, _ = ganlab("prepare", str(write(work, "reference")))
        assert code == 0, output
        code, output, window = ganlab("run", str(work / "reference.yaml"),
                                      started_file=work / "runs" / "reference" / "run.json")
        assert code == 0 and window, output
        reference = final_state(work / "runs" / "reference")
        trials = []
        for index in range(args.trials):
            trials.append(run_trial(index, work, rng, reference, window))
            trial = trials[-1]
            kills = [k.fault or f"external@{k.delay_s}s" for k in trial.kills]
            print(f"trial {index}: kills {kills} restored {[k.restored for k in trial.kills]} "
                  "correct="
                  f"{trial.resumed_correctly} bit-identical={trial.bit_identical} "
                  f"({trial.seconds} s)", flush=True)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    summary = summarise(trials)
    result = {"summary": summary, "training_window_seconds": round(window, 1),
              "total_seconds": round(time.monotonic() - started, 1), "seed": args.seed,
              "machine": {"platform": platform.platform(), "python": platform.python_version(),
                          "cpus": os.cpu_count()},
              "experiment": config(Path("WORK"), "trial"),
              "trials": [asdict(t) | {"resumed_correctly": t.resumed_correctly} for t in trials]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print()
    print(table(summary))
    print(f"\n{result['total_seconds']} s in all; JSON in {args.out}")


if __name__ == "__main__":
    main()
