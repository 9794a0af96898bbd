"""The built-in ``tfds`` dataset: any TensorFlow Datasets builder already prepared on disk.

`TensorFlow Datasets <https://www.tensorflow.org/datasets>`_ (TFDS) keeps a
prepared dataset in ``<data_dir>/<name>/<config>/<version>/`` (its records
and ``dataset_info.json``). ganlab reads that folder **offline**: it never
downloads or builds. When the dataset is not there, the message gives the
command that prepares it: ``tfds build NAME --data_dir DIR``. The builder is
found by ``tfds.builder(name, data_dir=...)``: a builder whose code is
installed (the TFDS catalogue, or a module the experiment imports), or one
known only from its prepared files.

``prepare`` copies the chosen image (and class label) of every example into
ganlab's own TFRecords at the training size, with the same resize policy as
``image_folder``; the class names come from the label's ``ClassLabel``
feature and are written into the manifest. Needs the optional
``tensorflow-datasets`` package (``pip install 'ganlab[tfds]'``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ganlab import hookimpl, params
from ganlab.data import ImageExample, SkipExample, TFRecordImageDataset
from ganlab.data.imagefile import open_image
from ganlab.errors import DataError

PARTITIONS_ALL = "all"
AUTO = "auto"
CHANNELS = (1, 3)
RESIZE_POLICIES = ("center_crop", "pad", "stretch")
RESAMPLING = ("lanczos", "bicubic", "bilinear", "nearest", "box")
INSTALL_HINT = "pip install 'ganlab[tfds]'"
_SPLIT_NAME = re.compile(r"[A-Za-z0-9_]+")


class TFDSDataset(TFRecordImageDataset):
    """The images (and class labels) of a TFDS dataset prepared in ``data_dir``.

    Args:
        name: The builder, as ``tfds.builder`` takes it: ``mnist``,
            ``cifar10:3.0.2``, ``my_dataset/config:1.0.0``.
        data_dir: The TFDS data folder it was prepared in (``tfds build NAME
            --data_dir DIR``; TFDS's own default is ``~/tensorflow_datasets``).
        tfrecords: Output folder of ganlab's TFRecords.
        splits: ganlab split → TFDS split (``{train: train, test: "test[:50%]"}``);
            default: every split of the dataset under its own name.
        partition: What ``load()`` returns: a ganlab split name, or ``all``.
        image_key: The image feature (default ``image``).
        label_key: The ``ClassLabel`` feature that gives each image its class:
            ``auto`` (default: ``label`` when it is one, else none), a
            feature name, or ``none``.
        image_size: Side of the stored square images, 4 to 2048 (default 64).
        channels: 3 (RGB, default) or 1 (gray).
        resize: ``center_crop`` (default), ``pad`` or ``stretch``.
        resample: ``lanczos``, ``bicubic`` (default), ``bilinear``,
            ``nearest`` or ``box``.
        background: Colour under transparent pixels and around padded images.
        on_error: ``skip`` (default: skip and report undecodable images) or ``fail``.
        workers: Processes ``prepare`` uses.

    """

    def __init__(self, *, name: str, data_dir: str | Path, tfrecords: str | Path,
                 splits: Mapping[str, str] | None = None, partition: str = "train",
                 image_key: str = "image", label_key: str = AUTO, image_size: int = 64,
                 channels: int = 3, resize: str = "center_crop", resample: str = "bicubic",
                 background: str = "white", on_error: str = "skip",
                 workers: int | None = None):
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"name must be a TFDS dataset name such as 'mnist', got {name!r}")
        if data_dir is None:
            raise ValueError("data_dir is required: the TFDS data folder the dataset was "
                             "prepared in (e.g. ~/tensorflow_datasets)")
        super().__init__(source=data_dir, tfrecords=tfrecords, on_error=on_error)
        self.name = name.strip()
        self.splits = _checked_splits(splits)
        if partition != PARTITIONS_ALL and not _SPLIT_NAME.fullmatch(str(partition)):
            raise ValueError(f"partition must be a split name or 'all', got {partition!r}")
        if self.splits is not None and partition not in (PARTITIONS_ALL, *self.splits):
            raise ValueError(f"partition is {partition!r}, which is not one of the splits "
                             f"{', '.join(self.splits)} (or 'all')")
        self.partition = partition
        self.image_key = _key("image_key", image_key)
        self.label_key = _key("label_key", label_key)
        self.image_size = params.positive_int("image_size", image_size)
        if not 4 <= self.image_size <= 2048:
            raise ValueError(f"image_size must be from 4 to 2048 pixels, got {image_size}")
        self.channels = params.choice("channels", channels, CHANNELS)
        self.resize = params.choice("resize", resize, RESIZE_POLICIES)
        self.resample = params.choice("resample", resample, RESAMPLING)
        self.background_name = background
        self.background = _colour(background)
        if workers is not None:
            params.positive_int("workers", workers)
        self.workers = workers
        self.image_shape = (self.image_size, self.image_size, self.channels)
        self.default_split = partition
        self._state: dict[str, Any] = {}
        # Known before any prepare (``ganlab validate`` checks a conditional
        # architecture against them); without the data, the manifest says.
        if self.source.is_dir():
            try:
                self._declare_classes()
            except DataError:  # plan() raises it again, with the prepare
                pass

    # Worker processes get the settings; each opens the builder and its readers itself.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_state"] = {}
        return state

    # -- the contract -----------------------------------------------------------------------
    def options(self) -> Mapping[str, Any]:
        """What changes the records: the builder, the splits, the keys and the conversion."""
        return {"dataset": "tfds", "name": self.name, "splits": self.splits,
                "image_key": self.image_key, "label_key": self.label_key,
                "image_size": self.image_size, "channels": self.channels,
                "resize": self.resize, "resample": self.resample,
                "background": self.background_name}

    def source_available(self) -> bool:
        """Whether the dataset is prepared in ``data_dir`` (and TFDS is installed)."""
        try:
            self._builder()
        except DataError:
            return False
        return True

    def source_fingerprint(self) -> str | None:
        """Names, sizes and times of the prepared dataset's files (``None``: not there)."""
        from ganlab.data import source_fingerprint

        try:
            folder = Path(str(self._builder().data_path))
        except DataError:
            return None
        return source_fingerprint([folder], root=folder)

    def plan(self) -> Mapping[str, Sequence[Any]]:
        """``split → [(name, TFDS split, index, partition), ...]``; reads features and classes.

        Raises:
            DataError: TFDS is missing, the dataset is not prepared, a key or
                a split does not exist, or the label is no ``ClassLabel``.

        """
        info = self._builder().info
        self._check_image_feature(info)
        self._declare_classes()
        mapping = self._split_mapping(info)
        plan = {}
        for partition, (split, spec) in enumerate(mapping.items()):
            count = self._split_size(info, spec)
            plan[split] = [(f"{self.name}:{spec}#{index}", spec, index, partition)
                           for index in range(count)]
        return plan

    def decode(self, item: tuple[str, str, int, int]) -> ImageExample:
        """Example ``index`` of the TFDS split, converted to the training size."""
        name, spec, index, partition = item
        example = self._example(spec, index)
        raw = bytes(example[self.image_key])
        # open_image applies ganlab's one pixel limit (a decompression bomb is skipped
        # and named) and turns every unreadable image into a SkipExample.
        with open_image(raw) as picture:
            try:
                array = _training_array(picture, self)
            except (OSError, ValueError) as exc:
                raise SkipExample(f"cannot convert the image: {exc}") from None
        label = int(example[self._label_name()]) if self._label_name() else -1
        return ImageExample(image=array, filename=name, label=label, partition=partition)

    def describe_source(self) -> str:
        """What was read."""
        return f"the TFDS dataset '{self.name}' in {self.source}"

    # -- the builder and its features -------------------------------------------------------
    def _builder(self) -> Any:
        """The prepared builder (once per process).

        Raises:
            DataError: TFDS is not installed, or the dataset is not prepared in ``data_dir``.

        """
        if "builder" in self._state:
            return self._state["builder"]
        try:
            import tensorflow_datasets as tfds
        except ImportError:
            raise DataError("The tfds dataset needs the tensorflow-datasets package, which is "
                            f"not installed: `{INSTALL_HINT}`.") from None
        build = (f"`tfds build {self.name.split(':')[0]} --data_dir {self.source}` (with "
                 "the network, once; ganlab itself never downloads)")
        if not self.source.is_dir():
            raise DataError(f"The TFDS data folder {self.source} does not exist. Prepare the "
                            f"dataset '{self.name}' there with {build}, or set the "
                            "dataset's `data_dir` to the folder it was prepared in.")
        try:
            builder = tfds.builder(self.name, data_dir=str(self.source))
        except Exception as exc:  # tfds raises DatasetNotFoundError and others
            raise DataError(f"TFDS cannot find the dataset '{self.name}' in {self.source} "
                            f"({type(exc).__name__}: {_first_line(exc)}). Prepare it there "
                            f"with {build}, or check `name` and `data_dir`.") from None
        if not builder.is_prepared():
            raise DataError(f"The TFDS dataset '{self.name}' is not prepared in "
                            f"{self.source} (no {builder.data_path}). Prepare it with {build}.")
        self._state["builder"] = builder
        return builder

    def _declare_classes(self) -> None:
        """``num_classes`` and ``class_names`` from the label's ``ClassLabel`` feature.

        Raises:
            DataError: See :meth:`_builder` and :meth:`_label_feature`.

        """
        label = self._label_feature(self._builder().info)
        self.num_classes = int(label.num_classes) if label is not None else 0
        self.class_names = list(label.names) if label is not None else None

    def _check_image_feature(self, info: Any) -> None:
        import tensorflow_datasets as tfds

        features = info.features
        feature = features[self.image_key] if self.image_key in features else None
        if not isinstance(feature, tfds.features.Image):
            images = [key for key, value in features.items()
                      if isinstance(value, tfds.features.Image)]
            what = "has no feature" if feature is None else "is not an Image feature"
            raise DataError(f"The TFDS dataset '{self.name}' {what} '{self.image_key}' "
                            f"(its image features: {', '.join(images) or 'none'}). Set "
                            "`image_key` to one of them.")

    def _label_name(self) -> str | None:
        """The label feature found by :meth:`_label_feature` (``None``: no labels)."""
        if "label_name" not in self._state:
            self._label_feature(self._builder().info)
        return self._state["label_name"]

    def _label_feature(self, info: Any) -> Any:
        """The ``ClassLabel`` feature giving classes, or ``None``.

        Raises:
            DataError: A named label feature that is missing or no ``ClassLabel``.

        """
        import tensorflow_datasets as tfds

        features = info.features
        key = self.label_key
        if key == AUTO:
            key = "label" if "label" in features and isinstance(
                features["label"], tfds.features.ClassLabel) else "none"
        if key == "none":
            self._state["label_name"] = None
            return None
        feature = features[key] if key in features else None
        if not isinstance(feature, tfds.features.ClassLabel):
            labels = [k for k, v in features.items() if isinstance(v, tfds.features.ClassLabel)]
            what = "has no feature" if feature is None else "has no ClassLabel feature"
            raise DataError(f"The TFDS dataset '{self.name}' {what} '{key}' (its class "
                            f"labels: {', '.join(labels) or 'none'}). Set `label_key` to one "
                            "of them, or to none for images without classes.")
        self._state["label_name"] = key
        return feature

    def _split_mapping(self, info: Any) -> dict[str, str]:
        """The split mapping (ganlab split → TFDS split), each checked against the dataset."""
        available = list(info.splits)
        mapping = self.splits or {_split_name(split): split for split in available}
        if self.partition != PARTITIONS_ALL and self.partition not in mapping:
            raise DataError(f"partition is '{self.partition}', but the splits are "
                            f"{', '.join(mapping)}: set `partition` to one of them or 'all'.")
        for spec in mapping.values():
            self._split_size(info, spec)
        return mapping

    def _split_size(self, info: Any, spec: str) -> int:
        try:
            return int(info.splits[spec].num_examples)
        except (KeyError, ValueError, AssertionError) as exc:
            raise DataError(f"The TFDS dataset '{self.name}' has no split '{spec}' "
                            f"({_first_line(exc)}); its splits are "
                            f"{', '.join(info.splits) or 'none'} (slices such as "
                            "'train[:90%]' work too).") from None

    # -- reading examples in order ----------------------------------------------------------
    def _example(self, spec: str, index: int) -> dict[str, Any]:
        """Example ``index`` of ``spec``, its image still encoded.

        A shard's examples are asked for in order, so one reader per process
        walks forward; it is reopened (skipping to ``index``) only when asked
        for another place.
        """
        cursor = self._state.get("cursor")
        if cursor is None or cursor[0] != spec or cursor[1] != index:
            cursor = (spec, index, self._reader(spec, index))
        spec, position, reader = cursor
        try:
            example = next(reader)
        except StopIteration:
            raise SkipExample(f"the TFDS split '{spec}' ended before example {index}") from None
        self._state["cursor"] = (spec, position + 1, reader)
        return example

    def _reader(self, spec: str, start: int) -> Any:
        import tensorflow_datasets as tfds

        builder = self._builder()
        label = self._label_name()
        keys = [self.image_key, *([label] if label else [])]
        data = builder.as_dataset(split=spec, shuffle_files=False,
                                  decoders={self.image_key: tfds.decode.SkipDecoding()})
        data = data.map(lambda example: {key: example[key] for key in keys}).skip(start)
        return iter(tfds.as_numpy(data))


# -- helpers ------------------------------------------------------------------------------------
def _checked_splits(splits: Any) -> dict[str, str] | None:
    if splits is None:
        return None
    if not isinstance(splits, Mapping) or not splits:
        raise ValueError(f"splits must map ganlab split names to TFDS splits, e.g. "
                         f"{{train: train, test: test}}, got {splits!r}")
    checked = {}
    for split, spec in splits.items():
        if not isinstance(split, str) or not _SPLIT_NAME.fullmatch(split) \
                or split == PARTITIONS_ALL:
            raise ValueError(f"split name {split!r} must be letters, digits and _ (not 'all')")
        if not isinstance(spec, str) or not spec.strip():
            raise ValueError(f"splits.{split} must be a TFDS split such as 'train' or "
                             f"'train[:90%]', got {spec!r}")
        checked[split] = spec.strip()
    return checked


def _key(name: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} must be a feature name, got {value!r}")
    return value.strip()


def _split_name(spec: str) -> str:
    """A TFDS split name as a ganlab split name (letters, digits and _)."""
    return re.sub(r"[^A-Za-z0-9_]", "_", spec)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def _colour(value: Any) -> tuple[int, int, int]:
    from ganlab_builtins.image_folder.convert import parse_colour

    return parse_colour(value)


def _training_array(picture: Any, dataset: TFDSDataset) -> Any:
    from ganlab_builtins.image_folder.convert import training_array

    return training_array(picture, size=dataset.image_size, channels=dataset.channels,
                          policy=dataset.resize, resample=dataset.resample,
                          background=dataset.background)


@hookimpl
def register_datasets(register: Any) -> None:
    """Register the ``tfds`` dataset."""
    register("tfds", TFDSDataset,
             description="a TensorFlow Datasets dataset already prepared in a data_dir "
                         "(offline), images and ClassLabel names")
