"""``ganlab run``: from a validated experiment to a finished run directory."""

from __future__ import annotations

import os
import signal
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf
import yaml

from ganlab import __version__
from ganlab.checks import check_experiment
from ganlab.components import (
    build_architectures,
    build_callbacks,
    build_dataset,
    build_loss,
    build_metrics,
    build_networks,
    check_components,
)
from ganlab.contracts import (
    RunContext,
    dataset_location,
    describe_dataset,
    load_images,
    source_available,
)
from ganlab.engine import faults
from ganlab.engine.branch import BranchSource, start_branch
from ganlab.engine.callbacks import HistoryCSV, MetricsCallback, TensorBoardScalars
from ganlab.engine.checkpoint import (
    CheckpointId,
    CheckpointStore,
    assign_variables,
    non_finite_arrays,
    variables_state,
)
from ganlab.engine.cluster import Cluster
from ganlab.engine.failures import (
    PoisonedWeights,
    lost_worker_message,
    non_finite_message,
    plugin_failure,
    poisoned_message,
    resume_arguments,
)
from ganlab.engine.faults import fault_point
from ganlab.engine.strategy import make_strategy
from ganlab.engine.trainer import (
    GAN,
    GANTrainer,
    LoopState,
    NonFiniteLoss,
    StopRequested,
    epoch_dataset,
)
from ganlab.errors import (
    ConfigError,
    DataError,
    GanlabError,
    RunDirectoryError,
    TrainingError,
)
from ganlab.experiment import Experiment
from ganlab.hparams import HParamsCallback
from ganlab.latents import check_distribution, sample_latents
from ganlab.registry import Registry
from ganlab.rundir import (
    RunDirectory,
    incompatible_changes,
    locked,
    save_latent_bank,
    write_json_atomic,
    write_text_atomic,
)

Echo = Callable[[str], None]
#: Cache decoded images in memory below this many bytes when ``train.cache`` is unset.
AUTO_CACHE_BYTES = 2 * 1024**3


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


@dataclass
class Session:
    """Everything built for one run."""

    experiment: Experiment
    run_dir: RunDirectory
    strategy: Any
    dataset: Any
    gan: GAN
    trainer: GANTrainer
    store: CheckpointStore
    bank: np.ndarray
    steps_per_epoch: int
    global_batch: int
    cluster: Cluster
    last_saved: CheckpointId | None = None
    registry: Registry | None = None


# -- the data ------------------------------------------------------------------------------------
def ensure_prepared(dataset: Any, echo: Echo) -> None:
    """Prepare the data if needed and the raw source is there; else say what to do."""
    if dataset.is_prepared():
        return
    where = dataset_location(dataset)
    if not source_available(dataset):
        raise DataError(
            f"No prepared data ({where}) and the raw data is not where the "
            f"experiment says ({describe_dataset(dataset)}). Put the raw files there or point "
            "the experiment at them with --set dataset.params.source=PATH, then run "
            "'ganlab prepare EXPERIMENT.yaml' (or 'ganlab run', which prepares automatically)."
        )
    echo(f"Preparing {where} from {describe_dataset(dataset)} ...")
    report = dataset.prepare()
    if report is None:
        return
    counts = ", ".join(f"{split}: {count}" for split, count in report.counts.items())
    echo(f"Prepared {counts} in {report.seconds:.1f} s"
         + (f"; skipped {len(report.skipped)} unreadable files" if report.skipped else "") + ".")


def training_images(dataset: Any, config: dict[str, Any], fixed_order: bool = False
                    ) -> tuple[Any, int]:
    """The unbatched training images (cached when small) and their count.

    Args:
        dataset: The experiment's dataset.
        config: The resolved experiment config.
        fixed_order: Read in a fixed order even without ``train.deterministic``
            (see :func:`fixed_data_order`).

    """
    count = dataset.num_examples()
    images = load_images(dataset, fixed_order=config["train"]["deterministic"] or fixed_order)
    cache = config["train"]["cache"]
    if cache is None:
        height, width, channels = dataset.image_shape
        cache = count * height * width * channels * 4 <= AUTO_CACHE_BYTES
    return (images.cache() if cache else images), count


# -- models and optimizers ----------------------------------------------------------------------
def make_optimizer(settings: dict[str, Any], schedule: dict[str, Any] | None,
                   steps_per_epoch: int, precision: str) -> keras.optimizers.Optimizer:
    """Adam with an optional piecewise-constant schedule given in epochs."""
    learning_rate: Any = settings["learning_rate"]
    if schedule:
        # Keras evaluates the schedule at the optimizer's iteration count before
        # each update, and PiecewiseConstantDecay switches *after* a boundary:
        # so the first step of epoch b+1 (iteration b*steps) gets the new rate.
        boundaries = [b * steps_per_epoch - 1 for b in schedule["boundaries_epochs"]]
        values = [learning_rate * f for f in schedule["factors"]]
        learning_rate = keras.optimizers.schedules.PiecewiseConstantDecay(boundaries, values)
    optimizer = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=settings["beta_1"],
                                      beta_2=settings["beta_2"], epsilon=settings["epsilon"])
    if precision == "mixed_float16":
        # Keras only wraps compile(optimizer=...) automatically; with two
        # optimizers each needs its own loss scale.
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def build_models(experiment: Experiment, registry: Registry, image_shape: tuple[int, int, int],
                 ) -> tuple[keras.Model, keras.Model, int, str]:
    """Generator, discriminator, latent size and prior; shapes checked."""
    g_arch, d_arch = build_architectures(experiment, registry, image_shape)
    generator, discriminator = build_networks(experiment, registry, g_arch, d_arch)
    latent_dim = int(g_arch.latent_dim)
    distribution = check_distribution(g_arch.latent_distribution)
    produced = tuple(generator.output_shape[1:])
    if produced != tuple(image_shape):
        provider = registry.resolve("architecture", experiment.generator_block()["name"]).provider
        raise ConfigError(
            f"The generator of '{experiment.generator_block()['name']}' from {provider} "
            "produces images of "
            f"shape {produced} but the dataset's images are {tuple(image_shape)}: set the "
            "architecture's params to match the dataset (image size and channels).")
    return generator, discriminator, latent_dim, distribution


def configure_tensorflow(config: dict[str, Any]) -> None:
    """Seeds, determinism and the precision policy, before any model is built."""
    keras.utils.set_random_seed(config["seed"])
    if config["train"]["deterministic"]:
        tf.config.experimental.enable_op_determinism()
    keras.mixed_precision.set_global_policy(config["train"]["precision"])


def join_cluster(experiment: Experiment) -> Cluster:
    """The experiment's strategy, and this process's place in its cluster.

    It comes first: splitting a CPU into logical devices, and joining a
    multi-worker cluster, must happen before anything starts TensorFlow.
    """
    train = experiment.config["train"]
    return Cluster.of(make_strategy(train["strategy"], train["devices"]))


def prepared_dataset(experiment: Experiment, registry: Registry, cluster: Cluster,
                     echo: Echo) -> Any:
    """The dataset, its TFRecords prepared (by the chief alone in a cluster)."""
    dataset = build_dataset(experiment, registry)
    cluster.chief_first(lambda: ensure_prepared(dataset, echo), "preparing the data")
    if not cluster.is_chief and not dataset.is_prepared():
        raise DataError(
            f"The chief prepared {dataset_location(dataset)}, but {cluster.label()} "
            "cannot see them there: multi-worker training needs the data and the run "
            "directory on a filesystem every worker mounts at the same path.")
    return dataset


def steps_and_batch(train: dict[str, Any], count: int, replicas: int) -> tuple[int, int]:
    """Steps per epoch and the global batch size (``train.batch_size``)."""
    global_batch = train["batch_size"]
    if global_batch % replicas:
        # Each replica's loss is a mean over its share; unequal shares would
        # weigh some images more than others in the averaged gradient.
        raise ConfigError(f"train.batch_size is the global batch, split evenly over the "
                          f"{replicas} replicas of train.strategy {train['strategy']!r}: make "
                          f"it a multiple of {replicas} (it is {global_batch}).")
    steps_per_epoch = count // global_batch
    if steps_per_epoch == 0:
        raise ConfigError(f"train.batch_size is {global_batch} but the training split has only "
                          f"{count} images: lower the batch size.")
    if train["steps_per_epoch"]:
        steps_per_epoch = min(steps_per_epoch, train["steps_per_epoch"])
    return steps_per_epoch, global_batch


def build_session(experiment: Experiment, registry: Registry, echo: Echo,
                  cluster: Cluster | None = None) -> Session:
    """Dataset, strategy, models, optimizers and trainer for ``experiment``.

    Args:
        experiment: The validated experiment.
        registry: The plugin registry.
        echo: Where messages go.
        cluster: The strategy's cluster (see :func:`join_cluster`); made here
            when not given.

    """
    config = experiment.config
    train = config["train"]
    cluster = cluster or join_cluster(experiment)
    strategy = cluster.strategy
    configure_tensorflow(config)
    dataset = prepared_dataset(experiment, registry, cluster, echo)
    steps_per_epoch, global_batch = steps_and_batch(train, dataset.num_examples(),
                                                    strategy.num_replicas_in_sync)
    schedule = config["optimizers"]["schedule"]
    with strategy.scope():
        generator, discriminator, latent_dim, distribution = build_models(
            experiment, registry, tuple(dataset.image_shape))
        g_steps_per_epoch = max(steps_per_epoch // train["d_steps"], 1)
        g_opt = make_optimizer(config["optimizers"]["generator"], schedule, g_steps_per_epoch,
                               train["precision"])
        d_opt = make_optimizer(config["optimizers"]["discriminator"], schedule, steps_per_epoch,
                               train["precision"])
        # Built now so their state exists for checkpoints and restore.
        g_opt.build(generator.trainable_variables)
        d_opt.build(discriminator.trainable_variables)
        gan = GAN(generator, discriminator)
    trainer = GANTrainer(strategy, gan, build_loss(experiment, registry), g_opt, d_opt,
                         latent_dim=latent_dim, latent_distribution=distribution,
                         seed=config["seed"], jit_compile=train["jit_compile"],
                         d_steps=train["d_steps"], multi_worker=cluster.distributed)
    run_dir = RunDirectory(experiment.run_dir())
    store = CheckpointStore(run_dir.checkpoints, config["checkpoint"]["keep_last"],
                            config["checkpoint"]["keep_every_n_epochs"])
    bank = load_or_create_bank(run_dir, config, latent_dim, distribution,
                               save=cluster.is_chief)
    return Session(experiment, run_dir, strategy, dataset, gan, trainer, store, bank,
                   steps_per_epoch, global_batch, cluster, registry=registry)


def load_or_create_bank(run_dir: RunDirectory, config: dict[str, Any], latent_dim: int,
                        distribution: str, save: bool = True) -> np.ndarray:
    """The run's fixed, numbered latent bank (created once, then reused).

    Args:
        run_dir: The run directory.
        config: The resolved experiment config.
        latent_dim: Latent size.
        distribution: The latent prior.
        save: Write a newly drawn bank (``False`` on non-chief workers, which
            draw the same bank from the seed and write nothing).

    """
    if run_dir.latent_bank.exists():
        try:
            bank = np.load(run_dir.latent_bank, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            what = "it is not a numpy array file" if "pickle" in str(exc) else str(exc)
            raise RunDirectoryError(
                f"{run_dir.latent_bank} (the run's fixed latent bank) is damaged: {what}. Every "
                "checkpoint holds a copy: restore it with numpy from the newest checkpoint's "
                "'latent_bank' array, or delete the file to draw it again from the seed.") from None
        if bank.ndim == 2 and bank.shape[1] == latent_dim:
            return bank
        raise RunDirectoryError(f"{run_dir.latent_bank} holds latents of shape {bank.shape}, "
                                f"not (n, {latent_dim}).")
    bank = sample_latents(config["latents"]["bank_size"], latent_dim, distribution,
                          seed=config["seed"])
    if save:
        save_latent_bank(run_dir, bank)
    return bank


# -- checkpoints ---------------------------------------------------------------------------------
def seed_variables(model: keras.Model) -> list[Any]:
    """The model's variables that are not weights: random-seed generator states (dropout)."""
    weights = {id(w) for w in model.weights}
    return [v for v in model.variables if id(v) not in weights]


def checkpoint_arrays(session: Session) -> dict[str, np.ndarray]:
    """Everything training state is made of, as named arrays."""
    gan, trainer = session.gan, session.trainer
    arrays = {}
    for name, model in (("generator", gan.generator), ("discriminator", gan.discriminator)):
        arrays.update(variables_state(name, model.weights))
        arrays.update(variables_state(f"{name}_seeds", seed_variables(model)))
    arrays.update(variables_state("g_optimizer", trainer.g_optimizer.variables))
    arrays.update(variables_state("d_optimizer", trainer.d_optimizer.variables))
    arrays["rng_state"] = np.asarray(trainer.rng.state.numpy())
    arrays["latent_bank"] = session.bank
    return arrays


def save_checkpoint(session: Session, state: LoopState) -> Path | None:
    """Write a checkpoint of the current state (refusing a poisoned one).

    In a cluster only the chief writes (and returns the path); the other
    workers hold the same weights and check them too, so that all of them
    stop together on poisoned weights.

    Raises:
        PoisonedWeights: Some weight or optimizer state is NaN/Inf: nothing is
            written, so the last good checkpoint stays the newest.
        RunDirectoryError: Writing failed (disk full); earlier checkpoints intact.

    """
    checkpoint = CheckpointId(state.epoch, state.step_in_epoch)
    arrays = checkpoint_arrays(session)
    poisoned = non_finite_arrays(arrays)
    if poisoned:
        raise PoisonedWeights(checkpoint, poisoned)
    if not session.cluster.is_chief:
        session.last_saved = checkpoint
        return None
    meta = {"epoch": state.epoch, "step": state.step_in_epoch, "global_step": state.global_step,
            "last_finite": state.last_finite, "epoch_totals": state.epoch_totals,
            "epoch_counted": state.epoch_counted, "ganlab_version": __version__}
    path = session.store.save(checkpoint, arrays, meta)
    session.last_saved = checkpoint
    return path


def restore_checkpoint(session: Session, echo: Echo) -> tuple[LoopState, CheckpointId | None]:
    """Restore the newest good checkpoint (if any) and say what was restored.

    In a cluster the chief picks the checkpoint (moving damaged ones aside)
    and every other worker reads that very file.
    """
    found = find_checkpoint(session)
    if found is None:
        return LoopState(), None
    checkpoint, arrays, meta, problems = found
    source = session.store.path(checkpoint)
    for problem in problems:
        echo(f"warning: {problem}")
    if problems:
        echo(f"warning: falling back to {source.name} ({checkpoint.describe()}).")
    assign_state(session, arrays, source)
    state = LoopState(epoch=meta["epoch"], step_in_epoch=meta["step"],
                      global_step=meta["global_step"], last_finite=meta.get("last_finite"),
                      epoch_totals=dict(meta.get("epoch_totals") or {}),
                      epoch_counted=int(meta.get("epoch_counted") or 0))
    session.last_saved = checkpoint
    echo(f"Resuming from {source} ({checkpoint.describe()}): restored generator, "
         f"discriminator, both optimizer states (global step {state.global_step}), the "
         "training RNG state and the fixed latent bank.")
    return state, checkpoint


def find_checkpoint(session: Session) -> tuple[CheckpointId, dict[str, np.ndarray],
                                               dict[str, Any], list[str]] | None:
    """The checkpoint to resume from: the chief's pick, on every worker."""
    cluster, store = session.cluster, session.store
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


def assign_state(session: Session, arrays: dict[str, np.ndarray], source: Path) -> None:
    """Put a checkpoint's arrays back into the models, optimizers and RNG."""
    gan, trainer = session.gan, session.trainer
    for name, model in (("generator", gan.generator), ("discriminator", gan.discriminator)):
        assign_variables(name, model.weights, arrays, source)
        if any(key.startswith(f"{name}_seeds/") for key in arrays):
            assign_variables(f"{name}_seeds", seed_variables(model), arrays, source)
    assign_variables("g_optimizer", trainer.g_optimizer.variables, arrays, source)
    assign_variables("d_optimizer", trainer.d_optimizer.variables, arrays, source)
    trainer.rng.state.assign(arrays["rng_state"])
    optimizers = session.experiment.config["optimizers"]
    if not optimizers["schedule"]:
        # A fixed rate is an optimizer variable: the experiment's value wins
        # (it can differ only in a branch, where changing it is the point).
        trainer.g_optimizer.learning_rate = optimizers["generator"]["learning_rate"]
        trainer.d_optimizer.learning_rate = optimizers["discriminator"]["learning_rate"]


# -- run directory files -------------------------------------------------------------------------
def check_resumable(run_dir: RunDirectory, experiment: Experiment) -> bool:
    """Whether ``run_dir`` holds an earlier run of this experiment (refuse if incompatible)."""
    if not run_dir.exists():
        return False
    changes = incompatible_changes(run_dir.read_config(), experiment.config)
    if changes:
        raise RunDirectoryError(
            f"The run directory {run_dir.root} holds a run whose config differs from this "
            f"experiment in ways that cannot be resumed: {'; '.join(changes)}. Use a new name "
            "(or --set run_dir=...) for a new run, or restore the old settings to resume.")
    return True


def write_run_files(session: Session, provenance: dict[str, Any]) -> None:
    """``config.yaml``, ``plugins.json`` and ``run.json``."""
    experiment, run_dir = session.experiment, session.run_dir
    header = f"# Resolved by ganlab {__version__} from {experiment.path}"
    if experiment.overrides:
        header += f" with --set {' --set '.join(experiment.overrides)}"
    write_text_atomic(run_dir.config, header + "\n" + yaml.safe_dump(
        experiment.config, sort_keys=False, default_flow_style=False))
    write_json_atomic(run_dir.plugins, provenance)
    run_dir.update_metadata(
        ganlab_version=__version__, name=experiment.name,
        latent_dim=session.trainer.latent_dim,
        latent_distribution=session.trainer.latent_distribution,
        image_shape=list(session.dataset.image_shape), status="running",
        # Relative local plugin paths in the config are relative to this folder.
        experiment_dir=str(experiment.base_dir.resolve()))


def export_generator(session: Session) -> Path:
    """Save the generator as ``generator.keras`` atomically."""
    target = session.run_dir.generator
    temporary = target.with_name(f".generator-{os.getpid()}.keras")
    try:
        session.gan.generator.save(temporary)
        os.replace(temporary, target)
    finally:
        temporary.unlink(missing_ok=True)
    return target


# -- the loop ------------------------------------------------------------------------------------
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


def make_context(session: Session, writer: Any) -> RunContext:
    """The :class:`RunContext` callbacks see as ``self.model.run``."""
    config = session.experiment.config
    return RunContext(run_dir=session.run_dir.root, name=session.experiment.name, config=config,
                      image_shape=tuple(session.dataset.image_shape),
                      latent_dim=session.trainer.latent_dim,
                      latent_distribution=session.trainer.latent_distribution,
                      latent_bank=session.bank, summary_writer=writer, seed=config["seed"])


def step_checkpointer(session: Session) -> Callable[[LoopState], None]:
    """What runs after every step: mid-epoch checkpoints per policy, and the fault hook."""
    every = session.experiment.config["checkpoint"]["every_n_steps"]

    def after_step(state: LoopState) -> None:
        if (every and state.global_step % every == 0
                and state.step_in_epoch < session.steps_per_epoch):
            save_checkpoint(session, state)
        fault_point("step", state.global_step)

    return after_step


def fixed_data_order(session: Session) -> bool:
    """Whether the images are read in a fixed order.

    Asked for by ``train.deterministic``; always so in a cluster, where every
    worker reads the same records and keeps its share of each global batch:
    the shares only partition the batch if all workers see the same order.
    """
    return session.experiment.config["train"]["deterministic"] or session.cluster.distributed


def train_epoch(session: Session, images: Any, state: LoopState, callbacks: Any) -> dict:
    """One epoch (or what remains of it) of training, with data errors made readable."""
    config = session.experiment.config
    train_cfg = config["train"]
    batches = epoch_dataset(
        images, epoch=state.epoch, seed=config["seed"], batch_size=session.global_batch,
        steps=session.steps_per_epoch, skip=state.step_in_epoch,
        shuffle_buffer=train_cfg["shuffle_buffer"], deterministic=fixed_data_order(session))
    try:
        return session.trainer.run_epoch(batches, state, callbacks, session.steps_per_epoch,
                                         session.global_batch,
                                         after_step=step_checkpointer(session))
    except (tf.errors.DataLossError, tf.errors.InvalidArgumentError) as exc:
        found = data_read_error(session.dataset, exc)
        if found is None:
            raise
        raise found from None


def data_read_error(dataset: Any, error: Exception) -> DataError | None:
    """A message naming the bad shard when ``error`` came from damaged TFRecords."""
    from ganlab.data.reader import verify

    if getattr(dataset, "tfrecords", None) is None:
        return None
    try:
        verify(dataset.tfrecords)
    except DataError as found:
        return DataError(f"Training stopped: the training data is damaged. {found}")
    except Exception:  # not our TFRecords: let the original error through
        return None
    return None


def metric_callbacks(session: Session, metrics: list[Any], resumed_epoch: int) -> list[Any]:
    """The core callback scoring the experiment's metrics (none without metrics)."""
    if not metrics:
        return []
    config = session.experiment.config
    return [MetricsCallback(metrics, session.dataset.load(), session.run_dir.metrics,
                            every_n_epochs=config["train"]["metrics_every_n_epochs"],
                            seed=config["seed"] + 1, resumed_epoch=resumed_epoch,
                            source=session.dataset, registry=session.registry)]


def core_callbacks(session: Session, state: LoopState, writer: Any,
                   metrics: list[Any]) -> list[Any]:
    """The callbacks writing history, TensorBoard and metric scores."""
    # Metric scores join the epoch logs before history/TensorBoard see them.
    return [*metric_callbacks(session, metrics, state.epoch),
            HistoryCSV(session.run_dir.history, resumed_epoch=state.epoch),
            HParamsCallback(writer, session.experiment),
            TensorBoardScalars(writer, initial_step=state.global_step,
                               steps_per_epoch=session.steps_per_epoch)]


def train(session: Session, state: LoopState, plugin_callbacks: list[Any], echo: Echo,
          metrics: list[Any] | None = None) -> dict:
    """Run the remaining epochs, checkpointing per policy; returns the last epoch logs.

    In a cluster the chief alone runs the callbacks (core and plugin: they
    write the run directory and issue no collective op); the other workers
    train in step with it and write nothing.
    """
    config = session.experiment.config
    train_cfg = config["train"]
    epochs = train_cfg["epochs"]
    chief = session.cluster.is_chief
    writer = tf.summary.create_file_writer(str(session.run_dir.tensorboard)) if chief else None
    session.gan.run = make_context(session, writer)
    session.gan.run.initial_epoch = state.epoch
    chosen = []
    if chief:
        chosen = plugin_callbacks + core_callbacks(session, state, writer, metrics or [])
    callbacks = keras.callbacks.CallbackList(
        chosen, add_progbar=chief and train_cfg["verbose"] > 0, model=session.gan,
        verbose=train_cfg["verbose"], epochs=epochs, steps=session.steps_per_epoch)
    images, _ = training_images(session.dataset, config, fixed_order=fixed_data_order(session))
    every = config["checkpoint"]["every_n_epochs"]
    logs: dict[str, float] = {}
    callbacks.on_train_begin()
    with stop_on_signals(state, echo):
        while state.epoch < epochs and not session.gan.stop_training:
            callbacks.on_epoch_begin(state.epoch)
            logs = train_epoch(session, images, state, callbacks)
            callbacks.on_epoch_end(state.epoch, logs)
            fault_point("epoch-end")
            stop = agree_to_stop(session, state)
            state.next_epoch()
            if state.epoch % every == 0 or state.epoch == epochs or stop:
                save_checkpoint(session, state)
            if stop and state.epoch < epochs:
                raise StopRequested(state.epoch, 0)
    callbacks.on_train_end(logs)
    if writer is not None:
        writer.close()
    return logs


def agree_to_stop(session: Session, state: LoopState) -> bool:
    """Whether to stop after this epoch, the same answer on every worker.

    A callback (on the chief) may set ``stop_training``, and a signal may
    have reached any worker: all of them stop if one of them wants to.
    """
    stop_training, stop_requested = session.cluster.any_of(
        [session.gan.stop_training, state.stop_requested])
    session.gan.stop_training = stop_training
    state.stop_requested = state.stop_requested or stop_requested
    return stop_requested


def run_experiment(experiment: Experiment, registry: Registry, provenance: dict[str, Any],
                   echo: Echo = print, branch: BranchSource | None = None) -> RunResult:
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
            return _run_locked(experiment, registry, provenance, echo, bool(resuming), cluster)
        finally:
            keras.mixed_precision.set_global_policy("float32")


def claim_run_dir(stack: ExitStack, run_dir: RunDirectory, experiment: Experiment,
                  branch: BranchSource | None, echo: Echo) -> bool:
    """Lock ``run_dir`` (held until ``stack`` closes) and make it ready; whether it resumes."""
    lock = stack.enter_context(locked(run_dir))
    if lock.stale_taken_over:
        echo(f"Note: took over the stale lock of process {lock.stale_taken_over.get('pid')} "
             f"on {lock.stale_taken_over.get('host')}, which is no longer running "
             "(killed or crashed).")
    run_dir.remove_temporaries()
    if branch is not None:
        start_branch(branch, run_dir, experiment, echo)
    resuming = check_resumable(run_dir, experiment)
    repair_metadata(run_dir, echo)
    return resuming


def repair_metadata(run_dir: RunDirectory, echo: Echo) -> None:
    """Replace a damaged ``run.json`` (ganlab rewrites its content on every run)."""
    try:
        run_dir.read_metadata()
    except RunDirectoryError as exc:
        damaged = run_dir.metadata.with_name(run_dir.metadata.name + ".damaged")
        os.replace(run_dir.metadata, damaged)
        echo(f"warning: {exc} It was moved aside to {damaged.name} and will be written anew.")


def mark_run(session: Session, status: str, epochs_completed: int) -> None:
    """Record the run's status in ``run.json`` (the chief's job in a cluster)."""
    if session.cluster.is_chief:
        session.run_dir.update_metadata(status=status, epochs_completed=epochs_completed)


def _run_locked(experiment: Experiment, registry: Registry, provenance: dict[str, Any],
                echo: Echo, resuming: bool, cluster: Cluster) -> RunResult:
    session = build_session(experiment, registry, echo, cluster)
    state, restored = restore_checkpoint(session, echo)
    check_experiment(experiment, registry, session.dataset, session.gan.generator,
                     session.gan.discriminator, session.trainer.loss, session.trainer.latent_dim,
                     losses=session.strategy.num_replicas_in_sync == 1)
    if resuming and restored is None:
        echo(f"{session.run_dir.root} holds no checkpoint yet: starting from epoch 1.")
    if cluster.is_chief:
        write_run_files(session, provenance)
    epochs = experiment.config["train"]["epochs"]
    if state.epoch >= epochs:
        echo(f"The run already completed {state.epoch} of {epochs} epochs; nothing to train. "
             "Raise train.epochs (--set train.epochs=N) to continue it.")
    plugin_callbacks = build_callbacks(experiment, registry)
    metrics = build_metrics(experiment, registry)
    try:
        logs = train(session, state, plugin_callbacks, echo, metrics)
    except StopRequested:
        raise interrupted(session, state) from None
    except NonFiniteLoss as exc:
        mark_run(session, "failed", state.epoch)
        raise TrainingError(non_finite_message(exc, session)) from None
    except PoisonedWeights as exc:
        mark_run(session, "failed", state.epoch)
        raise TrainingError(poisoned_message(exc, session)) from None
    except GanlabError:
        raise
    except tf.errors.UnavailableError as exc:
        if not cluster.distributed:
            raise
        raise TrainingError(lost_worker_message(cluster, exc)) from None
    except Exception as exc:
        failure = plugin_failure(exc, session, registry, plugin_callbacks, state)
        if failure is None:
            raise
        mark_run(session, "failed", state.epoch)
        raise failure from exc
    if not cluster.is_chief:
        echo(f"Done: {state.epoch} epochs as {cluster.label()}; the chief wrote the run "
             f"directory {session.run_dir.root}.")
        return RunResult(session.run_dir.root, state.epoch, restored, logs)
    export_generator(session)
    mark_run(session, "completed", state.epoch)
    echo(f"Done: {state.epoch} epochs in {session.run_dir.root}; generator exported to "
         f"{session.run_dir.generator}.")
    return RunResult(session.run_dir.root, state.epoch, restored, logs)


def interrupted(session: Session, state: LoopState) -> GanlabError:
    """Save the state at the step boundary reached and say how to resume."""
    checkpoint = CheckpointId(state.epoch, state.step_in_epoch)
    if session.last_saved != checkpoint:
        try:
            save_checkpoint(session, state)
        except PoisonedWeights as exc:
            mark_run(session, "failed", state.epoch)
            return TrainingError(poisoned_message(exc, session))
    mark_run(session, "interrupted", state.epoch)
    command = "ganlab run " + " ".join(resume_arguments(session.experiment))
    return TrainingInterrupted(
        f"Training stopped at the {checkpoint.describe()} (global step {state.global_step}); "
        f"checkpoint saved to {session.store.path(checkpoint)}. To resume, run the same "
        f"command again: {command}")
