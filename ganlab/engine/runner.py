"""``ganlab run``: from a validated experiment to a finished run directory.

:func:`run_experiment` takes the run directory, builds the session
(:mod:`ganlab.engine.build`), restores the newest checkpoint, trains
(:func:`ganlab.engine.loop.fit` with the core callbacks and the loop hooks)
and turns every way training can end into the user's answer.
"""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from ganlab import __version__
from ganlab.checks import check_experiment
from ganlab.components import build_callbacks, build_metrics, check_components
from ganlab.contracts import RunContext, class_names_of
from ganlab.data.pipeline import data_read_error, epoch_dataset, training_images
from ganlab.engine import faults
from ganlab.engine.branch import BranchSource, start_branch
from ganlab.engine.build import Session, build_session, join_cluster
from ganlab.engine.callbacks import HistoryCSV, MetricsCallback, TensorBoardScalars
from ganlab.engine.checkpoint import CheckpointId
from ganlab.engine.checkpointer import PoisonedWeights
from ganlab.engine.cluster import Cluster
from ganlab.engine.failures import (
    lost_worker_message,
    non_finite_message,
    plugin_failure,
    poisoned_message,
    resume_arguments,
)
from ganlab.engine.hooks import (
    FaultPoints,
    NonFiniteGuard,
    NonFiniteLoss,
    StepCheckpoints,
    StopAgreement,
    StopRequested,
)
from ganlab.engine.loop import Loop, LoopState, fit
from ganlab.engine.same_data import check_same_data, data_fingerprint
from ganlab.errors import GanlabError, RunDirectoryError, TrainingError
from ganlab.experiment import Experiment
from ganlab.hparams import HParamsCallback
from ganlab.registry import Registry
from ganlab.rundir import (
    RunDirectory,
    check_resumable,
    export_model,
    locked,
    repair_metadata,
    write_json_atomic,
    write_resolved_config,
)
from ganlab.sweep.state import SWEEP_FILE

Echo = Callable[[str], None]


class TrainingInterrupted(GanlabError):
    """Training stopped on SIGINT/SIGTERM after saving a checkpoint."""

    exit_code = 130


@dataclass
class RunResult:
    """What a finished (or stopped) run did."""

    run_dir: Path
    epochs_completed: int
    resumed_from: CheckpointId | None
    logs: dict[str, float]


# -- the entry point ------------------------------------------------------------------------------
def run_experiment(experiment: Experiment, registry: Registry, provenance: dict[str, Any],
                   echo: Echo = print, branch: BranchSource | None = None,
                   accept_data_change: bool = False) -> RunResult:
    """Train ``experiment`` into its run directory, resuming if it holds a run.

    Under ``train.strategy: multi_worker`` every worker runs this with the
    same experiment; only the chief takes the lock and writes the run
    directory (see docs/distributed.md).

    Args:
        experiment: The validated experiment.
        registry: The plugin registry.
        provenance: Who provided what (written to ``plugins.json``).
        echo: Where messages go.
        branch: Start a new run from another run's checkpoint
            (``ganlab run --from-checkpoint``).
        accept_data_change: Resume the run even though its data changed
            (``--accept-data-change``); otherwise that is refused.

    Raises:
        GanlabError: Any user-facing problem (data, config, run directory,
            non-finite loss, interruption).

    """
    check_components(experiment, registry)
    faults.reset()
    cluster = join_cluster(experiment)
    echo = cluster.prefixed(echo)
    run_dir = RunDirectory(experiment.run_dir())
    with ExitStack() as stack:
        resuming = cluster.chief_first(
            lambda: claim_run_dir(stack, run_dir, experiment, branch, echo),
            f"taking the run directory {run_dir.root}")
        try:
            return _run_locked(experiment, registry, provenance, echo, bool(resuming), cluster,
                               accept_data_change)
        finally:
            keras.mixed_precision.set_global_policy("float32")


def claim_run_dir(stack: ExitStack, run_dir: RunDirectory, experiment: Experiment,
                  branch: BranchSource | None, echo: Echo) -> bool:
    """Lock ``run_dir`` (held until ``stack`` closes) and make it ready; whether it resumes."""
    refuse_sweep_directory(run_dir)
    lock = stack.enter_context(locked(run_dir))
    if lock.stale_taken_over:
        echo(f"Note: took over the stale lock of process {lock.stale_taken_over.get('pid')} "
             f"on {lock.stale_taken_over.get('host')}, which is no longer running "
             "(killed or crashed).")
    run_dir.remove_temporaries()
    if branch is not None:
        start_branch(branch, run_dir, experiment, echo)
    resuming = check_resumable(run_dir, experiment.config)
    repaired = repair_metadata(run_dir)
    if repaired:
        echo(f"warning: {repaired}")
    return resuming


def refuse_sweep_directory(run_dir: RunDirectory) -> None:
    """A run never writes into a sweep's directory (``ganlab sweep`` of the same experiment).

    Raises:
        RunDirectoryError: ``run_dir`` holds a sweep's ``sweep.json``.

    """
    if (run_dir.root / SWEEP_FILE).exists():
        raise RunDirectoryError(
            f"The run directory {run_dir.root} holds a sweep ({SWEEP_FILE}; its runs are "
            f"the folders in it): a run never writes into a sweep's directory, where it "
            "would mix its files with the sweep's and hide among its runs. Give this run its "
            "own directory (--set name=NEW_NAME or --set run_dir=PATH); to continue the "
            "sweep, run its `ganlab sweep` command again.")


def _run_locked(experiment: Experiment, registry: Registry, provenance: dict[str, Any],
                echo: Echo, resuming: bool, cluster: Cluster,
                accept_data_change: bool = False) -> RunResult:
    session = build_session(experiment, registry, echo, cluster)
    if resuming:
        check_same_data(session.run_dir, session.dataset, accept=accept_data_change, echo=echo)
    state, restored = session.checkpoints.restore(experiment.settings.optimizers, echo)
    check_experiment(experiment, registry, session.dataset, session.gan.generator,
                     session.gan.discriminator, session.trainer.loss, session.trainer.latent_dim,
                     losses=session.strategy.num_replicas_in_sync == 1,
                     num_classes=session.trainer.num_classes,
                     regularizers=[p.regularizer for p in session.trainer.penalties.penalties])
    if resuming and restored is None:
        echo(f"{session.run_dir.root} holds no checkpoint yet: starting from epoch 1.")
    if cluster.is_chief:
        write_run_files(session, provenance, restored, state)
    epochs = experiment.settings.train.epochs
    if state.epoch >= epochs:
        echo(f"The run already completed {state.epoch} of {epochs} epochs; nothing to train. "
             "Raise train.epochs (--set train.epochs=N) to continue it.")
    plugin_callbacks = build_callbacks(experiment, registry)
    metrics = build_metrics(experiment, registry)
    logs = train_translating_failures(session, state, plugin_callbacks, metrics, registry, echo)
    if not cluster.is_chief:
        echo(f"Done: {state.epoch} epochs as {cluster.label()}; the chief wrote the run "
             f"directory {session.run_dir.root}.")
        return RunResult(session.run_dir.root, state.epoch, restored, logs)
    export_model(session.gan.generator, session.run_dir.generator)
    exported = f"generator exported to {session.run_dir.generator}"
    if session.gan.generator_ema is not None:
        export_model(session.gan.generator_ema, session.run_dir.generator_ema)
        exported += f", the EMA generator to {session.run_dir.generator_ema}"
    mark_run(session, "completed")
    echo(f"Done: {state.epoch} epochs in {session.run_dir.root}; {exported}.")
    return RunResult(session.run_dir.root, state.epoch, restored, logs)


def train_translating_failures(session: Session, state: LoopState, plugin_callbacks: list[Any],
                               metrics: list[Any], registry: Registry, echo: Echo) -> dict:
    """:func:`train`, with every way it can fail turned into the user's answer."""
    try:
        return train(session, state, plugin_callbacks, echo, metrics)
    except StopRequested:
        raise interrupted(session, state) from None
    except NonFiniteLoss as exc:
        mark_run(session, "failed")
        raise TrainingError(non_finite_message(exc, session)) from None
    except PoisonedWeights as exc:
        mark_run(session, "failed")
        raise TrainingError(poisoned_message(exc, session)) from None
    except GanlabError:
        raise
    except tf.errors.UnavailableError as exc:
        if not session.cluster.distributed:
            raise
        raise TrainingError(lost_worker_message(session.cluster, exc)) from None
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as exc:
        found = data_read_error(session.dataset, exc)
        if found is None:
            raise
        raise found from None
    except Exception as exc:
        failure = plugin_failure(exc, session, registry, plugin_callbacks, state)
        if failure is None:
            raise
        mark_run(session, "failed")
        raise failure from exc


# -- the loop, wired ----------------------------------------------------------------------------
def train(session: Session, state: LoopState, plugin_callbacks: list[Any], echo: Echo,
          metrics: list[Any] | None = None) -> dict:
    """Run the remaining epochs, checkpointing per policy; returns the last epoch logs.

    In a cluster the chief alone runs the callbacks (core and plugin: they
    write the run directory and issue no collective op); the other workers
    train in step with it and write nothing.
    """
    train_settings = session.experiment.settings.train
    chief = session.cluster.is_chief
    writer = tf.summary.create_file_writer(str(session.run_dir.tensorboard)) if chief else None
    session.gan.run = make_context(session, writer)
    session.gan.run.initial_epoch = state.epoch
    chosen = plugin_callbacks + core_callbacks(session, state, writer, metrics or []) \
        if chief else []
    callbacks = keras.callbacks.CallbackList(
        chosen, add_progbar=chief and train_settings.verbose > 0, model=session.gan,
        verbose=train_settings.verbose, epochs=train_settings.epochs,
        steps=session.steps_per_epoch)
    # Before the first step: checks and set-up that need the built session go here.
    with stop_on_signals(state, echo):
        logs = fit(make_loop(session, callbacks), state)
    if writer is not None:
        writer.close()
    return logs


def make_loop(session: Session, callbacks: Any) -> Loop:
    """The :class:`Loop` of ``session``: its batches, hooks and checkpoint policy."""
    settings = session.experiment.settings
    train_settings = settings.train
    fixed_order = train_settings.deterministic or session.cluster.distributed
    images = training_images(session.dataset, fixed_order=fixed_order,
                             cache=train_settings.cache,
                             labelled=bool(session.trainer.num_classes))
    policy = (tf.data.experimental.AutoShardPolicy.FILE if session.file_sharded
              else tf.data.experimental.AutoShardPolicy.DATA)

    def batches(state: LoopState) -> Any:
        epoch = epoch_dataset(
            images, epoch=state.epoch, seed=settings.seed, batch_size=session.global_batch,
            steps=session.steps_per_epoch, skip=state.step_in_epoch,
            shuffle_buffer=train_settings.shuffle_buffer, deterministic=fixed_order,
            shard_policy=policy)
        return session.strategy.experimental_distribute_dataset(epoch)

    def agree(stop_training: bool, stop_requested: bool) -> tuple[bool, bool]:
        stop_training, stop_requested = session.cluster.any_of([stop_training, stop_requested])
        session.gan.stop_training = stop_training
        return stop_training, stop_requested

    return Loop(trainer=session.trainer, batches=batches, callbacks=callbacks,
                hooks=loop_hooks(session), save=session.checkpoints.save,
                agree=agree, epochs=train_settings.epochs,
                steps_per_epoch=session.steps_per_epoch,
                steps_per_execution=train_settings.steps_per_execution,
                batch_size=session.global_batch,
                checkpoint_every_n_epochs=settings.checkpoint.every_n_epochs,
                should_stop=lambda: bool(session.gan.stop_training))


def loop_hooks(session: Session) -> list[Any]:
    """What runs between executions, in order (see :mod:`ganlab.engine.hooks`)."""
    cluster = session.cluster
    vote = ((lambda wish: cluster.any_of([wish])[0]) if cluster.distributed else None)
    every = session.experiment.settings.checkpoint.every_n_steps
    return [NonFiniteGuard(), StepCheckpoints(every, session.checkpoints.save),
            FaultPoints(cut_executions=not cluster.distributed), StopAgreement(vote)]


def core_callbacks(session: Session, state: LoopState, writer: Any,
                   metrics: list[Any]) -> list[Any]:
    """The callbacks writing history, TensorBoard and metric scores (add core ones here)."""
    settings = session.experiment.settings
    scoring = [MetricsCallback(metrics, session.dataset.load(), session.run_dir.metrics,
                               every_n_epochs=settings.train.metrics_every_n_epochs,
                               seed=settings.seed + 1, resumed_epoch=state.epoch,
                               source=session.dataset, registry=session.registry)
               ] if metrics else []
    # Metric scores join the epoch logs before history/TensorBoard see them.
    return [*scoring,
            HistoryCSV(session.run_dir.history, resumed_epoch=state.epoch,
                       extra_fields=session.trainer.penalties.keys),
            HParamsCallback(writer, session.experiment),
            TensorBoardScalars(writer, initial_step=state.global_step,
                               steps_per_epoch=session.steps_per_epoch)]


def make_context(session: Session, writer: Any) -> RunContext:
    """The :class:`RunContext` callbacks see as ``self.model.run``."""
    experiment = session.experiment
    return RunContext(run_dir=session.run_dir.root, name=experiment.name,
                      config=experiment.config,
                      image_shape=tuple(session.dataset.image_shape),
                      latent_dim=session.trainer.latent_dim,
                      latent_distribution=session.trainer.latent_distribution,
                      latent_bank=session.bank, summary_writer=writer,
                      seed=experiment.settings.seed,
                      num_classes=session.trainer.num_classes,
                      class_names=tuple(class_names_of(session.dataset)
                                        if session.trainer.num_classes else ()))


@contextmanager
def stop_on_signals(state: LoopState, echo: Echo) -> Iterator[None]:
    """SIGINT/SIGTERM ask the loop to stop at the next step boundary (SIGINT twice: at once)."""
    def request_stop(signum: int, frame: Any) -> None:
        if state.stop_requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        state.stop_requested = True
        echo(f"\n{signal.Signals(signum).name} received: saving a checkpoint at the next step "
             "boundary (Ctrl-C again to abort without saving).")

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# -- run files ----------------------------------------------------------------------------------
def write_run_files(session: Session, provenance: dict[str, Any],
                    restored: CheckpointId | None, state: LoopState) -> None:
    """``config.yaml``, ``plugins.json`` and ``run.json`` (naming the restored checkpoint)."""
    experiment, run_dir = session.experiment, session.run_dir
    header = f"Resolved by ganlab {__version__} from {experiment.path}"
    if experiment.overrides:
        header += f" with --set {' --set '.join(experiment.overrides)}"
    write_resolved_config(run_dir, experiment.config, header)
    write_json_atomic(run_dir.plugins, provenance)
    run_dir.update_metadata(
        ganlab_version=__version__, name=experiment.name,
        latent_dim=session.trainer.latent_dim,
        latent_distribution=session.trainer.latent_distribution,
        num_classes=session.trainer.num_classes,
        # The names of the classes a conditional generator draws (sample --class NAME).
        class_names=class_names_of(session.dataset) if session.trainer.num_classes else [],
        generator_ema=session.gan.generator_ema is not None,
        image_shape=list(session.dataset.image_shape), status="running",
        # What it trains on: a resume on other data is refused (same_data).
        data=data_fingerprint(session.dataset),
        # Relative local plugin paths in the config are relative to this folder.
        experiment_dir=str(experiment.base_dir.resolve()),
        epochs_completed=state.epoch, global_step=state.global_step,
        latest_checkpoint=restored.filename if restored else None)


def mark_run(session: Session, status: str) -> None:
    """Record the run's status in ``run.json`` (the chief's job in a cluster).

    The epochs completed are those of the newest checkpoint written, so
    ``run.json`` never claims more than a restart would find.
    """
    if session.cluster.is_chief:
        saved = session.checkpoints.last_saved
        session.run_dir.update_metadata(status=status,
                                        epochs_completed=saved.epoch if saved else 0)


def interrupted(session: Session, state: LoopState) -> GanlabError:
    """Save the state at the step boundary reached and say how to resume."""
    checkpoint = CheckpointId(state.epoch, state.step_in_epoch)
    if session.checkpoints.last_saved != checkpoint:
        try:
            session.checkpoints.save(state)
        except PoisonedWeights as exc:
            mark_run(session, "failed")
            return TrainingError(poisoned_message(exc, session))
    mark_run(session, "interrupted")
    command = "ganlab run " + " ".join(resume_arguments(session.experiment))
    return TrainingInterrupted(
        f"Training stopped at the {checkpoint.describe()} (global step {state.global_step}); "
        f"checkpoint saved to {session.checkpoints.store.path(checkpoint)}. To resume, run the "
        f"same command again: {command}")
