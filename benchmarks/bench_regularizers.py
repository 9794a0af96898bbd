"""What lazy regularization saves: CPU time per train step with and without R1.

One command::

    .venv/bin/python benchmarks/bench_regularizers.py [--steps 32] [--rounds 4]

builds the same ``dcgan`` (32x32x1, ``base_filters: 16``, batch 32, ``bce``)
three times (no regularizer, ``r1`` on every D update, ``r1`` with
``interval: 16``) and runs them in turn, ``--rounds`` executions of
``--steps`` steps each after one warm-up execution, through the engine's own
:class:`ganlab.engine.trainer.GANTrainer`. It reports *CPU* time per step
(``time.process_time``, all threads), which a busy shared machine disturbs
far less than wall time; the configurations are interleaved so a change in
load hits all three alike. docs/models.md quotes its output.
"""

from __future__ import annotations

import argparse
import time

import keras
import numpy as np
import tensorflow as tf
from ganlab_builtins.dcgan import DCGAN
from ganlab_builtins.losses import BCELoss
from ganlab_builtins.regularizers import R1

from ganlab.engine.trainer import GAN, Carry, GANTrainer

BATCH = 32
SHAPE = (32, 32, 1)
LATENT = 32


def make_trainer(regularizers: list) -> GANTrainer:
    """A DCGAN trainer with ``regularizers``, from the same seed each time."""
    keras.utils.set_random_seed(0)
    architecture = DCGAN(image_shape=SHAPE, latent_dim=LATENT, base_filters=16)
    generator = architecture.build_generator()
    discriminator = architecture.build_discriminator()
    g_opt, d_opt = keras.optimizers.Adam(2e-4), keras.optimizers.Adam(2e-4)
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)
    return GANTrainer(tf.distribute.get_strategy(), GAN(generator, discriminator), BCELoss(),
                      g_opt, d_opt, latent_dim=LATENT, latent_distribution="normal", seed=1,
                      regularizers=regularizers)


def main() -> None:
    """Measure and print CPU-ms per step of each configuration."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=32, help="steps per execution")
    parser.add_argument("--rounds", type=int, default=4, help="timed executions each")
    args = parser.parse_args()
    configs = {"none": [], "r1 every step": [("r1", R1(10.0, 1))],
               "r1 interval 16": [("r1", R1(10.0, 16))]}
    data = tf.data.Dataset.from_tensors(tf.random.uniform((BATCH, *SHAPE), -1, 1)).repeat()
    trainers = {name: make_trainer(regs) for name, regs in configs.items()}
    iterators = {name: iter(data) for name in configs}
    carries = {name: Carry(dict.fromkeys(t.log_keys, 0.0)) for name, t in trainers.items()}
    for name, trainer in trainers.items():  # trace and warm up
        trainer.execute(iterators[name], args.steps, 0, carries[name])
    times: dict[str, list[float]] = {name: [] for name in configs}
    for round_ in range(1, args.rounds + 1):
        for name, trainer in trainers.items():
            start = time.process_time()
            trainer.execute(iterators[name], args.steps, args.steps * round_, carries[name])
            times[name].append((time.process_time() - start) / args.steps * 1000)
    for name, values in times.items():
        print(f"{name}: median {np.median(values):.1f} CPU-ms/step, min {min(values):.1f} "
              f"({args.rounds} x {args.steps} steps)")


if __name__ == "__main__":
    main()
