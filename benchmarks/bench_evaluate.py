"""Memory and time of ``ganlab evaluate``, and the Fréchet distance at 2048-d.

One command::

    .venv/bin/python benchmarks/bench_evaluate.py [--quick]

measures:

1. Streaming: ``ganlab evaluate --metric fid --metric kid`` of a small
   DCGAN (32x32 grey, base_filters 8, latent 100, trained a few steps by the
   real ``ganlab run``)
   against a 50,000-image real split, at 5,000 and at 50,000 samples per
   side, each in a fresh process with a cold real-statistics cache: peak RSS
   and wall time. Flat memory means neither side holds its images (50,000
   32x32 float32 images are 205 MB); KID keeps the feature rows, n x 128
   float32 here. Then 50,000 again with the cache warm. The extractor is a
   small fixed-weight conv net (two strided convolutions, 128-d features):
   the cost class of a domain classifier, with no training needed.
2. The Fréchet distance of two 2048x2048 covariances (of 4,096 Gaussian
   samples each, as Inception pool features would give): the symmetric
   eigendecomposition route ganlab uses against ``scipy.linalg.sqrtm``, and
   how far apart their results are.

It prints a table and writes ``benchmarks/results/evaluate.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import harness
import numpy as np
import yaml

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results" / "evaluate.json"

EXTRACTOR_PLUGIN = '''
import hashlib

import numpy as np

from ganlab import hookimpl


class RandomConv:
    """Two strided 3x3 convolutions with fixed seeded weights, average-pooled to 128-d."""

    name = "random_conv"
    resize = "none"
    label_names = []
    multi_label = False

    def __init__(self, *, data_dir=None, image_shape, seed=0):
        import keras

        keras.utils.set_random_seed(seed)
        self.model = keras.Sequential([
            keras.Input(image_shape),
            keras.layers.Conv2D(64, 3, strides=2, activation="relu"),
            keras.layers.Conv2D(128, 3, strides=2, activation="relu"),
            keras.layers.GlobalAveragePooling2D()])
        digest = hashlib.sha256()
        for array in self.model.get_weights():
            digest.update(array.tobytes())
        self.weights_sha256 = digest.hexdigest()

    def features(self, images):
        return np.asarray(self.model(images, training=False))

    def probabilities(self, images):
        return None


@hookimpl
def register_feature_extractors(register):
    register("random_conv", RandomConv)
'''


# -- the run --------------------------------------------------------------------------------
def make_run(workdir: Path, train_images: int) -> Path:
    """A real run directory: MNIST-format data, a small DCGAN, a few steps."""
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from bench_data import write_mnist_tree

    write_mnist_tree(workdir / "mnist", train=train_images, test=1000)
    (workdir / "random_conv.py").write_text(EXTRACTOR_PLUGIN)
    experiment = {
        "name": "bench", "seed": 1, "run_dir": str(workdir / "run"),
        "plugins": ["random_conv.py"],
        "dataset": {"name": "mnist", "params": {"source": str(workdir / "mnist"),
                                                "tfrecords": str(workdir / "tfrecords"),
                                                "image_size": 32}},
        "architecture": {"name": "dcgan", "params": {"latent_dim": 100, "base_filters": 8,
                                                     "kernel_size": 4}},
        "loss": {"name": "bce"},
        "train": {"epochs": 1, "batch_size": 32, "steps_per_epoch": 5, "verbose": 0},
        "callbacks": [],
    }
    path = workdir / "bench.yaml"
    path.write_text(yaml.safe_dump(experiment, sort_keys=False))
    ganlab(["run", str(path)])
    return workdir / "run"


def ganlab(args: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "ganlab", *args], capture_output=True,
                          text=True, check=False)
    if done.returncode:
        raise SystemExit(f"ganlab {' '.join(args)} failed:\n{done.stderr}")


# -- children -------------------------------------------------------------------------------
def child_evaluate(args: dict[str, Any]) -> dict[str, Any]:
    """``ganlab evaluate`` in this process; its wall time and this process's peak RSS."""
    from ganlab.cli import main

    start = time.perf_counter()
    try:
        main(["evaluate", args["run"], "--metric", "fid", "--metric", "kid", "--split", "train",
              "--extractor", "random_conv", "--num-samples", str(args["num"])])
    except SystemExit as exit_:
        if exit_.code:
            raise
    seconds = time.perf_counter() - start
    records = json.loads((Path(args["run"]) / "metrics.json").read_text())["records"]
    latest = {r["metric"]: r for r in records if r["protocol"]["num_fake"] == args["num"]}
    return {"num_samples": args["num"], "seconds": seconds,
            "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "fid": latest["fid"]["scores"]["fid"],
            "kid_mean": latest["kid"]["scores"]["kid_mean"],
            "num_real": latest["fid"]["protocol"]["num_real"]}


def child_frechet(args: dict[str, Any]) -> dict[str, Any]:
    """eigh route vs scipy.linalg.sqrtm at ``dim``-d."""
    import scipy.linalg
    from ganlab_builtins.metrics.maths import frechet_distance

    rng = np.random.default_rng(0)
    dim, samples = args["dim"], args["samples"]
    stats = []
    for shift in (0.0, 0.1):
        mixing = rng.standard_normal((dim, dim)) / np.sqrt(dim)
        features = rng.standard_normal((samples, dim)) @ mixing + shift
        stats.append((features.mean(0), np.cov(features, rowvar=False)))
    (mu1, sigma1), (mu2, sigma2) = stats
    eigh_times = []
    for _ in range(2):
        start = time.perf_counter()
        by_eigh = frechet_distance(mu1, sigma1, mu2, sigma2)
        eigh_times.append(time.perf_counter() - start)
    start = time.perf_counter()
    root = scipy.linalg.sqrtm(sigma1 @ sigma2)
    by_sqrtm = float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2)
                     - 2 * np.trace(root).real)
    sqrtm_seconds = time.perf_counter() - start
    return {"dim": dim, "samples": samples, "eigh_seconds": min(eigh_times),
            "sqrtm_seconds": sqrtm_seconds, "fid_eigh": by_eigh, "fid_sqrtm": by_sqrtm,
            "relative_difference": abs(by_eigh - by_sqrtm) / abs(by_sqrtm),
            "sqrtm_max_imaginary": float(np.abs(root.imag).max())}


CHILDREN = {"evaluate": child_evaluate, "frechet": child_frechet}


def in_child(measure: str, **args: Any) -> dict[str, Any]:
    """Run one measurement in a fresh Python process (its own peak RSS)."""
    return harness.in_child(__file__, measure, args)


# -- the benchmark --------------------------------------------------------------------------
def run(quick: bool) -> dict[str, Any]:
    sizes = (1000, 5000) if quick else (5000, 50000)
    workdir = Path(tempfile.mkdtemp(prefix="ganlab-bench-evaluate-"))
    try:
        run_dir = str(make_run(workdir, train_images=max(sizes)))
        cache = workdir / "tfrecords" / ".ganlab-eval-cache"
        streaming = []
        for num in sizes:
            shutil.rmtree(cache, ignore_errors=True)
            streaming.append({**in_child("evaluate", run=run_dir, num=num), "cache": "cold"})
        streaming.append({**in_child("evaluate", run=run_dir, num=sizes[-1]), "cache": "warm"})
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    frechet = in_child("frechet", dim=512 if quick else 2048, samples=1024 if quick else 4096)
    return {"streaming": streaming, "frechet": frechet}


def table(results: dict[str, Any]) -> str:
    lines = ["ganlab evaluate --metric fid --metric kid (32x32 grey DCGAN base_filters 8, "
             "random_conv 128-d)",
             f"{'samples':>8} {'real':>7} {'cache':>6} {'seconds':>8} {'peak RSS MB':>12} "
             f"{'FID':>9} {'KID':>9}"]
    for row in results["streaming"]:
        lines.append(f"{row['num_samples']:>8} {row['num_real']:>7} {row['cache']:>6} "
                     f"{row['seconds']:>8.1f} {row['peak_rss_mb']:>12.0f} {row['fid']:>9.4g} "
                     f"{row['kid_mean']:>9.3g}")
    f = results["frechet"]
    lines += ["", f"Fréchet distance at {f['dim']}-d ({f['samples']} samples per side)",
              f"  eigh route       {f['eigh_seconds']:8.2f} s   FID {f['fid_eigh']:.10g}",
              f"  scipy sqrtm      {f['sqrtm_seconds']:8.2f} s   FID {f['fid_sqrtm']:.10g}",
              f"  relative difference {f['relative_difference']:.2e}; sqrtm's largest "
              f"imaginary part {f['sqrtm_max_imaginary']:.2e}"]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller sizes (a smoke run)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--child", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        harness.answer_child(CHILDREN, args.child)
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    results = run(args.quick)
    harness.write_results(results, table(results), args.out, args.quick)


if __name__ == "__main__":
    main()
