"""Saving and restoring a run's training state: the loop's side of :mod:`~ganlab.engine.checkpoint`.

:class:`Checkpointer` turns the loop's :class:`~ganlab.engine.loop.LoopState`
and the trainer's variables into checkpoints (refusing poisoned weights)
and back, and in a cluster makes every worker restore the very file the
chief picked.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ganlab import __version__
from ganlab.engine.checkpoint import (
    CheckpointId,
    CheckpointStore,
    assign_training_arrays,
    non_finite_arrays,
    training_arrays,
)
from ganlab.engine.cluster import Cluster
from ganlab.engine.loop import LoopState
from ganlab.engine.trainer import GANTrainer
from ganlab.errors import RunDirectoryError
from ganlab.rundir import RunDirectory, record_checkpoint
from ganlab.settings import OptimizerSettings

Echo = Callable[[str], None]


class PoisonedWeights(Exception):
    """The weights hold NaN/Inf at a checkpoint boundary (never written)."""

    def __init__(self, checkpoint: CheckpointId, names: list[str]):
        super().__init__(f"non-finite weights at the {checkpoint.describe()}")
        self.checkpoint, self.names = checkpoint, names


class Checkpointer:
    """The checkpoints of one run: what the loop saves, what a restart restores.

    Args:
        store: The run's checkpoint folder.
        trainer: Whose models, optimizers and RNG are saved.
        bank: The run's fixed latent bank (kept in every checkpoint).
        cluster: Only the chief writes; every worker checks the weights.
        run_dir: Its ``run.json`` names the newest checkpoint.

    Attributes:
        last_saved: The newest checkpoint written or restored in this process.

    """

    def __init__(self, store: CheckpointStore, trainer: GANTrainer, bank: np.ndarray,
                 cluster: Cluster, run_dir: RunDirectory):
        self.store, self.trainer, self.bank = store, trainer, bank
        self.cluster, self.run_dir = cluster, run_dir
        self.last_saved: CheckpointId | None = None

    def save(self, state: LoopState) -> None:
        """Write a checkpoint of ``state`` (refusing a poisoned one).

        In a cluster only the chief writes; the other workers hold the same
        weights and check them too, so that all of them stop together on
        poisoned weights. ``run.json`` then names it.

        Raises:
            PoisonedWeights: Some weight or optimizer state is NaN/Inf: nothing
                is written, so the last good checkpoint stays the newest.
            RunDirectoryError: Writing failed (disk full); earlier checkpoints intact.

        """
        checkpoint = CheckpointId(state.epoch, state.step_in_epoch)
        arrays = training_arrays(self.trainer, self.bank)
        poisoned = non_finite_arrays(arrays)
        if poisoned:
            raise PoisonedWeights(checkpoint, poisoned)
        if self.cluster.is_chief:
            meta = {"epoch": state.epoch, "step": state.step_in_epoch,
                    "global_step": state.global_step, "last_finite": state.last_finite,
                    "epoch_totals": state.epoch_totals, "epoch_counted": state.epoch_counted,
                    "ganlab_version": __version__}
            path = self.store.save(checkpoint, arrays, meta)
            record_checkpoint(self.run_dir, path.name, checkpoint.epoch, state.global_step)
        self.last_saved = checkpoint

    def restore(self, optimizers: OptimizerSettings, echo: Echo,
                ) -> tuple[LoopState, CheckpointId | None]:
        """Restore the newest good checkpoint (if any) and say what was restored.

        Args:
            optimizers: The experiment's optimizers: a fixed learning rate is
                an optimizer variable, and the experiment's value wins (it can
                differ only in a branch, where changing it is the point).
            echo: Where messages go.

        """
        found = self._find()
        if found is None:
            return LoopState(), None
        checkpoint, arrays, meta, problems = found
        source = self.store.path(checkpoint)
        for problem in problems:
            echo(f"warning: {problem}")
        if problems:
            echo(f"warning: falling back to {source.name} ({checkpoint.describe()}).")
        notes = assign_training_arrays(self.trainer, arrays, source)
        if not optimizers.schedule:
            self.trainer.g_optimizer.learning_rate = optimizers.generator.learning_rate
            self.trainer.d_optimizer.learning_rate = optimizers.discriminator.learning_rate
        state = LoopState(epoch=meta["epoch"], step_in_epoch=meta["step"],
                          global_step=meta["global_step"], last_finite=meta.get("last_finite"),
                          epoch_totals=dict(meta.get("epoch_totals") or {}),
                          epoch_counted=int(meta.get("epoch_counted") or 0))
        self.last_saved = checkpoint
        ema = " its EMA generator," if self.trainer.ema is not None and not notes else ""
        echo(f"Resuming from {source} ({checkpoint.describe()}): restored generator,{ema} "
             f"discriminator, both optimizer states (global step {state.global_step}), the "
             "training RNG state and the fixed latent bank.")
        for note in notes:
            echo(f"note: {note}")
        return state, checkpoint

    def last_good(self) -> str:
        """Where to go back to: the newest checkpoint on disk, in words."""
        checkpoints = self.store.list()
        if not checkpoints:
            return "no checkpoint was written yet"
        return (f"the last good checkpoint is {self.store.path(checkpoints[-1])} "
                f"({checkpoints[-1].describe()})")

    def _find(self) -> tuple[CheckpointId, dict[str, np.ndarray], dict[str, Any],
                             list[str]] | None:
        """The checkpoint to resume from: the chief's pick, on every worker."""
        cluster, store = self.cluster, self.store
        found = cluster.chief_first(lambda: store.load_latest_good(quarantine=True),
                                    "looking for the checkpoint to resume from")
        picked = cluster.broadcast([found[0].epoch, found[0].step] if found else [-1, -1])
        if cluster.is_chief or picked[0] < 0:
            return found
        checkpoint = CheckpointId(*picked)
        try:
            arrays, meta = store.open(checkpoint)
        except RunDirectoryError as exc:
            raise RunDirectoryError(
                f"{cluster.label()} cannot read the checkpoint the chief resumes from ({exc}) "
                "Multi-worker training needs the run directory on a filesystem every worker "
                "mounts at the same path.") from None
        return checkpoint, arrays, meta, []
