"""Drawing images from a run's exported generator (``ganlab sample``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from ganlab.errors import RunDirectoryError
from ganlab.images import label_cells, save_png, tile, to_pil
from ganlab.latents import sample_latents
from ganlab.rundir import RunDirectory


def load_exported_generator(run_dir: Path) -> tuple[Any, dict[str, Any]]:
    """The ``generator.keras`` of a run and its ``run.json`` metadata.

    Raises:
        RunDirectoryError: Not a run directory, or no exported generator yet.

    """
    directory = RunDirectory(run_dir)
    metadata = directory.read_metadata()
    if not metadata:
        raise RunDirectoryError(f"{run_dir} is not a ganlab run directory (no run.json).")
    if not directory.generator.exists():
        raise RunDirectoryError(
            f"{run_dir} has no exported generator ({directory.generator.name} is written when "
            "training completes). Finish the run with 'ganlab run' first.")
    import keras

    try:
        generator = keras.saving.load_model(directory.generator, compile=False)
    except (OSError, ValueError) as exc:
        raise RunDirectoryError(f"Cannot load {directory.generator}: {exc}.") from None
    return generator, metadata


def bank_latents(run_dir: Path, count: int) -> np.ndarray:
    """The first ``count`` latents of the run's numbered bank."""
    directory = RunDirectory(run_dir)
    if not directory.latent_bank.exists():
        raise RunDirectoryError(f"{run_dir} has no latent bank ({directory.latent_bank.name}).")
    bank = np.load(directory.latent_bank, allow_pickle=False)
    if count > len(bank):
        raise RunDirectoryError(
            f"The run's latent bank holds {len(bank)} latents; asked for {count}. Use "
            "--seed S to draw fresh latents instead, or a larger latents.bank_size.")
    return bank[:count]


def generate(generator: Any, latents: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Images in [-1, 1] for ``latents``, in batches."""
    outputs = [np.asarray(generator(latents[i:i + batch_size], training=False))
               for i in range(0, len(latents), batch_size)]
    return np.concatenate(outputs).astype(np.float32)


def draw_grid(run_dir: Path, *, num: int, out: Path, seed: int | None = None,
              rows: int | None = None, numbered: bool = False) -> Path:
    """Write a grid of ``num`` generated images to ``out``.

    Args:
        run_dir: The run directory.
        num: Number of images.
        out: Output PNG path.
        seed: Fresh latents from this seed; the numbered bank when ``None``.
        rows: Grid rows (near-square when ``None``).
        numbered: Label each cell with its bank index (bank latents only).

    """
    generator, metadata = load_exported_generator(run_dir)
    if seed is None:
        latents = bank_latents(run_dir, num)
    else:
        latents = sample_latents(num, metadata["latent_dim"], metadata["latent_distribution"],
                                 seed)
    images = generate(generator, latents)
    rows = rows or max(1, int(math.floor(math.sqrt(num))))
    grid = tile(images, rows=rows)
    if not numbered:
        return save_png(grid, out)
    cols = math.ceil(num / rows)
    labels = [str(i) if seed is None else f"s{i}" for i in range(num)]
    picture = label_cells(to_pil(grid), labels, images.shape[1:3], cols)
    return save_png(picture, out)
