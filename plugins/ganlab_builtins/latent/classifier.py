"""Finding the dataset's classifier for a run: a ``feature_extractor`` component.

Query concepts are judged by the classifier of the run's own dataset (by
default the ``domain`` feature extractor, which ``ganlab train-classifier``
trains and keeps beside the TFRecords). It is created through the plugin
registry like every component, with the dataset's TFRecord folder as its
``data_dir``.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ganlab.errors import GanlabError, PluginError

DEFAULT_CLASSIFIER = "domain"


def dataset_folder(config: Mapping[str, Any], registry: Any) -> Path:
    """The TFRecord folder of the experiment ``config``'s dataset."""
    block = config["dataset"]
    dataset = registry.create("dataset", block["name"], block.get("params") or {})
    return Path(dataset.tfrecords)


def open_classifier(config: Mapping[str, Any], image_shape: tuple[int, ...], *,
                    name: str = DEFAULT_CLASSIFIER, base_dir: Path | None = None,
                    registry: Any | None = None) -> Any:
    """The classifier that judges a run's images.

    Args:
        config: The run's resolved experiment config.
        image_shape: ``(h, w, c)`` of the generated images.
        name: The feature extractor (``domain`` by default).
        base_dir: Folder the config's local plugin paths are relative to.
        registry: The plugin registry (default: the installed plugins plus
            those the config lists).

    Raises:
        GanlabError: The extractor is unknown, cannot be created (e.g. it
            was never trained), or is no classifier.

    """
    if registry is None:
        from ganlab.plugins import load_plugins

        registry = load_plugins(list(config.get("plugins") or []), base_dir=base_dir).registry
    data_dir = dataset_folder(config, registry)
    extractor = registry.create("feature_extractor", name, {}, data_dir=data_dir,
                                image_shape=tuple(image_shape))
    label_names = getattr(extractor, "label_names", None)
    if not label_names or not callable(getattr(extractor, "probabilities", None)):
        raise PluginError(f"The feature extractor '{name}' gives no class probabilities, so it "
                          "cannot judge label queries; use a classifier such as 'domain'.")
    return extractor


def describe_failure(error: GanlabError) -> str:
    """Why the classifier is missing, in one paragraph (the error says what to do)."""
    return f"Label queries need the dataset's classifier, which is not available: {error}"
