"""The generator EMA: a shadow generator holding an exponential moving average of G's weights.

BigGAN (Brock et al. 2019, "Large Scale GAN Training for High Fidelity
Natural Image Synthesis", section 4 and appendix) and StyleGAN (Karras et
al. 2018/2019) sample from a copy of the generator whose weights are an
exponential moving average of the trained ones; its images are usually
better than the raw generator's at every point of training.

After every generator update (inside the compiled step, so the count is
exact for any ``train.steps_per_execution`` and any strategy)::

    shadow <- G + decay * (shadow - G)     for G's trainable weights
    shadow <- G                            for G's other weights (BN statistics)

During the first ``start_step`` generator updates the shadow copies G
instead (``decay`` is 0 then), as BigGAN's ``ema_start`` does.

Batch-norm moving statistics (and any other non-trainable weight, such as a
spectral-norm power-iteration vector) are copied from G, not averaged, as
StyleGAN2-ADA (``G_ema.buffers()`` copied) and PyTorch-StudioGAN do: they
are already running averages of G's activations, and copying them keeps the
shadow's inference statistics those of the current network. (BigGAN's
"standing statistics", re-estimated from many forward passes of the shadow
itself, are the more expensive alternative; see docs/models.md.)

Under a ``tf.distribute`` strategy the update runs in a cross-replica
context on each device's own copy of the variables
(``strategy.extended.update``, as Keras' optimizers apply gradients), so
every replica holds identical shadow weights.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from ganlab.errors import PluginError


class GeneratorEMA:
    """A shadow generator and its in-step update.

    Args:
        shadow: A second generator of the same architecture (built in the
            strategy's scope); its weights are overwritten with G's here.
        generator: The trained generator.
        decay: The EMA decay, in (0, 1).
        start_step: Generator updates during which the shadow copies G.

    Raises:
        PluginError: ``shadow`` is not a distinct model with G's weight shapes
            (an architecture whose ``build_generator()`` returns a cached model).

    """

    def __init__(self, shadow: Any, generator: Any, *, decay: float, start_step: int):
        check_twin(shadow, generator)
        self.shadow = shadow
        self.generator = generator
        self.decay = float(decay)
        self.start_step = int(start_step)
        self.copy_from_generator()

    # -- the pairs of variables -------------------------------------------------------------
    def averaged_pairs(self) -> list[tuple[Any, Any]]:
        """``(shadow, source)`` pairs of the weights that are averaged (G's trainable ones)."""
        return list(zip(self.shadow.trainable_weights, self.generator.trainable_weights,
                        strict=True))

    def copied_pairs(self) -> list[tuple[Any, Any]]:
        """``(shadow, source)`` pairs of the weights that are copied (BN statistics, ...)."""
        return list(zip(self.shadow.non_trainable_weights,
                        self.generator.non_trainable_weights, strict=True))

    # -- updates ----------------------------------------------------------------------------
    def decay_at(self, g_updates: Any) -> Any:
        """The decay after ``g_updates`` generator updates: 0 (copy) up to ``start_step``."""
        averaging = tf.cast(g_updates, tf.int64) > self.start_step
        return tf.where(averaging, tf.constant(self.decay, tf.float32), 0.0)

    def update(self, g_updates: Any) -> None:
        """Move the shadow towards G; call right after a G update, inside the step.

        Args:
            g_updates: Generator updates done so far, this one included (the
                generator optimizer's ``iterations``).

        """
        decay = self.decay_at(g_updates)
        tf.__internal__.distribute.interim.maybe_merge_call(
            self._cross_replica_update, tf.distribute.get_strategy(), decay)

    def _cross_replica_update(self, strategy: Any, decay: Any) -> None:
        for shadow, source in self.averaged_pairs():
            _update(strategy, shadow, _average, source, decay)
        for shadow, source in self.copied_pairs():
            _update(strategy, shadow, _copy, source)

    def copy_from_generator(self) -> None:
        """Make the shadow an exact copy of G (host side: at start and for old checkpoints)."""
        for shadow, source in self.averaged_pairs() + self.copied_pairs():
            shadow.assign(source.value)


def _update(strategy: Any, shadow: Any, fn: Callable[..., Any], *args: Any) -> None:
    """``fn(shadow, *args)`` on each device's own copy of the variables."""
    strategy.extended.update(_tf_variable(shadow), fn,
                             args=tuple(_tf_variable(a) for a in args), group=False)


def _average(shadow: Any, source: Any, decay: Any) -> Any:
    # The lerp form, G + d * (shadow - G): with d = 0 it is exactly G (a copy).
    source = tf.convert_to_tensor(source)
    decay = tf.cast(decay, source.dtype)
    return shadow.assign(source + decay * (tf.convert_to_tensor(shadow) - source))


def _copy(shadow: Any, source: Any) -> Any:
    return shadow.assign(tf.convert_to_tensor(source))


def _tf_variable(value: Any) -> Any:
    """The ``tf.Variable`` behind a Keras variable (what ``tf.distribute`` works with)."""
    import keras

    return value.value if isinstance(value, keras.Variable) else value


def check_twin(shadow: Any, generator: Any) -> None:
    """Refuse a shadow that is G itself or does not have G's weights.

    Raises:
        PluginError: It is the same object, or its weights differ in count or shape.

    """
    if shadow is generator:
        raise PluginError("train.ema needs a second generator, but the architecture's "
                          "build_generator() returned the same model twice: it must build a "
                          "new model on every call.")
    mine = [tuple(w.shape) for w in shadow.weights]
    theirs = [tuple(w.shape) for w in generator.weights]
    trainable = (len(shadow.trainable_weights), len(generator.trainable_weights))
    if mine != theirs or trainable[0] != trainable[1]:
        raise PluginError("train.ema needs a second generator with the same weights, but the "
                          "architecture's build_generator() built one with other weights "
                          f"({len(mine)} weights vs {len(theirs)}): it must build the same "
                          "network on every call.")
