"""Training speed: ganlab against the Keras-guide GAN, a bare loop and the machine's peak.

One command, a table on screen and JSON on disk
(``benchmarks/results/bench_train.json``). The workload is the quickstart's:
DCGAN at 32×32, 32 base filters, batch 64, the 5,000 embedded MNIST digits
(``partition: all``, 78 steps per epoch on every side), Adam(2e-4, beta_1
0.5), non-saturating BCE. Every figure is an epoch time after a warm-up
epoch; the sides of a comparison run in turn (the order reversed every
round), so that a machine shared with other jobs slows both alike, and are
reported as ratios.

Sections:

1-2. ``--mode process`` (the default): every side in its own process, as a
   user runs it: ``ganlab run EXPERIMENT.yaml`` (the real CLI; defaults, each
   K of ``--ks`` but 1, XLA), the Keras DCGAN guide's GAN (a ``keras.Model`` subclass overriding
   ``train_step``, trained with ``fit``, same architecture, data, batch and
   optimizer) as the guide writes it (``prefetch(AUTOTUNE)``), without tf.data's
   autotuner (``prefetch(4)``, stall-free) and with XLA, and ganlab's step in a
   bare ``tf.function`` loop. ``--mode inprocess``: the same comparisons with
   every side in this one process (1: ganlab vs the reference, XLA off and on;
   2: ganlab vs the bare loop and ``train.steps_per_execution`` values).
3. the step's FLOP/s (counted from the layer shapes) over the machine's
   measured float32 matmul FLOP/s;
4. ``mixed_float16`` / ``mixed_bfloat16`` where the hardware has them;
5. with a GPU: a CelebA-64-sized run (64 base filters, batch 256) through the
   real TFRecord reader, and whether the reader keeps up. Skipped (and said
   so) without one.

Usage::

    .venv/bin/python benchmarks/bench_train.py [--rounds 2] [--epochs 3] [--mode process|inprocess]
        [--sections 1,2,3,4,5] [--ks 1,8]

``--ks``: the ``train.steps_per_execution`` values measured (in process mode,
every one but 1 is a ganlab side of its own, beside the defaults).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import harness  # noqa: E402
import numpy as np  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
BATCH, FILTERS, LATENT, SIZE = 64, 32, 100, 32
LEARNING_RATE, BETA_1 = 2e-4, 0.5


# -- the workload ---------------------------------------------------------------------------------
def experiment_data(work: Path, name: str, **train: Any) -> dict[str, Any]:
    """The quickstart-like experiment (no callbacks: only training is timed)."""
    return {
        "name": name, "seed": 2015, "run_dir": str(work / "runs" / name),
        # partition all: the 5,000 digits the reference trains on (78 steps of 64), not the
        # 4,000 of the sample's train split.
        "dataset": {"name": "mnist", "params": {"source": "embedded", "image_size": SIZE,
                                                "partition": "all",
                                                "tfrecords": str(work / "tfrecords")}},
        "architecture": {"name": "dcgan", "params": {"latent_dim": LATENT,
                                                     "base_filters": FILTERS,
                                                     "kernel_size": 4}},
        "loss": {"name": "bce"},
        "optimizers": {"generator": {"learning_rate": LEARNING_RATE, "beta_1": BETA_1},
                       "discriminator": {"learning_rate": LEARNING_RATE, "beta_1": BETA_1}},
        "train": {"epochs": 3, "batch_size": BATCH, "verbose": 0, **train},
        "latents": {"bank_size": 16},
    }


#: The benchmarks' plugin: the ``epoch_clock`` callback (epoch wall and CPU seconds).
CLOCK_PLUGIN = Path(__file__).resolve().parent / "epoch_clock.py"


def load(data: dict[str, Any]) -> tuple[Any, Any]:
    """The validated experiment and the plugin registry (with ``epoch_clock``)."""
    from ganlab.experiment import experiment_from_data
    from ganlab.plugins import load_plugins

    registry = load_plugins([str(CLOCK_PLUGIN)]).registry
    return experiment_from_data(data), registry


def ganlab_epochs(work: Path, name: str, epochs: int, **train: Any) -> dict[str, list[float]]:
    """Epoch seconds of a real ``ganlab run`` in this process.

    ``wall``: what history.csv reports; ``cpu``: this process's CPU seconds
    per epoch (the ``epoch_clock`` callback).
    """
    import csv

    from ganlab.engine.runner import run_experiment

    data = experiment_data(work, name, epochs=epochs, **train)
    clock = work / f"{name}.clock.json"
    data["callbacks"] = [{"name": "epoch_clock", "params": {"path": str(clock)}}]
    experiment, registry = load(data)
    run_experiment(experiment, registry, {}, echo=lambda message: None)
    with open(Path(data["run_dir"]) / "history.csv", newline="") as stream:
        wall = [float(row["seconds"]) for row in csv.DictReader(stream)]
    return {"wall": wall, "cpu": json.loads(clock.read_text())["cpu"]}


def models(work: Path) -> tuple[Any, Any]:
    """A fresh generator and discriminator of the workload."""
    from ganlab.components import build_dataset
    from ganlab.engine.build import build_models

    experiment, registry = load(experiment_data(work, "models"))
    networks = build_models(experiment, registry, build_dataset(experiment, registry))
    return networks.generator, networks.discriminator


def digits(work: Path) -> np.ndarray:
    """The 5,000 training images in [-1, 1], read back from the prepared TFRecords."""
    from ganlab.data.reader import read_tfrecords

    return np.stack([image.numpy() for image in read_tfrecords(work / "tfrecords",
                                                               deterministic=True)])


# -- the reference: the Keras DCGAN guide --------------------------------------------------
def reference_epochs(work: Path, images: np.ndarray, epochs: int, jit_compile: bool,
                     prefetch: int | None = None, clocks: dict[str, list[float]] | None = None
                     ) -> list[float]:
    """Epoch seconds of the Keras-guide GAN (``train_step`` + ``fit``).

    ``clocks``, when given, receives ``wall`` and ``cpu`` (process CPU) seconds per epoch.

    ``prefetch`` ``None`` is the guide's ``prefetch(tf.data.AUTOTUNE)``; a number
    turns tf.data's autotuner off and prefetches that many batches (the
    stall-free variant, as ganlab's own pipeline does).
    """
    import keras
    import tensorflow as tf

    class GuideGAN(keras.Model):
        def __init__(self, discriminator: Any, generator: Any, latent_dim: int):
            super().__init__()
            self.discriminator, self.generator, self.latent_dim = (discriminator, generator,
                                                                   latent_dim)
            self.seed_generator = keras.random.SeedGenerator(1337)

        def compile(self, d_optimizer: Any, g_optimizer: Any, loss_fn: Any, **kwargs: Any):
            super().compile(**kwargs)
            self.d_optimizer, self.g_optimizer, self.loss_fn = d_optimizer, g_optimizer, loss_fn
            self.d_loss_metric = keras.metrics.Mean(name="d_loss")
            self.g_loss_metric = keras.metrics.Mean(name="g_loss")

        @property
        def metrics(self) -> list[Any]:
            return [self.d_loss_metric, self.g_loss_metric]

        def train_step(self, real_images: Any) -> dict[str, Any]:
            batch_size = tf.shape(real_images)[0]
            z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
            generated = self.generator(z, training=True)
            combined = tf.concat([generated, real_images], axis=0)
            labels = tf.concat([tf.zeros((batch_size, 1)), tf.ones((batch_size, 1))], axis=0)
            with tf.GradientTape() as tape:
                d_loss = self.loss_fn(labels, self.discriminator(combined, training=True))
            grads = tape.gradient(d_loss, self.discriminator.trainable_weights)
            self.d_optimizer.apply_gradients(zip(grads, self.discriminator.trainable_weights,
                                                 strict=True))
            z = keras.random.normal((batch_size, self.latent_dim), seed=self.seed_generator)
            misleading = tf.ones((batch_size, 1))
            with tf.GradientTape() as tape:
                predictions = self.discriminator(self.generator(z, training=True),
                                                 training=True)
                g_loss = self.loss_fn(misleading, predictions)
            grads = tape.gradient(g_loss, self.generator.trainable_weights)
            self.g_optimizer.apply_gradients(zip(grads, self.generator.trainable_weights,
                                                 strict=True))
            self.d_loss_metric.update_state(d_loss)
            self.g_loss_metric.update_state(g_loss)
            return {"d_loss": self.d_loss_metric.result(), "g_loss": self.g_loss_metric.result()}

    generator, discriminator = models(work)
    gan = GuideGAN(discriminator, generator, LATENT)
    gan.compile(d_optimizer=keras.optimizers.Adam(LEARNING_RATE, beta_1=BETA_1),
                g_optimizer=keras.optimizers.Adam(LEARNING_RATE, beta_1=BETA_1),
                loss_fn=keras.losses.BinaryCrossentropy(from_logits=True),
                jit_compile=jit_compile)
    dataset = (tf.data.Dataset.from_tensor_slices(images).shuffle(len(images))
               .batch(BATCH, drop_remainder=True))
    if prefetch is None:
        dataset = dataset.prefetch(tf.data.AUTOTUNE)
    else:
        options = tf.data.Options()
        options.autotune.enabled = False
        dataset = dataset.prefetch(prefetch).with_options(options)
    timer = EpochTimer()
    gan.fit(dataset, epochs=epochs, verbose=0, callbacks=[timer])
    if clocks is not None:
        clocks.update(wall=timer.seconds, cpu=timer.cpu)
    return timer.seconds


class EpochTimer:
    """A Keras callback recording each epoch's wall and process CPU seconds."""

    def __new__(cls) -> Any:
        import keras

        class Timer(keras.callbacks.Callback):
            def __init__(self) -> None:
                super().__init__()
                self.seconds: list[float] = []
                self.cpu: list[float] = []

            def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
                self.started = time.perf_counter()
                self.cpu_started = time.process_time()

            def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
                self.seconds.append(time.perf_counter() - self.started)
                self.cpu.append(time.process_time() - self.cpu_started)

        return Timer()


# -- the bare loop ------------------------------------------------------------------------------
def bare_epochs(work: Path, epochs: int, jit_compile: bool,
                clocks: dict[str, list[float]] | None = None) -> list[float]:
    """Epoch seconds of a bare ``tf.function`` loop over ganlab's own step and batches.

    ``clocks``, when given, receives ``wall`` and ``cpu`` (process CPU) seconds per epoch.
    """
    import tensorflow as tf

    from ganlab.data.pipeline import epoch_dataset, training_images
    from ganlab.engine.build import build_trainer

    experiment, registry = load(experiment_data(work, "bare", jit_compile=jit_compile))
    from ganlab.components import build_dataset

    dataset = build_dataset(experiment, registry)
    steps = dataset.num_examples() // BATCH
    trainer = build_trainer(experiment, registry, tf.distribute.get_strategy(), dataset, steps)
    step = tf.function(lambda batch: trainer.distributed_step(batch, train_g=True))
    images = training_images(dataset, fixed_order=False, cache=True)
    seconds, cpu = [], []
    for epoch in range(epochs):
        started, cpu_started = time.perf_counter(), time.process_time()
        logs = None
        for batch in epoch_dataset(images, epoch=epoch, seed=0, batch_size=BATCH, steps=steps,
                                   skip=0, shuffle_buffer=10000, deterministic=False):
            logs = step(batch)
        float(logs["d_loss"])  # wait for the last step
        seconds.append(time.perf_counter() - started)
        cpu.append(time.process_time() - cpu_started)
    if clocks is not None:
        clocks.update(wall=seconds, cpu=cpu)
    return seconds


# -- each side in its own process, as a user runs it ---------------------------------------------
def ganlab_process(work: Path, name: str, epochs: int, **train: Any) -> dict[str, list[float]]:
    """Epoch seconds of ``ganlab run EXPERIMENT.yaml``: the real CLI in its own process.

    ``wall``: the epoch seconds ganlab reports (history.csv); ``cpu``: the
    process's CPU seconds per epoch, from the ``epoch_clock`` callback of
    ``benchmarks/epoch_clock.py`` (loaded with ``-p``; it acts only at epoch
    boundaries).
    """
    import csv

    import yaml

    data = experiment_data(work, name, epochs=epochs, **train)
    clock = work / f"{name}.clock.json"
    data["callbacks"] = [{"name": "epoch_clock", "params": {"path": str(clock)}}]
    path = work / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    done = subprocess.run([sys.executable, "-m", "ganlab", "-p", str(CLOCK_PLUGIN), "run",
                           str(path)],
                          capture_output=True, text=True, check=False, env=child_env())
    if done.returncode:
        raise SystemExit(f"ganlab run {name} failed:\n{done.stderr[-4000:]}")
    with open(Path(data["run_dir"]) / "history.csv", newline="") as stream:
        wall = [float(row["seconds"]) for row in csv.DictReader(stream)]
    return {"wall": wall, "cpu": json.loads(clock.read_text())["cpu"]}


def child_env() -> dict[str, str]:
    """A child's environment: quiet TensorFlow, ganlab importable from this checkout."""
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}


def reference_process(work: Path, epochs: int, jit_compile: bool,
                      prefetch: int | None) -> dict[str, list[float]]:
    """Epoch wall and CPU seconds of the Keras-guide GAN trained by ``fit`` in its own process."""
    return harness.in_child(__file__, "reference", {"work": str(work), "epochs": epochs,
                                                    "jit_compile": jit_compile,
                                                    "prefetch": prefetch}, env=child_env())


def bare_process(work: Path, epochs: int) -> dict[str, list[float]]:
    """Epoch wall and CPU seconds of the bare ``tf.function`` loop in its own process."""
    return harness.in_child(__file__, "bare", {"work": str(work), "epochs": epochs},
                            env=child_env())


def _reference_child(args: dict[str, Any]) -> dict[str, Any]:
    work = Path(args["work"])
    clocks: dict[str, list[float]] = {}
    reference_epochs(work, digits(work), args["epochs"], args["jit_compile"], args["prefetch"],
                     clocks)
    return clocks


def _bare_child(args: dict[str, Any]) -> dict[str, Any]:
    clocks: dict[str, list[float]] = {}
    bare_epochs(Path(args["work"]), args["epochs"], False, clocks)
    return clocks


CHILDREN = {"reference": _reference_child, "bare": _bare_child}


def separate_processes(work: Path, args: argparse.Namespace,
                       report: dict[str, Any]) -> list[tuple[str, str]]:
    """Section 1 as a user meets it: every side its own process, run in turn.

    ganlab is the real ``ganlab run`` on an experiment file; the reference is
    the Keras guide's GAN as it writes it (``prefetch(AUTOTUNE)``) and without
    tf.data's autotuner (``prefetch(4)``, stall-free), each with XLA off and on;
    the bare loop is ganlab's own step in a plain ``tf.function`` loop. Every
    ratio is given twice: from wall seconds (what a user waits) and from the
    process's CPU seconds (the work done, which a busy machine disturbs much
    less: another job takes cores away from a side, not work).
    """
    run = 0

    def ganlab(**train: Any) -> Callable[[], dict[str, list[float]]]:
        def measure() -> dict[str, list[float]]:
            nonlocal run
            run += 1
            return ganlab_process(work, f"p{run}", args.epochs, **train)
        return measure

    def reference(jit: bool, prefetch: int | None) -> Callable[[], dict[str, list[float]]]:
        return lambda: reference_process(work, args.epochs, jit, prefetch)

    cpu: dict[str, list[float]] = {}
    ks = [k for k in (int(k) for k in args.ks.split(",")) if k != 1]
    times = alternate(args.rounds, {
        DEFAULTS: ganlab(),
        **{f"ganlab K={k}": ganlab(steps_per_execution=k) for k in ks},
        "ganlab XLA on": ganlab(jit_compile=True),
        GUIDE: reference(False, None),
        STALL_FREE: reference(False, 4),
        "reference, autotuner off, XLA on": reference(True, 4),
        BARE: lambda: bare_process(work, args.epochs)}, cpu)
    section = {"epoch_seconds": times, "epoch_cpu_seconds": cpu, "load": LOAD,
               "wall": process_ratios(times), "cpu": process_ratios(cpu)}
    report["separate_processes"] = section
    rows = [(f"  median epoch: {name}", f"{statistics.median(times[name]):.2f} s wall, "
                                         f"{statistics.median(cpu[name]):.2f} s CPU")
            for name in times]
    wall, work_done = section["wall"], section["cpu"]
    labels = [*PROCESS_ROWS, *((f"k{k}_vs_defaults", f"ganlab K={k} / defaults") for k in ks)]
    return [*rows, *((label, f"{wall[key]} (wall) | {work_done[key]} (CPU)")
                     for key, label in labels)]


DEFAULTS, BARE = "ganlab defaults (K=1, XLA off)", "bare loop (ganlab's step)"
GUIDE = "reference as the guide writes it (AUTOTUNE)"
STALL_FREE = "reference, autotuner off, prefetch(4)"
PROCESS_ROWS = (
    ("defaults_vs_stall_free_reference", "ganlab defaults / stall-free reference (target ≥ 1.05×)"),
    ("defaults_vs_guide_as_written", "ganlab defaults / reference as the guide writes it"),
    ("best_vs_best", "best ganlab / best reference (target ≥ 1.3×)"),
    ("overhead_over_bare_loop", "ganlab defaults over the bare loop (target ≤ 3 %)"),
    ("bare_loop_vs_stall_free_reference", "bare loop / stall-free reference (the step alone)"),
    ("xla", "XLA on / off: ganlab, reference (> 1× is faster with XLA)"))
#: The 1-minute load average before each side ran (the machine may be shared).
LOAD: dict[str, list[float]] = {}


def process_ratios(times: dict[str, list[float]]) -> dict[str, str]:
    """The separate-process comparisons of ``times`` (wall or CPU seconds), as table cells."""
    ganlab_sides = [name for name in times if name.startswith("ganlab")]
    reference_sides = [name for name in times if name.startswith("reference")]
    best_ganlab = min(ganlab_sides, key=lambda name: statistics.median(times[name]))
    best_reference = min(reference_sides, key=lambda name: statistics.median(times[name]))
    return {
        "defaults_vs_stall_free_reference": f"{ratio(times, STALL_FREE, DEFAULTS):.2f}×",
        "defaults_vs_guide_as_written": f"{ratio(times, GUIDE, DEFAULTS):.2f}×",
        "best_vs_best": (f"{ratio(times, best_reference, best_ganlab):.2f}× "
                         f"({best_ganlab} / {best_reference})"),
        "overhead_over_bare_loop": f"{100 * (ratio(times, DEFAULTS, BARE) - 1):+.1f} %",
        "bare_loop_vs_stall_free_reference": f"{ratio(times, STALL_FREE, BARE):.2f}×",
        **{f"k{name.split('=')[1]}_vs_defaults": f"{ratio(times, DEFAULTS, name):.2f}×"
           for name in ganlab_sides if name.startswith("ganlab K=")},
        "xla": (f"{ratio(times, DEFAULTS, 'ganlab XLA on'):.2f}×, "
                f"{ratio(times, STALL_FREE, 'reference, autotuner off, XLA on'):.2f}×")}


# -- FLOPs --------------------------------------------------------------------------------------
def forward_flops(model: Any) -> int:
    """Multiply-adds ×2 of one image through the Dense/Conv layers of ``model``."""
    import keras

    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2DTranspose):
            kh, kw, cout, cin = layer.kernel.shape
            _, h, w, _ = layer.input.shape
            total += 2 * kh * kw * cin * cout * h * w
        elif isinstance(layer, keras.layers.Conv2D):
            kh, kw, cin, cout = layer.kernel.shape
            _, h, w, _ = layer.output.shape
            total += 2 * kh * kw * cin * cout * h * w
        elif isinstance(layer, keras.layers.Dense):
            cin, cout = layer.kernel.shape
            total += 2 * cin * cout
    return int(total)


def step_flops(work: Path) -> dict[str, int]:
    """FLOPs of one training step: D update ``G + 6D``, G update ``3G + 2D``, per image."""
    generator, discriminator = models(work)
    g, d = forward_flops(generator), forward_flops(discriminator)
    return {"generator_forward": g, "discriminator_forward": d,
            "step": BATCH * (4 * g + 8 * d)}


def matmul_flops_per_second(size: int = 2048, repeats: int = 10) -> float:
    """Measured float32 matmul throughput of this machine (TensorFlow, all cores)."""
    import tensorflow as tf

    a = tf.random.normal((size, size))
    b = tf.random.normal((size, size))
    product = tf.function(lambda x, y: tf.matmul(x, y))
    product(a, b).numpy()
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(repeats):
            result = product(a, b)
        result.numpy()
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 * repeats / best


# -- hardware ------------------------------------------------------------------------------------
def cpu_flags() -> set[str]:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return set()


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def gpus() -> list[Any]:
    import tensorflow as tf

    return tf.config.list_physical_devices("GPU")


def precisions_supported() -> dict[str, str]:
    """Which mixed precisions this hardware runs fast, and why not otherwise."""
    if gpus():
        return {"mixed_float16": "yes", "mixed_bfloat16": "yes"}
    flags = cpu_flags()
    bf16 = "yes" if {"avx512_bf16", "amx_bf16"} & flags else "no (CPU lacks AVX512-BF16/AMX)"
    return {"mixed_float16": "no (no float16 arithmetic on CPU)", "mixed_bfloat16": bf16}


# -- the GPU section ----------------------------------------------------------------------------
def gpu_section(work: Path, batch: int = 256, count: int = 20_000) -> dict[str, Any]:
    """A CelebA-64-sized run through the real TFRecord reader (synthetic faces-sized images)."""

    from ganlab.data import ImageExample, TFRecordImageDataset
    from ganlab.data.reader import read_tfrecords

    class Synthetic(TFRecordImageDataset):
        default_split = "train"
        image_shape = (64, 64, 3)

        def options(self) -> dict[str, Any]:
            return {"count": count}

        def source_available(self) -> bool:
            return True

        def describe_source(self) -> str:
            return "synthetic 64x64 RGB images"

        def plan(self) -> dict[str, list[int]]:
            return {"train": list(range(count))}

        def decode(self, item: int) -> ImageExample:
            rng = np.random.default_rng(item)
            return ImageExample(image=rng.integers(0, 256, (64, 64, 3), np.uint8),
                                filename=f"{item}.png")

    folder = work / "celeba64"
    Synthetic(source=None, tfrecords=folder).prepare()
    started = time.perf_counter()
    seen = 0
    for images in read_tfrecords(folder).batch(batch).prefetch(8):
        seen += int(images.shape[0])
    reader_rate = seen / (time.perf_counter() - started)
    return {"reader_images_per_sec": reader_rate, "batch": batch, "images": count,
            **gpu_training(work, folder, batch, count)}


def gpu_training(work: Path, folder: Path, batch: int, count: int) -> dict[str, Any]:
    """Images/s of the engine's executions (64 base filters) fed by the reader, uncached."""
    import tensorflow as tf

    from ganlab.data.pipeline import epoch_dataset
    from ganlab.data.reader import read_tfrecords
    from ganlab.engine.build import build_trainer
    from ganlab.engine.loop import LoopState

    data = experiment_data(work, "gpu", batch_size=batch, jit_compile=True)
    data["architecture"]["params"].update(base_filters=64)
    experiment, registry = load(data)
    steps = count // batch
    strategy = tf.distribute.get_strategy()
    # The images come from `folder`, not the experiment's dataset: only their shape matters.
    images_like = types.SimpleNamespace(image_shape=(64, 64, 3))
    trainer = build_trainer(experiment, registry, strategy, images_like, steps)
    rates = []
    for epoch in range(2):
        batches = epoch_dataset(read_tfrecords(folder), epoch=epoch, seed=0, batch_size=batch,
                                steps=steps, skip=0, shuffle_buffer=10000,
                                deterministic=False)
        iterator = iter(strategy.experimental_distribute_dataset(batches))
        started = time.perf_counter()
        trainer.execute(iterator, steps, epoch * steps, LoopState().carry())
        rates.append(steps * batch / (time.perf_counter() - started))
    return {"training_images_per_sec": rates[-1]}


# -- the run -------------------------------------------------------------------------------------
def alternate(rounds: int, sides: dict[str, Callable[[], Any]],
              cpu: dict[str, list[float]] | None = None) -> dict[str, list[float]]:
    """Run every side once per round, in turn; keep the epoch times after the first epoch.

    A side returns its epoch seconds, or ``{"wall": [...], "cpu": [...]}``
    (a process of its own): its CPU seconds then go to ``cpu``. The load
    average before each side is kept in :data:`LOAD`.
    """
    times: dict[str, list[float]] = {name: [] for name in sides}
    for round_index in range(rounds):
        order = list(sides) if round_index % 2 == 0 else list(sides)[::-1]
        for name in order:
            load = os.getloadavg()[0]
            LOAD.setdefault(name, []).append(load)
            measured = sides[name]()
            epochs = measured["wall"] if isinstance(measured, dict) else measured
            times[name].extend(epochs[1:])
            line = ", ".join(f"{s:.2f}" for s in epochs) + " s"
            if isinstance(measured, dict) and cpu is not None:
                cpu.setdefault(name, []).extend(measured["cpu"][1:])
                line += " wall; CPU " + ", ".join(f"{s:.2f}" for s in measured["cpu"]) + " s"
            print(f"  round {round_index + 1} {name} (load {load:.1f}): {line}", flush=True)
    return times


def ratio(times: dict[str, list[float]], slower: str, faster: str,
          statistic: Callable[[list[float]], float] = statistics.median) -> float:
    """How many times faster ``faster`` is than ``slower`` (median epoch times by default).

    With ``statistic=min``: the best epoch of each side, which leaves out
    epochs that stalled or that another job slowed.
    """
    return statistic(times[slower]) / statistic(times[faster])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2, help="alternations per comparison")
    parser.add_argument("--epochs", type=int, default=3,
                        help="epochs per measurement (the first is warm-up)")
    parser.add_argument("--out", type=Path, default=REPO / "benchmarks" / "results" /
                        "bench_train.json")
    parser.add_argument("--sections", default="1,2,3,4,5",
                        help="comma-separated sections to run")
    parser.add_argument("--ks", default="1,8",
                        help="steps_per_execution values: section 2's (the first is the "
                             "base); in process mode each one but 1 is a ganlab side")
    parser.add_argument("--mode", choices=("process", "inprocess"), default="process",
                        help="sections 1-2: each side in its own process, as a user runs it "
                             "(default), or all sides in this process")
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        sys.path.insert(0, str(REPO))
        harness.answer_child(CHILDREN, args.child)
        return
    sections = {int(s) for s in args.sections.split(",")}
    sys.path.insert(0, str(REPO))
    import tensorflow as tf

    from ganlab.data.pipeline import ensure_prepared

    report: dict[str, Any] = {
        "command": " ".join([Path(sys.executable).name, *sys.argv]),
        "machine": {"cpu": cpu_name(), "cores": os.cpu_count(), "python": platform.python_version(),
                    "tensorflow": tf.__version__, "gpus": [g.name for g in gpus()]},
        "workload": {"architecture": "dcgan", "image_size": SIZE, "base_filters": FILTERS,
                     "batch": BATCH, "images": 5000, "steps_per_epoch": 5000 // BATCH},
        "rounds": args.rounds, "epochs": args.epochs}
    rows: list[tuple[str, str]] = []
    with tempfile.TemporaryDirectory(prefix="bench_train-") as folder:
        work = Path(folder)
        experiment, registry = load(experiment_data(work, "prepare"))
        from ganlab.components import build_dataset

        ensure_prepared(build_dataset(experiment, registry), echo=lambda message: None)
        images = digits(work)
        run = 0

        def ganlab(**train: Any) -> Callable[[], dict[str, list[float]]]:
            def measure() -> dict[str, list[float]]:
                nonlocal run
                run += 1
                return ganlab_epochs(work, f"g{run}", args.epochs, **train)
            return measure

        def reference(jit: bool) -> Callable[[], dict[str, list[float]]]:
            def measure() -> dict[str, list[float]]:
                clocks: dict[str, list[float]] = {}
                reference_epochs(work, images, args.epochs, jit, None, clocks)
                return clocks
            return measure

        def bare() -> dict[str, list[float]]:
            clocks: dict[str, list[float]] = {}
            bare_epochs(work, args.epochs, False, clocks)
            return clocks

        if args.mode == "process" and sections & {1, 2}:
            print("1-2. each side in its own process: ganlab run, the Keras-guide reference, "
                  "the bare loop", flush=True)
            rows += separate_processes(work, args, report)
            sections -= {1, 2}
        if 1 in sections:
            print("1. ganlab vs the Keras-guide reference", flush=True)
            # ganlab's defaults are XLA off and K=1 (XLA measured slower on CPU): the
            # "defaults" side is the XLA-off one.
            cpu: dict[str, list[float]] = {}
            plain = alternate(args.rounds, {"ganlab (XLA off)": ganlab(jit_compile=False),
                                            "reference (XLA off)": reference(False)}, cpu)
            xla = alternate(args.rounds, {"ganlab (XLA on)": ganlab(jit_compile=True),
                                          "reference (XLA on)": reference(True)}, cpu)
            times = {**plain, **xla}
            report["vs_reference"] = {
                "epoch_seconds": times, "epoch_cpu_seconds": cpu,
                "cpu_xla_off_both": ratio(cpu, "reference (XLA off)", "ganlab (XLA off)"),
                "cpu_xla_on_both": ratio(cpu, "reference (XLA on)", "ganlab (XLA on)"),
                "xla_off_both": ratio(times, "reference (XLA off)", "ganlab (XLA off)"),
                "defaults_vs_guide": ratio(times, "reference (XLA off)", "ganlab (XLA off)"),
                "xla_on_both": ratio(times, "reference (XLA on)", "ganlab (XLA on)"),
                "xla_off_both_best_epochs": ratio(times, "reference (XLA off)",
                                                  "ganlab (XLA off)", min),
                "xla_on_both_best_epochs": ratio(times, "reference (XLA on)",
                                                 "ganlab (XLA on)", min)}
            section = report["vs_reference"]
            rows += [("ganlab / reference, XLA off on both (target ≥ 1.05×)",
                      f"{section['xla_off_both']:.2f}×"),
                     ("ganlab defaults / reference as the guide writes it (target ≥ 1.3×)",
                      f"{section['defaults_vs_guide']:.2f}×"),
                     ("ganlab / reference, XLA on on both (target > 1×)",
                      f"{section['xla_on_both']:.2f}×"),
                     ("  the same, best epoch of each side: XLA off / on",
                      f"{section['xla_off_both_best_epochs']:.2f}× / "
                      f"{section['xla_on_both_best_epochs']:.2f}×"),
                     ("  the same from CPU seconds: XLA off / on",
                      f"{section['cpu_xla_off_both']:.2f}× / {section['cpu_xla_on_both']:.2f}×"),
                     ("XLA on / off from CPU seconds: ganlab, reference",
                      f"{ratio(cpu, 'ganlab (XLA off)', 'ganlab (XLA on)'):.2f}×, "
                      f"{ratio(cpu, 'reference (XLA off)', 'reference (XLA on)'):.2f}×")]
        if 2 in sections:
            print("2. ganlab vs a bare tf.function loop; steps_per_execution", flush=True)
            ks = [int(k) for k in args.ks.split(",")]
            sides = {f"ganlab K={k}": ganlab(steps_per_execution=k) for k in ks}
            cpu = {}
            times = alternate(args.rounds, {**sides, "bare loop": bare}, cpu)
            first = f"ganlab K={ks[0]}"
            overhead = ratio(times, first, "bare loop") - 1
            cpu_overhead = ratio(cpu, first, "bare loop") - 1
            report["overhead"] = {"epoch_seconds": times, "epoch_cpu_seconds": cpu,
                                  f"overhead_k{ks[0]}": overhead,
                                  f"cpu_overhead_k{ks[0]}": cpu_overhead}
            rows.append((f"{first} over the bare loop (target ≤ 3 %): wall | CPU",
                         f"{100 * overhead:+.1f} % | {100 * cpu_overhead:+.1f} %"))
            for k in ks[1:]:
                over = ratio(times, f"ganlab K={k}", "bare loop") - 1
                speedup = ratio(times, first, f"ganlab K={k}")
                report["overhead"].update({f"overhead_k{k}": over,
                                           f"k{k}_vs_k{ks[0]}": speedup})
                rows += [(f"ganlab K={k} over the bare loop", f"{100 * over:+.1f} %"),
                         (f"K={k} speed-up over {first}: wall | CPU",
                          f"{speedup:.3f}× | {ratio(cpu, first, f'ganlab K={k}'):.3f}×")]
        if 3 in sections:
            print("3. FLOP/s", flush=True)
            flops = step_flops(work)
            peak = matmul_flops_per_second()
            seconds = ganlab_epochs(work, "flops", args.epochs)["wall"][1:]
            # The machine may be shared: the best of a measurement before and after.
            peak = max(peak, matmul_flops_per_second())
            per_step = statistics.median(seconds) / (5000 // BATCH)
            achieved = flops["step"] / per_step
            report["flops"] = {**flops, "step_seconds": per_step, "achieved": achieved,
                               "matmul_peak": peak, "fraction": achieved / peak}
            rows += [("step FLOPs (from layer shapes)", f"{flops['step'] / 1e9:.2f} GFLOP"),
                     ("achieved / measured matmul FLOP/s",
                      f"{achieved / 1e9:.1f} / {peak / 1e9:.1f} GFLOP/s "
                      f"({100 * achieved / peak:.0f} %)")]
        if 4 in sections:
            print("4. mixed precision", flush=True)
            supported = precisions_supported()
            report["precision"] = {"supported": supported}
            for precision, answer in supported.items():
                if answer != "yes":
                    rows.append((precision, f"skipped: {answer}"))
                    continue
                times = alternate(1, {"float32": ganlab(),
                                      precision: ganlab(precision=precision)})
                report["precision"][precision] = ratio(times, "float32", precision)
                rows.append((f"{precision} / float32", f"{report['precision'][precision]:.2f}×"))
        if 5 in sections:
            if gpus():
                print("5. GPU: CelebA-64-sized reader", flush=True)
                report["gpu"] = gpu_section(work)
                gpu = report["gpu"]
                keeps_up = gpu["reader_images_per_sec"] >= gpu["training_images_per_sec"]
                rows.append(("GPU CelebA-64 training / reader (images/s)",
                             f"{gpu['training_images_per_sec']:.0f} / "
                             f"{gpu['reader_images_per_sec']:.0f} (reader keeps up: "
                             f"{'yes' if keeps_up else 'no'})"))
            else:
                report["gpu"] = "skipped: no GPU on this machine"
                rows.append(("5. GPU section", "skipped: no GPU on this machine"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    width = max(len(name) for name, _ in rows) + 2
    print("\n" + "\n".join(f"{name:<{width}}{value}" for name, value in rows))
    print(f"\nJSON: {args.out}")


if __name__ == "__main__":
    main()
