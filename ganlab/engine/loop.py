"""The epoch loop: executions of K steps, with callbacks and hooks between them.

Read :func:`fit` top-down: for each epoch, the callbacks' epoch begin, the
epoch's executions (each followed by the batch callbacks and the
:mod:`ganlab.engine.hooks`), the epoch end (callbacks, fault point, the vote
on stopping, the end-of-epoch checkpoint).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ganlab.engine.faults import fault_point
from ganlab.engine.hooks import StopRequested, execution_length
from ganlab.engine.trainer import LOG_KEYS, Carry, Execution, GANTrainer


@dataclass
class LoopState:
    """Counters the loop advances; saved in every checkpoint.

    Attributes:
        epoch: Completed epochs.
        step_in_epoch: Steps done in the current epoch.
        global_step: Steps done in the whole run.
        stop_requested: Set by the signal handler; the loop stops at the next
            execution boundary.
        last_finite: Logs of the last step whose losses were all finite.
        epoch_totals: Running sums of the current epoch's logs (so that an
            epoch resumed mid-way reports the same means).
        epoch_counted: Steps summed in ``epoch_totals``.

    """

    epoch: int = 0
    step_in_epoch: int = 0
    global_step: int = 0
    stop_requested: bool = False
    last_finite: dict[str, float] | None = None
    epoch_totals: dict[str, float] = field(default_factory=dict)
    epoch_counted: int = 0

    def advance(self, execution: Execution) -> None:
        """Count the finite steps of ``execution``."""
        self.step_in_epoch += execution.finite_steps
        self.global_step += execution.finite_steps
        self.epoch_counted += execution.finite_steps
        self.epoch_totals = dict(execution.totals)
        if execution.last_logs is not None:
            self.last_finite = execution.last_logs

    def carry(self, keys: Sequence[str] = LOG_KEYS) -> Carry:
        """Where the next execution starts from (``keys``: what the steps log)."""
        totals = {key: float(self.epoch_totals.get(key, 0.0)) for key in keys}
        last_g = self.last_finite.get("g_loss", 0.0) if self.last_finite else 0.0
        return Carry(totals, float(last_g))

    def next_epoch(self) -> None:
        """Move to the start of the next epoch."""
        self.epoch += 1
        self.step_in_epoch = 0
        self.epoch_totals = {}
        self.epoch_counted = 0


@dataclass
class Loop:
    """What :func:`fit` drives.

    Attributes:
        trainer: The train step.
        batches: The distributed batches of the current epoch, from its state
            (skipping the steps already trained).
        callbacks: A ``keras.callbacks.CallbackList``.
        hooks: The :mod:`ganlab.engine.hooks`, in order.
        save: Writes a checkpoint of the state (end of epoch, stop).
        agree: Given ``(stop_training, stop_requested)``, the same answer on
            every worker (a collective in a cluster).
        epochs: Epochs to train in all.
        steps_per_epoch: Steps in a whole epoch.
        steps_per_execution: Steps per call to TensorFlow (at most).
        batch_size: The global batch size (for throughput).
        checkpoint_every_n_epochs: End-of-epoch checkpoint period.
        should_stop: Whether a callback asked to stop (``model.stop_training``).

    """

    trainer: GANTrainer
    batches: Callable[[LoopState], Any]
    callbacks: Any
    hooks: list[Any]
    save: Callable[[LoopState], Any]
    agree: Callable[[bool, bool], tuple[bool, bool]]
    epochs: int
    steps_per_epoch: int
    steps_per_execution: int
    batch_size: int
    checkpoint_every_n_epochs: int
    should_stop: Callable[[], bool]


def fit(loop: Loop, state: LoopState) -> dict[str, float]:
    """Train the remaining epochs; returns the last epoch's logs.

    Raises:
        StopRequested: A signal asked to stop (the checkpoint at the boundary
            reached is the caller's to write when mid-epoch).
        NonFiniteLoss: A loss became NaN/Inf.

    """
    logs: dict[str, float] = {}
    loop.callbacks.on_train_begin()
    while state.epoch < loop.epochs and not loop.should_stop():
        loop.callbacks.on_epoch_begin(state.epoch)
        logs = run_epoch(loop, state)
        loop.callbacks.on_epoch_end(state.epoch, logs)
        fault_point("epoch-end")
        _, stop = loop.agree(loop.should_stop(), state.stop_requested)
        state.stop_requested = stop
        state.next_epoch()
        if (state.epoch % loop.checkpoint_every_n_epochs == 0 or state.epoch == loop.epochs
                or stop):
            loop.save(state)
        if stop and state.epoch < loop.epochs:
            raise StopRequested(state.epoch, 0)
    loop.callbacks.on_train_end(logs)
    return logs


def run_epoch(loop: Loop, state: LoopState) -> dict[str, float]:
    """One epoch (or what remains of it), in executions; returns its mean logs and speed."""
    learning_rates = loop.trainer.learning_rates()  # the rates this epoch trains with
    started = time.perf_counter()
    trained = 0
    iterator = iter(loop.batches(state))
    while state.step_in_epoch < loop.steps_per_epoch:
        steps = execution_length(state, loop.hooks, loop.steps_per_execution,
                                 loop.steps_per_epoch)
        loop.callbacks.on_train_batch_begin(state.step_in_epoch)
        execution = loop.trainer.execute(iterator, steps, state.global_step,
                                         state.carry(loop.trainer.log_keys))
        state.advance(execution)
        trained += execution.finite_steps
        if execution.last_logs is not None and execution.bad_logs is None:
            loop.callbacks.on_train_batch_end(state.step_in_epoch - 1, execution.last_logs)
        for hook in loop.hooks:
            hook.after_execution(state, execution, loop.steps_per_epoch)
    seconds = time.perf_counter() - started
    logs = {key: state.epoch_totals.get(key, 0.0) / max(state.epoch_counted, 1)
            for key in loop.trainer.log_keys}
    logs.update(learning_rates)
    logs["seconds"] = seconds
    logs["images_per_sec"] = trained * loop.batch_size / seconds if seconds > 0 else 0.0
    return logs
