"""Regularizers inside the train step: lazy, weighted penalties on D's (or G's) loss.

The experiment's ``regularizers:`` are built by their plugins
(:class:`ganlab.Regularizer`); :class:`Penalties` adds them to the loss of
the network each applies to, inside the compiled step. A regularizer with
``interval: N`` is evaluated on the updates whose index is a multiple of N
and its term multiplied by N (lazy regularization: Karras et al. 2020,
"Analyzing and Improving the Image Quality of StyleGAN", section 3.1,
https://arxiv.org/abs/1912.04958). The update index is the network
optimizer's iteration count, which every checkpoint holds, so a resumed run
evaluates the penalties on the same updates as an uninterrupted one, and
``steps_per_execution`` changes nothing.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import tensorflow as tf

from ganlab.contracts import AUGMENTATIONS, LossInputs, RegularizerInputs
from ganlab.engine.augment import DiffAugment
from ganlab.errors import ConfigError

#: Prefix of the log keys of regularizers (``reg_r1``).
LOG_PREFIX = "reg_"


@dataclass(frozen=True)
class Penalty:
    """One regularizer of the run, with the log key its term goes under."""

    key: str
    regularizer: Any

    @property
    def applies_to(self) -> str:
        """``"discriminator"`` or ``"generator"``."""
        return str(self.regularizer.applies_to)

    @property
    def interval(self) -> int:
        """Evaluate on every ``interval``-th update."""
        return int(self.regularizer.interval)

    @property
    def weight(self) -> float:
        """The penalty's weight."""
        return float(self.regularizer.weight)


def log_keys(names: Sequence[str]) -> list[str]:
    """``reg_<name>`` for each regularizer name (``plugin:`` dropped, repeats numbered)."""
    keys: list[str] = []
    for name in names:
        base = LOG_PREFIX + re.sub(r"[^0-9A-Za-z_]", "_", name.rpartition(":")[2])
        key, count = base, 1
        while key in keys:
            count += 1
            key = f"{base}_{count}"
        keys.append(key)
    return keys


def augmenter(default: Sequence[str], rng: tf.random.Generator) -> Callable[..., Any]:
    """``augment(images, transforms=None)`` for :class:`ganlab.RegularizerInputs`.

    Args:
        default: The transformations used when a regularizer names none
            (the experiment's ``train.augment``).
        rng: Where the randomness comes from (the trainer's checkpointed generator).

    """
    def augment(images: Any, transforms: Sequence[str] | None = None) -> Any:
        policy = list(default if transforms is None else transforms)
        unknown = [name for name in policy if name not in AUGMENTATIONS]
        if unknown:
            raise ConfigError(f"Unknown augmentation {', '.join(map(repr, unknown))} asked "
                              f"for by a regularizer; known: {', '.join(AUGMENTATIONS)}.")
        if not policy:
            raise ConfigError("A regularizer asked for augmented images, but it names no "
                              "transformations and the experiment has no train.augment: give "
                              "the regularizer its own (e.g. params: {transforms: "
                              "[translation]}) or set train.augment.")
        return DiffAugment(policy, rng)(images)

    return augment


def regularizer_inputs(inputs: LossInputs, fake_discriminator: Any, step: Any,
                       augment: Callable[..., Any]) -> RegularizerInputs:
    """The step's loss inputs, with what regularizers need besides."""
    fields = {field.name: getattr(inputs, field.name)
              for field in dataclasses.fields(LossInputs)}
    return RegularizerInputs(**fields, fake_discriminator=fake_discriminator, step=step,
                             augment=augment)


class Penalties:
    """The run's regularizers, added to a network's loss inside the step.

    Args:
        regularizers: ``(name, regularizer)`` in the experiment's order.
        augment: ``augment(images, transforms=None)`` for the inputs.
        skip: Skip evaluating a lazy penalty on the updates it does not
            count (a ``tf.cond``). Off under several replicas, where a
            cross-replica sync (a penalty's ``all_reduce``) cannot sit inside
            a conditional: the penalty is then evaluated on every update and
            counted on the same ones, which costs time but not exactness.

    """

    def __init__(self, regularizers: Sequence[tuple[str, Any]],
                 augment: Callable[..., Any], skip: bool = True):
        keys = log_keys([name for name, _ in regularizers])
        self.penalties = [Penalty(key, regularizer)
                          for key, (_, regularizer) in zip(keys, regularizers, strict=True)]
        self.augment = augment
        self.skip = skip

    @property
    def keys(self) -> tuple[str, ...]:
        """The log keys, in order."""
        return tuple(p.key for p in self.penalties)

    def keys_of(self, network: str) -> tuple[str, ...]:
        """The log keys of the regularizers applying to ``network``."""
        return tuple(p.key for p in self.penalties if p.applies_to == network)

    @property
    def variables(self) -> list[Any]:
        """State the regularizers keep (their ``variables``), saved in checkpoints."""
        return [variable for p in self.penalties
                for variable in getattr(p.regularizer, "variables", None) or ()]

    def terms(self, network: str, inputs: RegularizerInputs) -> tuple[Any, dict[str, Any]]:
        """The sum of the terms added to ``network``'s loss, and each term by log key.

        Call inside the network's gradient tape, before its optimizer applies
        the update (``inputs.step`` is that optimizer's iteration count).
        """
        total = tf.constant(0.0, tf.float32)
        logs = {}
        for penalty in self.penalties:
            if penalty.applies_to != network:
                continue
            term = self._term(penalty, inputs, self.skip)
            logs[penalty.key] = term
            total += term
        return total, logs

    @staticmethod
    def _term(penalty: Penalty, inputs: RegularizerInputs, skip: bool) -> Any:
        """``weight * interval * penalty`` on due updates, 0 on the others."""
        scale = penalty.weight * penalty.interval

        def evaluate() -> Any:
            return scale * tf.cast(penalty.regularizer.penalty(inputs), tf.float32)

        if penalty.interval == 1:
            return evaluate()
        due = is_due(inputs.step, penalty.interval)
        zero = tf.constant(0.0, tf.float32)
        if skip:
            return tf.cond(due, evaluate, lambda: zero)
        return tf.where(due, evaluate(), zero)


def is_due(step: Any, interval: int) -> Any:
    """Whether a penalty with ``interval`` counts on update ``step`` (a bool tensor)."""
    return tf.equal(tf.math.floormod(tf.cast(step, tf.int64), interval), 0)
