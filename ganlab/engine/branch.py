"""``ganlab run --from-checkpoint``: a new run branched from an epoch of another run."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ganlab.atomic import atomic_write
from ganlab.engine.checkpoint import CheckpointId, CheckpointStore
from ganlab.errors import RunDirectoryError
from ganlab.experiment import Experiment
from ganlab.rundir import RunDirectory, incompatible_changes, save_latent_bank, write_text_atomic

Echo = Callable[[str], None]


@dataclass(frozen=True)
class BranchSource:
    """Where ``ganlab run --from-checkpoint`` branches a new run from.

    Attributes:
        run_dir: The existing run directory (left untouched).
        checkpoint: Its checkpoint to start from.

    """

    run_dir: Path
    checkpoint: CheckpointId


def start_branch(branch: BranchSource, run_dir: RunDirectory, experiment: Experiment,
                 echo: Echo) -> None:
    """Seed the new run directory ``run_dir`` with a checkpoint of another run.

    The source run is only read. The checkpoint is verified, copied (whole or
    not at all) into ``run_dir/checkpoints``, with the source's latent bank,
    history and sample grids up to that point. Running the same branch
    command again (after a crash) continues the branch.

    Raises:
        RunDirectoryError: The source has no such (good) checkpoint, or
            ``run_dir`` is the source or already holds another run.

    """
    source = RunDirectory(branch.run_dir)
    record = {"run_dir": str(source.root.resolve()), "checkpoint": branch.checkpoint.filename}
    check_branch_target(source, run_dir, record)
    if run_dir.read_metadata().get("branched_from") == record and \
            CheckpointStore(run_dir.checkpoints).list():
        echo(f"{run_dir.root} is already a branch from the {branch.checkpoint.describe()} of "
             f"{source.root}: continuing it.")
        return
    store = CheckpointStore(source.checkpoints)
    if branch.checkpoint not in store.list():
        raise RunDirectoryError(missing_checkpoint_message(source, branch.checkpoint,
                                                           store.list()))
    arrays, meta = store.open(branch.checkpoint)
    run_dir.update_metadata(branched_from=record)
    save_latent_bank(run_dir, arrays["latent_bank"])
    copy_history(source, run_dir, branch.checkpoint.epoch)
    target = CheckpointStore(run_dir.checkpoints, keep_last=10**6)
    target.save(branch.checkpoint, {k: v for k, v in arrays.items() if k != "__meta__"},
                {k: v for k, v in meta.items() if k != "format"})
    changes = [c for c in incompatible_changes(source.read_config(), experiment.config)
               if not c.startswith(("name:", "run_dir:"))]
    echo(f"Branching a new run in {run_dir.root} from the {branch.checkpoint.describe()} of "
         f"{source.root} (which is left untouched)"
         + (f"; changed: {'; '.join(changes)}." if changes else "."))


def check_branch_target(source: RunDirectory, run_dir: RunDirectory,
                        record: dict[str, str]) -> None:
    """Refuse branching into the source itself or into another existing run."""
    if not source.exists():
        raise RunDirectoryError(f"--from-checkpoint: {source.root} holds no run (no "
                                f"{source.config.name}); give the run to branch from with "
                                "--from-run RUN_DIR.")
    if source.root.resolve() == run_dir.root.resolve():
        raise RunDirectoryError(
            f"--from-checkpoint starts a new run, but its run directory is the original one "
            f"({run_dir.root}). Give the branch its own directory: add --set name=NEW_NAME "
            "or --set run_dir=runs/NEW_NAME.")
    if run_dir.read_metadata().get("branched_from") == record:
        return  # this very branch, started before: continue it
    if run_dir.exists() or CheckpointStore(run_dir.checkpoints).list():
        raise RunDirectoryError(
            f"--from-checkpoint: {run_dir.root} already holds a run. A branch needs a new "
            "directory: choose another name or run_dir (or run without --from-checkpoint to "
            "resume that run).")


def missing_checkpoint_message(source: RunDirectory, wanted: CheckpointId,
                               present: list[CheckpointId]) -> str:
    """Which checkpoints a run has, when the asked-for one is not there."""
    epochs = ", ".join(str(c.epoch) for c in present if c.end_of_epoch) or "none"
    return (f"{source.root} has no checkpoint for the {wanted.describe()}. End-of-epoch "
            f"checkpoints available: {epochs}. Older ones were pruned by the keep policy: set "
            "checkpoint.keep_every_n_epochs (or keep_last) to keep more.")


def copy_history(source: RunDirectory, run_dir: RunDirectory, epochs: int) -> None:
    """Copy ``history.csv`` and the sample grids of the first ``epochs`` epochs."""
    if source.history.exists():
        write_text_atomic(run_dir.history, source.history.read_text(encoding="utf-8"))
    for grid in sorted(source.samples.glob("epoch_*.png")):
        number = grid.stem.removeprefix("epoch_")
        if number.isdigit() and int(number) <= epochs:
            with grid.open("rb") as source_file, atomic_write(
                    run_dir.samples / grid.name) as copy:
                shutil.copyfileobj(source_file, copy)
