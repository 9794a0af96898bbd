"""Getting a generator (and its latent space) back out of a run directory.

Tools that work on a finished or running run — ``ganlab arithmetic``,
``ganlab interpolate``, notebooks — need the generator of a chosen moment of
training and the run's latent prior. Two sources exist:

- ``generator.keras``, exported when training completes;
- the checkpoints, written during training (``checkpoints/ckpt-e0003-s000000.npz``):
  they hold weights only, so the generator is rebuilt from the run's saved
  ``config.yaml`` through the plugin registry and the weights assigned to it.

Nothing here writes to the run directory.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.errors import GanlabError, RunDirectoryError
from ganlab.generators import EMA, GENERATOR_KINDS, RAW
from ganlab.rundir import RunDirectory


@dataclass(frozen=True)
class RunInfo:
    """What a run directory says about its latent space.

    Attributes:
        root: The run directory.
        latent_dim: Length of the generator's latent input.
        latent_distribution: ``"normal"`` or ``"uniform"``: the prior.
        image_shape: ``(h, w, c)`` of the generated images.
        latent_bank: The fixed, numbered latents (``(n, latent_dim)`` float32).
        seed: The experiment's seed.
        num_classes: Classes of a class-conditional generator (the latent's
            last entries name one); ``0`` when it is unconditional.
        class_names: The name of each class (``"0" .. "K-1"`` for runs that
            did not record names).

    """

    root: Path
    latent_dim: int
    latent_distribution: str
    image_shape: tuple[int, int, int]
    latent_bank: np.ndarray
    seed: int = 0
    num_classes: int = 0
    class_names: tuple[str, ...] = ()


@dataclass(frozen=True)
class RestoredGenerator:
    """A generator and where it came from.

    Attributes:
        generator: The ``keras.Model`` (latents → images in [-1, 1]).
        source: The file its weights were read from.
        description: Human words for messages, e.g. ``the checkpoint at the
            end of epoch 3``.
        epoch: Completed epochs it reflects (``None`` for ``generator.keras``
            when ``run.json`` does not say).
        warnings: Damaged checkpoints skipped to find the latest good one.
        kind: ``"ema"`` (the EMA generator of ``train.ema``) or ``"raw"`` (the
            trained generator).

    """

    generator: Any
    source: Path
    description: str
    epoch: int | None
    warnings: tuple[str, ...] = ()
    kind: str = "raw"


def read_run_info(run_dir: str | Path) -> RunInfo:
    """The latent size, prior, image shape and latent bank of a run.

    Raises:
        RunDirectoryError: ``run_dir`` is not a run directory, or its
            ``run.json`` / ``latents.npy`` are missing or inconsistent.

    """
    directory = _open_run(run_dir)
    metadata = directory.read_metadata()
    missing = [key for key in ("latent_dim", "latent_distribution", "image_shape")
               if key not in metadata]
    if missing:
        raise RunDirectoryError(f"{directory.metadata} lacks {', '.join(missing)}: it was not "
                                "written by this version of ganlab, or is damaged.")
    latent_dim = int(metadata["latent_dim"])
    # Runs of ganlab before class-conditional GANs did not record classes, nor older ones names.
    num_classes = int(metadata.get("num_classes", 0))
    names = metadata.get("class_names") or [str(k) for k in range(num_classes)]
    if not directory.latent_bank.exists():
        raise RunDirectoryError(f"{directory.root} has no latent bank "
                                f"({directory.latent_bank.name}).")
    try:
        bank = np.load(directory.latent_bank, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise RunDirectoryError(f"Cannot read {directory.latent_bank}: {exc}.") from None
    if bank.ndim != 2 or bank.shape[1] != latent_dim:
        raise RunDirectoryError(f"{directory.latent_bank} holds latents of shape {bank.shape}, "
                                f"not (n, {latent_dim}) as run.json says.")
    return RunInfo(root=directory.root, latent_dim=latent_dim,
                   latent_distribution=str(metadata["latent_distribution"]),
                   image_shape=tuple(int(v) for v in metadata["image_shape"]),
                   latent_bank=bank.astype(np.float32),
                   seed=int((directory.read_config() or {}).get("seed", 0)),
                   num_classes=num_classes, class_names=tuple(str(n) for n in names))


def available_epochs(run_dir: str | Path) -> list[int]:
    """Epochs that have an end-of-epoch checkpoint in the run, oldest first."""
    from ganlab.engine.checkpoint import CheckpointStore

    store = CheckpointStore(RunDirectory(Path(run_dir)).checkpoints)
    return [c.epoch for c in store.list() if c.step == 0]


def load_generator(run_dir: str | Path, checkpoint: int | Any | None = None,
                   registry: Any | None = None, generator: str | None = None) -> Any:
    """The generator of a run, from its export or from one of its checkpoints.

    Args:
        run_dir: The run directory.
        checkpoint: ``None``: ``generator.keras`` when the run has exported
            one, else the latest checkpoint. An ``int`` ``N``: the checkpoint
            written at the end of epoch ``N``. A
            :class:`ganlab.engine.checkpoint.CheckpointId`: that checkpoint.
            ``"latest"``: the newest checkpoint, even when an export exists.
        registry: The plugin registry to rebuild the architecture with
            (checkpoints only); ``None`` loads the plugins the run's config
            lists plus the installed ones.
        generator: ``"ema"``: the EMA generator of a run trained with
            ``train.ema`` (``generator_ema.keras``, or the checkpoint's);
            ``"raw"``: the trained generator; ``None``: the EMA generator
            when the run has one, else the trained one.

    Returns:
        A ``keras.Model`` mapping ``(batch, latent_dim)`` latents to images.

    Raises:
        RunDirectoryError: No such run, no such checkpoint (the message lists
            the epochs available), weights that no longer fit the
            architecture, or ``"ema"`` asked of a run without an EMA generator.

    """
    return restore_generator(run_dir, checkpoint, registry, generator).generator


def restore_generator(run_dir: str | Path, checkpoint: int | Any | None = None,
                      registry: Any | None = None, generator: str | None = None,
                      ) -> RestoredGenerator:
    """Like :func:`load_generator`, also saying where the weights came from and which it is.

    Every command that draws images (``sample``, ``evaluate``, ``arithmetic``,
    ``interpolate``) gets its generator here, so ``--generator ema|raw``
    means the same everywhere.
    """
    if generator not in (None, *GENERATOR_KINDS):
        raise ValueError(f"generator must be None, 'ema' or 'raw', got {generator!r}")
    directory = _open_run(run_dir)
    if checkpoint is None and directory.generator.exists() \
            and not _ema_export_missing(directory, generator):
        return _exported(directory, generator)
    return _from_checkpoint(directory, checkpoint, registry, generator)


def _ema_export_missing(directory: RunDirectory, wanted: str | None) -> bool:
    """Whether the EMA generator is wanted from a run that has one but did not export it.

    (Its export failed after ``generator.keras``'s, say on a full disk.) The
    latest checkpoint holds it then.
    """
    return (wanted != RAW and not directory.generator_ema.exists()
            and bool(directory.read_metadata().get("generator_ema")))


# -- helpers ---------------------------------------------------------------------------------
def _open_run(run_dir: str | Path) -> RunDirectory:
    directory = RunDirectory(Path(run_dir))
    if not directory.root.is_dir():
        raise RunDirectoryError(f"Run directory {directory.root} does not exist.")
    if not directory.metadata.exists() or not directory.config.exists():
        raise RunDirectoryError(f"{directory.root} is not a ganlab run directory (no run.json "
                                "or config.yaml): give the folder 'ganlab run' trained into, "
                                "e.g. runs/<experiment name>.")
    return directory


def load_exported_generator(run_dir: Path, path: Path | None = None,
                            ) -> tuple[Any, dict[str, Any]]:
    """An exported generator of a run and its ``run.json`` metadata.

    Args:
        run_dir: The run directory.
        path: The export (default: ``generator.keras``; ``generator_ema.keras``
            is the EMA generator's).

    Raises:
        RunDirectoryError: Not a run directory, or no exported generator yet.
    """
    directory = RunDirectory(run_dir)
    path = path or directory.generator
    metadata = directory.read_metadata()
    if not metadata:
        raise RunDirectoryError(f"{run_dir} is not a ganlab run directory (no run.json).")
    if not path.exists():
        raise RunDirectoryError(
            f"{run_dir} has no exported generator ({path.name} is written when "
            "training completes). Finish the run with 'ganlab run' first, or pick a "
            "checkpoint with --epoch N.")
    _check_keras_archive(path)
    import keras

    from ganlab.saved_objects import import_saved_object_modules

    import_saved_object_modules(path)  # plugin layers (spectral norm, ...) must be registered
    try:
        generator = keras.saving.load_model(path, compile=False)
    except Exception as exc:  # noqa: BLE001 - Keras raises many kinds on a damaged file
        raise RunDirectoryError(
            f"Cannot load {path} ({type(exc).__name__}: {exc}). The exported "
            "generator is damaged or was not written by ganlab: delete it and pick a "
            "checkpoint with --epoch N, or run 'ganlab run' again to export it.") from None
    _check_generator_shapes(generator, path, metadata)
    return generator, metadata


def _check_keras_archive(path: Path) -> None:
    """Refuse a ``generator.keras`` that is not a Keras archive before Keras reads it.

    Raises:
        RunDirectoryError: Not a zip file, or no ``config.json`` in it.

    """
    damaged = (f"{path} is not a Keras model archive (a .keras file is a zip holding "
               "config.json and the weights)")
    try:
        if not zipfile.is_zipfile(path):
            raise RunDirectoryError(f"{damaged}: it is not a zip file. Delete it and pick a "
                                    "checkpoint with --epoch N, or run 'ganlab run' again to "
                                    "export it.")
        with zipfile.ZipFile(path) as archive:
            names = set(archive.namelist())
    except (OSError, zipfile.BadZipFile) as exc:
        raise RunDirectoryError(f"Cannot read {path}: {exc}.") from None
    if "config.json" not in names:
        raise RunDirectoryError(f"{damaged}: it has no config.json. Delete it and pick a "
                                "checkpoint with --epoch N, or run 'ganlab run' again.")


def _check_generator_shapes(generator: Any, path: Path, metadata: dict[str, Any]) -> None:
    """The exported model must map ``(n, latent_dim)`` to ``(n, *image_shape)`` as run.json says.

    Raises:
        RunDirectoryError: It takes or gives other shapes.

    """
    if "latent_dim" not in metadata or "image_shape" not in metadata:
        return  # nothing to compare against
    try:
        inputs = tuple(generator.inputs[0].shape) if len(generator.inputs) == 1 else None
        outputs = tuple(generator.outputs[0].shape) if len(generator.outputs) == 1 else None
    except (AttributeError, TypeError, IndexError):
        inputs = outputs = None
    wanted_in = (None, metadata.get("latent_dim"))
    wanted_out = (None, *metadata.get("image_shape", ()))
    if inputs != wanted_in or outputs != wanted_out:
        raise RunDirectoryError(
            f"{path} maps {inputs} to {outputs}, but run.json says the generator maps latents "
            f"of size {metadata.get('latent_dim')} to images of shape "
            f"{tuple(metadata.get('image_shape', ()))}: the export is not this run's "
            "generator. Delete it and pick a checkpoint with --epoch N, or run 'ganlab run' "
            "again to export it.")


def _exported(directory: RunDirectory, wanted: str | None) -> RestoredGenerator:
    ema = directory.generator_ema.exists()
    if wanted == EMA and not ema:
        raise RunDirectoryError(_no_ema_message(directory, directory.generator_ema.name))
    kind = EMA if ema and wanted != RAW else RAW
    path = directory.generator_ema if kind == EMA else directory.generator
    generator, metadata = load_exported_generator(directory.root, path)
    epochs = metadata.get("epochs_completed")
    what = "EMA generator" if kind == EMA else "generator"
    return RestoredGenerator(generator, path, f"the exported {what} ({path.name})",
                             int(epochs) if epochs is not None else None, kind=kind)


def _no_ema_message(directory: RunDirectory, where: str) -> str:
    return (f"{directory.root} has no EMA generator ({where} lacks one: the run was trained "
            "without train.ema). Use --generator raw (the trained generator), or train with "
            "train.ema: {decay: 0.999} to keep one.")


def _open_checkpoint(directory: RunDirectory, checkpoint: int | Any | None,
                     ) -> tuple[Any, dict[str, np.ndarray], list[str]]:
    """The chosen checkpoint's id, arrays, and problems met on the way (damaged files)."""
    from ganlab.engine.checkpoint import CheckpointId, CheckpointStore

    store = CheckpointStore(directory.checkpoints)
    present = store.list()
    if not present:
        raise RunDirectoryError(f"{directory.root} has no checkpoints and no exported "
                                "generator yet: train it with 'ganlab run' first.")
    if checkpoint is None or checkpoint == "latest":
        # Fall back past damaged files as resume does, but never move them
        # aside: reading a run must not change it.
        found = store.load_latest_good(quarantine=False)
        if found is None:
            raise RunDirectoryError(f"{directory.root} has no readable checkpoint.")
        chosen, arrays, _, problems = found
        return chosen, arrays, problems
    if isinstance(checkpoint, bool) or not isinstance(checkpoint, int | CheckpointId):
        raise TypeError(f"checkpoint must be None, 'latest', an epoch number or a "
                        f"CheckpointId, got {checkpoint!r}")
    wanted = checkpoint if isinstance(checkpoint, CheckpointId) else CheckpointId(checkpoint, 0)
    if wanted not in present:
        raise RunDirectoryError(_missing_checkpoint_message(directory, wanted, present))
    return wanted, store.open(wanted)[0], []


def _missing_checkpoint_message(directory: RunDirectory, wanted: Any, present: list[Any]) -> str:
    epochs = [str(c.epoch) for c in present if c.step == 0]
    partial = [c.describe() for c in present if c.step != 0]
    message = f"{directory.root} has no checkpoint for the {wanted.describe()}. "
    message += (f"End-of-epoch checkpoints available: epoch {', '.join(epochs)}."
                if epochs else "It has no end-of-epoch checkpoint.")
    if partial:
        message += f" Mid-epoch: {'; '.join(partial)}."
    if wanted > present[-1]:
        return message + f" The run has not trained that far (latest: {present[-1].describe()})."
    return message + (" Older ones were pruned by the keep policy: set "
                      "checkpoint.keep_every_n_epochs (or keep_last) to keep more in "
                      "future runs.")


def _from_checkpoint(directory: RunDirectory, checkpoint: int | Any | None,
                     registry: Any | None, wanted: str | None) -> RestoredGenerator:
    from ganlab.engine.checkpoint import EMA_PREFIX, CheckpointStore, assign_variables, has_ema

    chosen, arrays, problems = _open_checkpoint(directory, checkpoint)
    source = CheckpointStore(directory.checkpoints).path(chosen)
    if wanted == EMA and not has_ema(arrays):
        raise RunDirectoryError(_no_ema_message(directory, source.name))
    kind = EMA if has_ema(arrays) and wanted != RAW else RAW
    generator = _rebuild_generator(directory, registry)
    assign_variables(EMA_PREFIX if kind == EMA else "generator", generator.weights, arrays,
                     source)
    what = "the EMA generator of " if kind == EMA else ""
    return RestoredGenerator(generator, source,
                             f"{what}the checkpoint at the {chosen.describe()}",
                             chosen.epoch, tuple(problems), kind=kind)


def _rebuild_generator(directory: RunDirectory, registry: Any | None) -> Any:
    """A freshly built generator of the run's architecture (weights still random)."""
    from ganlab.components import build_architectures
    from ganlab.experiment import experiment_from_data

    config = directory.read_config()
    try:
        experiment = experiment_from_data(config, path=directory.config)
    except GanlabError as exc:
        raise RunDirectoryError(f"The saved config of {directory.root} no longer validates, so "
                                f"its generator cannot be rebuilt: {exc}") from None
    if registry is None:
        from ganlab.plugins import load_plugins

        registry = load_plugins(experiment.settings.plugins,
                                base_dir=_plugin_base_dir(directory, experiment.config)).registry
    image_shape = tuple(int(v) for v in directory.read_metadata()["image_shape"])
    g_arch, _ = build_architectures(experiment, registry, image_shape)
    # Inference only: build under float32 whatever precision the run trained
    # with (mixed-precision variables are float32 anyway, so the weights fit).
    import keras

    policy = keras.mixed_precision.global_policy().name
    keras.mixed_precision.set_global_policy("float32")
    try:
        return g_arch.build_generator()
    finally:
        keras.mixed_precision.set_global_policy(policy)


def _plugin_base_dir(directory: RunDirectory, config: dict[str, Any]) -> Path:
    """Where the run's relative local plugin paths are relative to.

    They were relative to the experiment file's folder, which ``run.json``
    records (the current folder when it does not say).
    """
    recorded = directory.read_metadata().get("experiment_dir")
    return Path(recorded) if recorded else Path.cwd()
