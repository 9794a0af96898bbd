"""What ``ganlab run`` tells the user when training cannot go on."""

from __future__ import annotations

import inspect
import os
import re
import shlex
from typing import TYPE_CHECKING, Any

from ganlab.engine.checkpointer import PoisonedWeights
from ganlab.engine.cluster import Cluster
from ganlab.engine.hooks import NonFiniteLoss
from ganlab.engine.loop import LoopState
from ganlab.errors import PluginError
from ganlab.experiment import Experiment
from ganlab.registry import Registry

if TYPE_CHECKING:
    from ganlab.engine.build import Session


def lost_worker_message(cluster: Cluster, exc: Exception) -> str:
    """What a worker says when TensorFlow's health check lost another worker."""
    # TensorFlow prefixes the reason with the op's internal name: drop it.
    reason = re.sub(r"\{\{function_node [^}]*\}\}\s*", "", str(exc)).strip()
    first_line = reason.splitlines()[0] if reason else type(exc).__name__
    return (f"{cluster.label()} lost contact with another worker of the cluster "
            f"({first_line}). When one worker stops (an error, a kill), the others stop too; "
            "the first one that failed says why. Fix that, then start the same command on "
            "every worker again: the run resumes from the chief's last checkpoint.")


def resume_arguments(experiment: Experiment) -> list[str]:
    """The ``ganlab run`` arguments that resume ``experiment`` (quoted for a shell)."""
    arguments = [shlex.quote(str(experiment.path or "EXPERIMENT.yaml"))]
    for override in experiment.overrides:
        arguments += ["--set", shlex.quote(override)]
    return arguments


def non_finite_message(exc: NonFiniteLoss, session: Session) -> str:
    """What to tell the user when a loss became NaN/Inf."""
    shown = ", ".join(f"{k}={v:.4g}" for k, v in exc.logs.items())
    finite = (", ".join(f"{k}={v:.4g}" for k, v in exc.last_finite.items())
              if exc.last_finite else "none yet")
    return (f"A loss became non-finite at epoch {exc.epoch + 1}, step {exc.step + 1} (global "
            f"step {exc.epoch * session.steps_per_epoch + exc.step + 1}; {shown}). Last "
            f"finite values: {finite}. Nothing was saved from the poisoned step; "
            f"{session.checkpoints.last_good()}. Lower the learning rates, check the data, or "
            "try another loss, then run again to resume from that checkpoint (or branch from "
            "an earlier epoch with --from-checkpoint epoch=N).")


def poisoned_message(exc: PoisonedWeights, session: Session) -> str:
    """What to tell the user when the weights became NaN/Inf before a checkpoint."""
    return (f"The weights became non-finite (NaN/Inf in {len(exc.names)} arrays, first "
            f"{exc.names[0]}) by the {exc.checkpoint.describe()}, although the losses were "
            "still finite; the poisoned state was not saved, so "
            f"{session.checkpoints.last_good()}. Lower the learning rates or check the loss, "
            "then run again to resume from that checkpoint.")


def plugin_failure(exc: Exception, session: Session, registry: Registry,
                   plugin_callbacks: list[Any], state: LoopState) -> PluginError | None:
    """A message naming the plugin component that raised ``exc`` during training, if one did.

    The traceback is searched for a method of one of the experiment's plugin
    callbacks, of its loss, or of one of its regularizers.
    """
    settings = session.experiment.settings
    suspects = [(callback, "callback", block)
                for callback, block in zip(plugin_callbacks, settings.callbacks, strict=True)]
    suspects.append((session.trainer.loss, "loss", settings.loss))
    suspects += [(penalty.regularizer, "regularizer", block) for penalty, block
                 in zip(session.trainer.penalties.penalties, settings.regularizers, strict=True)]
    found = _culprit(exc, suspects) or _traced_culprit(exc, suspects)
    if found is None:
        return None
    (_, kind, block), method = found
    component = registry.resolve(kind, block.name)
    return PluginError(
        f"The {kind} '{component.name}' from {component.provider} raised "
        f"{_reason(exc)} (in {method}(), during epoch {state.epoch + 1}). "
        f"Training stopped; {session.checkpoints.last_good()}. Fix or remove the {kind} "
        "and run the same command again to resume (--debug shows the traceback).")


def _culprit(exc: BaseException, suspects: list[tuple[Any, str, dict[str, Any]]]
             ) -> tuple[tuple[Any, str, dict[str, Any]], str] | None:
    """The outermost traceback frame that is a method of one of ``suspects``."""
    trace = exc.__traceback__
    while trace is not None:
        owner = trace.tb_frame.f_locals.get("self")
        for suspect in suspects:
            if owner is not None and owner is suspect[0]:
                return suspect, trace.tb_frame.f_code.co_name
        trace = trace.tb_next
    return None


#: A frame in the text of an error raised while TensorFlow traced the step.
_TRACED_FRAME = re.compile(r'File "(?P<file>[^"]+)", line \d+, in (?P<function>\w+)')


def _traced_culprit(exc: BaseException, suspects: list[tuple[Any, str, dict[str, Any]]]
                    ) -> tuple[tuple[Any, str, dict[str, Any]], str] | None:
    """The suspect whose source file holds the innermost frame of a traced step's error.

    An exception raised while ``tf.function`` traces the step reaches the
    loop as a ``StagingError`` whose message, not traceback, lists the user
    code's frames.
    """
    frames = _TRACED_FRAME.findall(str(exc))
    sources = {}
    for suspect in suspects:
        try:
            sources[id(suspect)] = os.path.realpath(inspect.getsourcefile(type(suspect[0])) or "")
        except TypeError:  # a built-in type: no source file
            continue
    for file, function in reversed(frames):
        for suspect in suspects:
            if sources.get(id(suspect)) == os.path.realpath(file):
                return suspect, function
    return None


def _reason(exc: BaseException) -> str:
    """``Type: message``; for a traced step's error, its last line (the original error)."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    if _TRACED_FRAME.search(str(exc)) and lines:
        return lines[-1]
    return f"{type(exc).__name__}: {exc}"
