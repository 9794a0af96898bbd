"""Scoring a run directory (``ganlab evaluate``).

The run's saved ``config.yaml`` says everything needed: its plugins, its
dataset (rebuilt through the registry, so the real images are the
experiment's own TFRecords) and its ``metrics:`` block (the default metrics
and their params). The generator is the exported one or a checkpoint epoch,
as for ``ganlab sample``. Each metric gets an :class:`EvaluationContext`
seeded like the training loop's metric callback (experiment seed + 1), so
``ganlab evaluate --epoch N`` reproduces the ``metrics.csv`` scores of
epoch N. The records go into ``RUN_DIR/metrics.json``.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ganlab.errors import ConfigError, GanlabError, PluginError, RunDirectoryError
from ganlab.evaluation.context import EvaluationContext
from ganlab.evaluation.records import METRICS_JSON, make_record, write_records
from ganlab.evaluation.results import MetricProtocol, MetricResult, compute_metric
from ganlab.evaluation.scores import checked_scores, declared_specs
from ganlab.latents import check_truncation

#: The metric evaluated when neither ``--metric`` nor the experiment names one.
DEFAULT_METRIC = "fid"
#: Images generated per call for metrics of the first contract (``compute(generate, ...)``).
GENERATE_BATCH = 256


@dataclass(frozen=True)
class EvaluationRequest:
    """What ``ganlab evaluate`` was asked.

    Attributes:
        run_dir: The run directory.
        epoch: Checkpoint epoch; ``None``: the exported generator, else the latest checkpoint.
        metrics: Metric names; empty: the experiment's ``metrics:`` block, else ``fid``.
        num_samples: Overrides each metric's ``num_samples``.
        split: Overrides each metric's real ``split``.
        extractor: Overrides each metric's ``extractor``.
        extractor_params: Merged into each metric's ``extractor_params``.
        seed: Seed of the generated samples (default: experiment seed + 1).
        overrides: ``--set KEY=VALUE`` applied to the run's saved config.
        real_baseline: Score this real split in place of the generator (the
            floor the metrics can reach on this data), e.g. ``train``.
        generator: ``"ema"`` or ``"raw"``; ``None``: the EMA generator when the
            run has one (``train.ema``), else the trained one.
        truncation: Truncate the samples' normal latents at this threshold.

    """

    run_dir: Path
    epoch: int | None = None
    metrics: tuple[str, ...] = ()
    num_samples: int | None = None
    split: str | None = None
    extractor: str | None = None
    extractor_params: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None
    overrides: tuple[str, ...] = ()
    real_baseline: str | None = None
    generator: str | None = None
    truncation: float | None = None


@dataclass(frozen=True)
class EvaluationReport:
    """What an evaluation produced.

    Attributes:
        records: The ``metrics.json`` records written, in metric order.
        generator: Where the generator came from (for messages).
        path: The ``metrics.json`` written.

    """

    records: list[dict[str, Any]]
    generator: str
    path: Path


LoadPlugins = Callable[[Sequence[str], Path], Any]


def evaluate_run(request: EvaluationRequest, load_plugins: LoadPlugins,
                 echo: Callable[[str], None] = print) -> EvaluationReport:
    """Score the run's generator with the requested metrics and record the results.

    Args:
        request: What to evaluate.
        load_plugins: ``(local_plugins, base_dir) -> LoadedPlugins`` (the CLI's loader,
            so ``-p`` and ``--disable-plugin`` apply).
        echo: Where progress messages go.

    Raises:
        GanlabError: Not a run directory, no such checkpoint, unknown metric
            or extractor, rejected params, missing data or weights.

    """
    from ganlab.components import build_dataset
    from ganlab.restore import _plugin_base_dir, read_run_info, restore_generator
    from ganlab.rundir import RunDirectory

    info = read_run_info(request.run_dir)
    directory = RunDirectory(Path(request.run_dir))
    experiment = _saved_experiment(directory, request.overrides)
    registry = load_plugins(experiment.settings.plugins,
                            _plugin_base_dir(directory, experiment.config)).registry
    # Metrics first: a typo in --metric should not wait for a generator to load.
    metrics = [_build_metric(block, registry, request, echo)
               for block in metric_blocks(experiment.config["metrics"], request.metrics)]
    dataset = build_dataset(experiment, registry)
    _warn_if_stale(dataset, echo)
    if request.truncation is not None:
        try:
            check_truncation(info.latent_distribution, request.truncation)
        except ValueError as exc:
            raise ConfigError(f"--truncation: {exc}.") from None
    kind = ""
    if request.real_baseline is None:
        restored = restore_generator(request.run_dir, request.epoch, registry,
                                     request.generator)
        for warning in restored.warnings:
            echo(f"warning: {warning}")
        generator, epoch, described = restored.generator, restored.epoch, restored.description
        kind = restored.kind
        if request.truncation is not None:
            described += f", latents truncated at {request.truncation:g}"
    else:
        generator, epoch = None, None
        described = f"the real '{request.real_baseline}' split as a baseline"
    echo(f"Evaluating {described}.")
    seed = request.seed if request.seed is not None else experiment.settings.seed + 1
    context = EvaluationContext(generator=generator, latent_dim=info.latent_dim,
                                latent_distribution=info.latent_distribution,
                                image_shape=info.image_shape, dataset=dataset,
                                registry=registry, seed=seed, epoch=epoch, echo=echo,
                                baseline_split=request.real_baseline, generator_kind=kind,
                                truncation=request.truncation, num_classes=info.num_classes)
    records = [make_record(_score(metric, provider, context, dataset),
                           specs=declared_specs(metric, _who(metric, provider)))
               for metric, provider in metrics]
    path = write_records(directory.root / METRICS_JSON, records)
    return EvaluationReport(records, described, path)


def _warn_if_stale(dataset: Any, echo: Callable[[str], None]) -> None:
    """Say so when the TFRecords scored against were prepared from raw files that changed since."""
    from ganlab.data import TFRecordImageDataset
    from ganlab.data.fingerprint import current_source_fingerprint, source_changed

    if not isinstance(dataset, TFRecordImageDataset):
        return
    try:
        recorded = dataset.manifest().get("source_fingerprint")
    except GanlabError:
        return  # no TFRecords: scoring says what to do
    current = current_source_fingerprint(dataset)
    if source_changed(recorded, current):
        echo(f"warning: the raw data changed since the TFRecords in {dataset.tfrecords} were "
             f"prepared (written from {recorded}; the source now holds {current}): these "
             "scores compare against the images as they were prepared then. To score against "
             "the new files, prepare them again with `ganlab prepare EXPERIMENT.yaml "
             "--overwrite` (that also drops the cached real statistics).")


def metric_blocks(configured: Sequence[Mapping[str, Any]], names: Sequence[str]
                  ) -> list[dict[str, Any]]:
    """The metric blocks to evaluate.

    The named ones (with the params of the experiment's block of that name,
    if it has one), else the experiment's ``metrics:``, else ``fid``.
    """
    if not names:
        chosen = list(configured) or [{"name": DEFAULT_METRIC, "params": {}}]
        return [{"name": b["name"], "params": dict(b.get("params") or {})} for b in chosen]
    by_name: dict[str, Mapping[str, Any]] = {}
    for block in configured:
        by_name.setdefault(block["name"], block)
    return [{"name": name, "params": dict((by_name.get(name) or {}).get("params") or {})}
            for name in dict.fromkeys(names)]  # each once, in the order given


def overridden_params(params: Mapping[str, Any], request: EvaluationRequest,
                      accepted: Callable[[str], bool]) -> tuple[dict[str, Any], list[str]]:
    """``params`` with the command-line overrides the metric accepts, and the ones it does not.

    A different ``--extractor`` drops the experiment's ``extractor_params``
    (they belong to the other extractor); ``--extractor-param`` adds to them.
    """
    params = dict(params)
    if request.extractor is not None and request.extractor != params.get("extractor"):
        params.pop("extractor_params", None)
    wanted: dict[str, Any] = {"num_samples": request.num_samples, "split": request.split,
                              "extractor": request.extractor, "seed": request.seed}
    if request.extractor_params:
        wanted["extractor_params"] = {**(params.get("extractor_params") or {}),
                                      **request.extractor_params}
    ignored = []
    for key, value in wanted.items():
        if value is None:
            continue
        if accepted(key):
            params[key] = value
        else:
            ignored.append(key)
    return params, ignored


def _saved_experiment(directory: Any, overrides: Sequence[str]) -> Any:
    from ganlab.experiment import experiment_from_data

    try:
        return experiment_from_data(directory.read_config(), path=directory.config,
                                    overrides=overrides)
    except ConfigError as exc:
        if overrides:
            raise
        raise RunDirectoryError(f"The saved config of {directory.root} no longer validates: "
                                f"{exc}") from None


def _build_metric(block: Mapping[str, Any], registry: Any, request: EvaluationRequest,
                  echo: Callable[[str], None]) -> tuple[Any, str]:
    """The metric object and who provides it."""
    component = registry.resolve("metric", block["name"])
    try:
        parameters = inspect.signature(component.factory).parameters
    except (TypeError, ValueError):
        parameters = {}
    open_ended = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    params, ignored = overridden_params(block["params"], request,
                                        lambda key: open_ended or key in parameters)
    for key in ignored:
        echo(f"note: the metric '{block['name']}' has no '{key}' param; the command-line "
             f"{key.replace('_', '-')} does not apply to it.")
    return registry.create("metric", block["name"], params), component.provider


def _score(metric: Any, provider: str, context: EvaluationContext, dataset: Any
           ) -> MetricResult:
    """Run one metric; give a plain-dict result (first metric contract) a minimal protocol."""
    import numpy as np

    def generate(count: int) -> Any:
        return np.concatenate(list(context.fake_batches(count, GENERATE_BATCH)))

    name = str(getattr(metric, "name", type(metric).__name__))
    try:
        result = compute_metric(metric, generate, dataset.load(), context)
    except GanlabError:
        raise
    except Exception as exc:
        raise PluginError(f"The metric '{name}' from {provider} failed: "
                          f"{type(exc).__name__}: {exc}") from exc
    who = _who(metric, provider)
    scores = checked_scores(result, who, declared_specs(metric, who))
    if isinstance(result, MetricResult):
        if not isinstance(result.protocol, MetricProtocol):
            raise PluginError(f"{who} returned a MetricResult whose protocol is "
                              f"{type(result.protocol).__name__}, not a MetricProtocol.")
        return MetricResult(scores, result.protocol, result.details)
    protocol = MetricProtocol(metric=name, extractor="", weights_sha256="", num_fake=0,
                              num_real=0, real_split="", image_size=context.image_shape,
                              resize="", seed=context.seed, epoch=context.epoch,
                              samples=context.protocol_samples, **context.protocol_generator)
    return MetricResult(scores, protocol)


def _who(metric: Any, provider: str) -> str:
    """``The metric 'NAME' from PROVIDER``, for messages."""
    return f"The metric '{getattr(metric, 'name', type(metric).__name__)}' from {provider}"
