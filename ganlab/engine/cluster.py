"""Who does what when several processes train one run (MultiWorkerMirroredStrategy).

Every worker of a cluster runs the same ``ganlab run`` command. They must
issue the same collective operations in the same order (the train steps,
every ``strategy.reduce``), or they wait on each other forever. Only the
chief (worker 0, or the task of a ``chief`` job) owns the run directory:
it takes the lock and writes every file; the other workers only read it.

:class:`Cluster` wraps the strategy with the few collectives the runner
needs to keep workers in step outside the train step: telling every
worker the chief's choice (which checkpoint it restored), whether the
chief's setup failed, and whether any worker wants to stop. On one
machine (any strategy but a multi-worker one) these cost nothing: no
collective is issued and every method answers locally.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from ganlab.errors import ConfigError, GanlabError

Result = TypeVar("Result")


class ChiefFailed(GanlabError):
    """The chief failed before training; a non-chief worker stops with it."""

    exit_code = 6


@dataclass(frozen=True)
class Cluster:
    """The workers training one run, as seen from this process.

    Attributes:
        strategy: The ``tf.distribute.Strategy``.
        num_workers: Processes in the cluster (1 on one machine).
        task_id: This process's position in the cluster; 0 is the chief.
        task: This process's task as TF_CONFIG names it: ``worker 1``.

    """

    strategy: Any
    num_workers: int = 1
    task_id: int = 0
    task: str = "worker 0"

    @classmethod
    def of(cls, strategy: Any) -> Cluster:
        """The cluster of ``strategy`` (one worker unless it is multi-worker with TF_CONFIG).

        Raises:
            ConfigError: TF_CONFIG names a task that does not train
                (an ``evaluator`` or ``ps``), which ganlab does not support.

        """
        import tensorflow as tf

        resolver = getattr(strategy, "cluster_resolver", None)
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or not resolver:
            return cls(strategy)
        jobs = resolver.cluster_spec().as_dict()
        chiefs, workers = len(jobs.get("chief", [])), len(jobs.get("worker", []))
        if chiefs + workers <= 1 or resolver.task_type is None:
            return cls(strategy)
        if resolver.task_type not in ("chief", "worker"):
            raise ConfigError(f"TF_CONFIG makes this process a {resolver.task_type!r} task; "
                              "ganlab trains with 'chief' and 'worker' tasks only.")
        # The order MultiWorkerMirroredStrategy numbers replicas in: the chief
        # first, then the workers; so replica 0 is always on the chief.
        index = int(resolver.task_id or 0)
        position = 0 if resolver.task_type == "chief" else chiefs + index
        return cls(strategy, num_workers=chiefs + workers, task_id=position,
                   task=f"{resolver.task_type} {index}")

    @property
    def is_chief(self) -> bool:
        """Whether this process owns (locks and writes) the run directory."""
        return self.task_id == 0

    @property
    def distributed(self) -> bool:
        """Whether other processes train with this one."""
        return self.num_workers > 1

    def label(self) -> str:
        """``worker 1 (of 2 workers)``."""
        return f"{self.task} (of {self.num_workers} workers)"

    def prefixed(self, echo: Callable[[str], None]) -> Callable[[str], None]:
        """``echo`` with non-chief messages tagged, so interleaved logs say who spoke."""
        if not self.distributed or self.is_chief:
            return echo
        return lambda message: echo(f"[{self.task}] {message}")

    # -- collectives: every worker must call these, in the same order ----------------------
    def broadcast(self, values: Sequence[int]) -> list[int]:
        """The chief's ``values`` (integers), on every worker."""
        if not self.distributed:
            return [int(v) for v in values]
        import tensorflow as tf

        mine = tf.constant([int(v) for v in values] if self.is_chief else [0] * len(values),
                           tf.int64)
        # Only replica 0 (on the chief) contributes, so the sum is its value.
        return self._sum(lambda context: mine if context.replica_id_in_sync_group == 0
                         else tf.zeros_like(mine))

    def any_of(self, flags: Sequence[bool]) -> list[bool]:
        """For each flag, whether it is set on any worker."""
        if not self.distributed:
            return [bool(f) for f in flags]
        import tensorflow as tf

        mine = tf.constant([int(bool(f)) for f in flags], tf.int64)
        return [total > 0 for total in self._sum(lambda context: mine)]

    def _sum(self, per_replica: Callable[[Any], Any]) -> list[int]:
        import tensorflow as tf

        values = self.strategy.experimental_distribute_values_from_function(per_replica)
        total = self.strategy.reduce(tf.distribute.ReduceOp.SUM, values, axis=None)
        return [int(v) for v in total.numpy()]

    def chief_first(self, action: Callable[[], Result], what: str) -> Result | None:
        """Run ``action`` on the chief only; every worker then learns whether it failed.

        It is also a barrier: no worker returns before the chief finished
        ``action`` (so the files it wrote are there to read).

        Args:
            action: What only the chief does (e.g. take the lock).
            what: Words for a failure message: ``preparing the data``.

        Returns:
            ``action()`` on the chief (or on one machine); ``None`` elsewhere.

        Raises:
            ChiefFailed: On a non-chief worker, when the chief's ``action``
                raised (the chief raises its own error).

        """
        if not self.distributed:
            return action()
        result: Result | None = None
        failure: BaseException | None = None
        if self.is_chief:
            try:
                result = action()
            except BaseException as exc:  # re-raised below, once every worker knows
                failure = exc
        [failed] = self.broadcast([failure is not None])
        if failure is not None:
            raise failure
        if failed:
            raise ChiefFailed(
                f"The chief failed while {what}, so {self.label()} stops too; the chief's "
                "output says why. Fix that, then start the same command on every "
                "worker again.")
        return result
