"""Drawing images from a run's generator (``ganlab sample``)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ganlab.contracts import class_index
from ganlab.errors import RunDirectoryError
from ganlab.images import label_cells, save_png, tile, to_pil
from ganlab.latents import check_truncation, sample_latents, truncate, with_class


def generate(generator: Any, latents: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Images in [-1, 1] for ``latents``, in batches."""
    outputs = [np.asarray(generator(latents[i:i + batch_size], training=False))
               for i in range(0, len(latents), batch_size)]
    return np.concatenate(outputs).astype(np.float32)


def choose_latents(bank: np.ndarray, num: int, seed: int | None, latent_dim: int,
                   distribution: str) -> tuple[np.ndarray, list[str]]:
    """Latents for a grid and the exemplar name of each cell.

    From the bank, cell ``i`` is bank entry ``i`` (label ``"i"``). With a seed
    ``S``, cell ``i`` is drawn from seed ``S + i`` (label ``"sS+i"``), so every
    label is a valid exemplar for ``ganlab arithmetic``/``interpolate``.
    """
    if seed is None:
        if num > len(bank):
            raise RunDirectoryError(
                f"The run's latent bank holds {len(bank)} latents; asked for {num}. Use "
                "--seed S to draw fresh latents instead, or a larger latents.bank_size.")
        return bank[:num], [str(i) for i in range(num)]
    latents = np.concatenate([sample_latents(1, latent_dim, distribution, seed + i)
                              for i in range(num)])
    return latents, [f"s{seed + i}" for i in range(num)]


def truncate_chosen(latents: np.ndarray, threshold: float, seed: int | None, run_seed: int,
                    num_classes: int = 0) -> np.ndarray:
    """:func:`choose_latents`' latents truncated, each as its exemplar name says.

    Bank entry ``i`` is truncated with the run's seed as row ``i``; the latent
    of seed ``S`` with seed ``S`` as row 0. So cell ``i`` is the same latent
    as exemplar ``i`` (or ``sS``) truncated by ``ganlab arithmetic`` and
    ``interpolate``.
    """
    if seed is None:
        return truncate(latents, threshold, run_seed, num_classes)
    return np.concatenate([truncate(latents[i:i + 1], threshold, seed + i, num_classes)
                           for i in range(len(latents))])


def draw_grid(run_dir: Path, *, num: int, out: Path, seed: int | None = None,
              rows: int | None = None, numbered: bool = False, epoch: int | None = None,
              label: int | str | None = None, generator: str | None = None,
              truncation: float | None = None) -> tuple[Path, Any]:
    """Write a grid of ``num`` generated images to ``out``; the path and the generator used.

    Args:
        run_dir: The run directory.
        num: Number of images.
        out: Output PNG path.
        seed: Fresh latents from seeds ``seed, seed+1, ...``; the bank when ``None``.
        rows: Grid rows (near-square when ``None``).
        numbered: Label each cell with its exemplar name (bank index or ``sN``).
        epoch: Use the checkpoint at the end of this epoch instead of the
            exported generator (works while a run is still training).
        label: Draw every cell as this class (a class-conditional run only),
            by name (``"cat"``) or index (``3``): the same latents, their
            class entries set to it.
        generator: ``"ema"`` or ``"raw"``; ``None``: the EMA generator when
            the run has one (see :func:`ganlab.restore.restore_generator`).
        truncation: Truncate the (normal) latents at this threshold
            (:func:`truncate_chosen`).

    Returns:
        The PNG's path and the :class:`ganlab.restore.RestoredGenerator` that
        drew it (which generator, from which file).

    Raises:
        RunDirectoryError: ``label`` is given for an unconditional run, or is
            not one of its classes.
    """
    from ganlab.restore import read_run_info, restore_generator

    info = read_run_info(run_dir)
    latents, labels = choose_latents(info.latent_bank, num, seed, info.latent_dim,
                                     info.latent_distribution)
    if truncation is not None:
        try:
            check_truncation(info.latent_distribution, truncation)
        except ValueError as exc:
            raise RunDirectoryError(f"Cannot truncate the latents of {run_dir}: {exc}.") from None
        latents = truncate_chosen(latents, truncation, seed, info.seed, info.num_classes)
    if label is not None:
        try:
            index = class_index(info.class_names, label)
            latents = with_class(latents, info.num_classes, index)
        except ValueError as exc:
            raise RunDirectoryError(f"Cannot draw class '{label}' from {run_dir}: {exc}.") from None
    restored = restore_generator(run_dir, checkpoint=epoch, generator=generator)
    images = generate(restored.generator, latents)
    rows = rows or max(1, int(math.floor(math.sqrt(num))))
    grid = tile(images, rows=rows)
    if not numbered:
        return save_png(grid, out), restored
    # Labels would hide most of a small cell: enlarge the grid first.
    scale = max(1, math.ceil(64 / images.shape[1]))
    picture = to_pil(grid)
    picture = picture.resize((picture.width * scale, picture.height * scale), Image.NEAREST)
    cell = (images.shape[1] * scale, images.shape[2] * scale)
    picture = label_cells(picture, labels, cell, math.ceil(num / rows), padding=2 * scale)
    return save_png(picture, out), restored
