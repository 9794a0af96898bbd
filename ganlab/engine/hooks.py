"""What happens around the training steps: hooks the epoch loop calls between executions.

The loop runs the steps in *executions* of up to ``train.steps_per_execution``
steps each (one call to TensorFlow, one wait for the host). Between two
executions, at a step boundary, the hooks run in order. Each hook may also
name the next global step at which an execution must end (so that a step
checkpoint or a test fault happens exactly there): an execution never
crosses the end of an epoch nor a step a hook names.

- :class:`NonFiniteGuard`: stops the run at the first step whose losses
  were NaN/Inf (nothing is saved from it);
- :class:`StepCheckpoints`: ``checkpoint.every_n_steps`` mid-epoch checkpoints;
- :class:`FaultPoints`: the test-only ``GANLAB_FAULT`` ``step`` point;
- :class:`StopAgreement`: Ctrl-C/SIGTERM stop at the next execution
  boundary; under ``multi_worker`` every worker votes there (one collective
  per execution), so all of them stop at the same step.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from ganlab.engine import faults

if TYPE_CHECKING:
    from ganlab.engine.loop import LoopState
    from ganlab.engine.trainer import Execution


class NonFiniteLoss(Exception):
    """A loss became NaN or Inf (the runner turns this into a user message)."""

    def __init__(self, epoch: int, step: int, logs: dict[str, float],
                 last_finite: dict[str, float] | None):
        super().__init__(f"non-finite loss at epoch {epoch + 1}, step {step}")
        self.epoch, self.step, self.logs, self.last_finite = epoch, step, logs, last_finite


class StopRequested(Exception):
    """Training stopped at a step boundary on request (SIGINT/SIGTERM)."""

    def __init__(self, epoch: int, step: int):
        super().__init__(f"stopped at epoch {epoch + 1}, step {step}")
        self.epoch, self.step = epoch, step


class LoopHook(Protocol):
    """Something the epoch loop does between executions."""

    def next_boundary(self, state: LoopState) -> int | None:
        """The next global step (after ``state.global_step``) an execution must end at."""

    def after_execution(self, state: LoopState, execution: Execution,
                        steps_per_epoch: int) -> None:
        """Act at the step boundary reached (``state`` already advanced)."""


class NonFiniteGuard:
    """Stop at the first non-finite step; the state stays at the step before it."""

    def next_boundary(self, state: LoopState) -> int | None:
        """No boundary of its own: the execution itself breaks at a non-finite step."""
        return None

    def after_execution(self, state: LoopState, execution: Execution,
                        steps_per_epoch: int) -> None:
        """Raise :class:`NonFiniteLoss` naming the step and the last finite values."""
        if execution.bad_logs is not None:
            raise NonFiniteLoss(state.epoch, state.step_in_epoch, execution.bad_logs,
                                state.last_finite)


class StepCheckpoints:
    """A checkpoint every ``every_n_steps`` global steps, inside epochs."""

    def __init__(self, every_n_steps: int | None, save: Callable[[LoopState], Any]):
        self.every = every_n_steps
        self.save = save

    def next_boundary(self, state: LoopState) -> int | None:
        """The next multiple of ``every_n_steps``."""
        if not self.every:
            return None
        return (state.global_step // self.every + 1) * self.every

    def after_execution(self, state: LoopState, execution: Execution,
                        steps_per_epoch: int) -> None:
        """Save when a multiple is reached mid-epoch (epoch ends have their own checkpoint)."""
        if (self.every and state.global_step % self.every == 0
                and state.step_in_epoch < steps_per_epoch):
            self.save(state)


class FaultPoints:
    """The test-only ``step`` fault point (see :mod:`ganlab.engine.faults`).

    Args:
        cut_executions: End an execution at each step a fault is set for, so
            it fires right after that step. Off in a cluster, where every
            worker must run the same executions (faults are set per process):
            a fault then fires at the first boundary at or after its step.

    """

    def __init__(self, cut_executions: bool = True):
        self.cut_executions = cut_executions

    def next_boundary(self, state: LoopState) -> int | None:
        """The next global step a ``step`` fault is set for."""
        later = [step for step in faults.due_steps("step") if step > state.global_step]
        return min(later) if later and self.cut_executions else None

    def after_execution(self, state: LoopState, execution: Execution,
                        steps_per_epoch: int) -> None:
        """Fire the faults set for the steps just trained."""
        first = state.global_step - execution.finite_steps + 1
        for step in faults.due_steps("step"):
            if first <= step <= state.global_step:
                faults.fault_point("step", step)


class StopAgreement:
    """Stop at the boundary reached when a signal asked to (all workers together).

    Args:
        any_worker: Given this process's wish, whether any worker wants to
            stop: a collective under ``multi_worker``; ``None`` on one
            machine, where no vote is taken.

    """

    def __init__(self, any_worker: Callable[[bool], bool] | None = None):
        self.any_worker = any_worker

    def next_boundary(self, state: LoopState) -> int | None:
        """No boundary of its own: stopping waits for the end of the execution."""
        return None

    def after_execution(self, state: LoopState, execution: Execution,
                        steps_per_epoch: int) -> None:
        """Raise :class:`StopRequested` mid-epoch (at an epoch end the loop stops itself)."""
        if self.any_worker is not None:
            # The checkpoint on stopping is then due on every worker.
            state.stop_requested = self.any_worker(state.stop_requested)
        if state.stop_requested and state.step_in_epoch < steps_per_epoch:
            raise StopRequested(state.epoch, state.step_in_epoch)


def execution_length(state: LoopState, hooks: list[Any], steps_per_execution: int,
                     steps_per_epoch: int) -> int:
    """Steps in the next execution: K, cut at the epoch's end and at every hook's boundary."""
    end = min(state.global_step + steps_per_execution,
              state.global_step + steps_per_epoch - state.step_in_epoch)
    for hook in hooks:
        boundary = hook.next_boundary(state)
        if boundary is not None and boundary > state.global_step:
            end = min(end, boundary)
    return end - state.global_step
