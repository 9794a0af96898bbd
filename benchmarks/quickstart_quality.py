"""How clean are a run's digits? The classifier score of its generator, by the domain classifier.

Usage (after `ganlab run experiments/quickstart.yaml` and
`ganlab train-classifier experiments/quickstart.yaml`):

    python benchmarks/quickstart_quality.py runs/quickstart [--epoch N] [--num-samples 5000]

Draws --num-samples latents (seeded), generates them with the run's exported
generator (or the checkpoint of --epoch), classifies them with the domain
classifier kept beside the run's TFRecords, and prints the classifier score
exp(E[KL(p(y|x) || p(y))]) (10 is perfect on digits), the share of samples
classified with probability >= 0.9, the class histogram, and the Frechet
distance between the classifier's penultimate-layer features of the samples
and of the real test split (domain FID, float64, symmetric eigendecomposition).
The same figures for the real test split are printed for reference, with the
domain FID of the real train split against it (the floor a generator can reach).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """FID between two feature sets (float64; trace of the square root via eigh)."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    mu_a, mu_b = a.mean(0), b.mean(0)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    values, vectors = np.linalg.eigh(cov_a)
    root_a = (vectors * np.sqrt(np.clip(values, 0, None))) @ vectors.T
    middle = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu_a - mu_b) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b) - 2 * trace_root)


def real_images(tfrecords: Path, split: str) -> np.ndarray:
    from ganlab.data.reader import read_tfrecords

    batches = [batch.numpy() for batch in read_tfrecords(tfrecords, split,
                                                         deterministic=True).batch(1000)]
    return np.concatenate(batches)


def summary(name: str, classifier, images: np.ndarray) -> tuple[dict, np.ndarray]:
    from ganlab_builtins.classifier import classifier_score

    features, probabilities = classifier.features_and_probabilities(images)
    found = classifier_score(probabilities)
    return {"what": name, "samples": len(images), "classifier_score": round(found.score, 3),
            "confident_share": round(found.confident, 3), "histogram": found.histogram}, features


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dir", type=Path)
    parser.add_argument("--epoch", type=int, default=None)
    parser.add_argument("--num-samples", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=1234)
    parser.add_argument("--split", default="test")
    args = parser.parse_args(argv)

    from ganlab_builtins.classifier import load_domain_classifier

    from ganlab.experiment import load_experiment
    from ganlab.latents import sample_latents
    from ganlab.restore import load_generator, read_run_info
    from ganlab.sampling import generate

    config = load_experiment(args.run_dir / "config.yaml").config
    tfrecords = Path(config["dataset"]["params"]["tfrecords"])
    if not tfrecords.is_absolute():
        tfrecords = Path.cwd() / tfrecords
    info = read_run_info(args.run_dir)
    classifier = load_domain_classifier(tfrecords, image_shape=info.image_shape)
    latents = sample_latents(args.num_samples, info.latent_dim, info.latent_distribution,
                             args.seed)
    fake = generate(load_generator(args.run_dir, checkpoint=args.epoch), latents)
    real = real_images(tfrecords, args.split)
    real_row, real_features = summary(f"real '{args.split}' split", classifier, real)
    fake_row, fake_features = summary(f"generator of {args.run_dir}"
                                      + (f" at epoch {args.epoch}" if args.epoch else ""),
                                      classifier, fake)
    fake_row["domain_fid"] = round(frechet_distance(fake_features, real_features), 3)
    # The floor: real training digits against the same held-out digits.
    _, train_features = summary("real 'train' split", classifier, real_images(tfrecords, "train"))
    real_row["domain_fid_train_vs_test"] = round(frechet_distance(train_features, real_features),
                                                 3)
    for row in (real_row, fake_row):
        print(json.dumps(row))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
