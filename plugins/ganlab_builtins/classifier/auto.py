"""Training the domain classifier on demand, when a command needs one that is not there.

``ganlab run``, ``evaluate`` and ``arithmetic`` load the classifier through
:func:`~ganlab_builtins.classifier.extractor.load_domain_classifier`; when a
TFRecord folder has none yet, :func:`ensure_trained` trains it exactly as
``ganlab train-classifier`` would with its defaults (same splits, epochs, batch
and seed: the classifier belongs to the data folder, not to the experiment
that first needed it), then the caller loads it.

It trains in a child process (:func:`main`), so the caller's TensorFlow state
is left as it was: the training seeds Keras' global generators and turns on op
determinism, which would otherwise leak into the GAN run that asked for it. A lock file in the
classifier's folder makes concurrent runs (a sweep's) train it once.
"""

from __future__ import annotations

import fcntl
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ganlab.data import ImageExample, TFRecordImageDataset
from ganlab.data.manifest import read_manifest
from ganlab.errors import DataError

from .child import run_json_child
from .protocol import classifier_dir, protocol_path

LOCK_NAME = ".training.lock"


class PreparedFolder(TFRecordImageDataset):
    """A finished TFRecord folder, read through its manifest alone (it never prepares).

    Gives the classifier's training what it reads from a dataset (``tfrecords``,
    ``manifest()``, ``load(split, with_metadata=True)``) without the dataset
    plugin or its raw source.
    """

    def __init__(self, tfrecords: str | Path):
        super().__init__(source=None, tfrecords=tfrecords)
        manifest = read_manifest(self.tfrecords)
        self.image_shape = tuple(int(n) for n in manifest["image_shape"])
        self.default_split = next(iter(manifest["splits"]))
        self._description = str(manifest.get("source", ""))
        self._options = dict(manifest.get("options") or {})

    def options(self) -> Mapping[str, Any]:
        """The options the folder was prepared with (so it reads as prepared)."""
        return self._options

    def source_available(self) -> bool:
        """No raw source: the folder is read as it is."""
        return False

    def plan(self) -> Mapping[str, Sequence[Any]]:
        """A prepared folder is never prepared again from here."""
        raise DataError(f"{self.tfrecords} is read as prepared; it cannot be prepared again "
                        "without its dataset's experiment.")

    def decode(self, item: Any) -> ImageExample:
        """Never called (see :meth:`plan`)."""
        raise NotImplementedError

    def describe_source(self) -> str:
        """What the manifest says was read."""
        return self._description


def ensure_trained(data_dir: str | Path, *, echo: Any = None) -> bool:
    """Train the domain classifier of ``data_dir`` unless one is there; True if it trained.

    Args:
        data_dir: A prepared TFRecord folder (its ``dataset.json`` is read).
        echo: Where the line saying so goes (default: standard error).

    Raises:
        DataError: The folder cannot train one (no labels, no held-out split
            ...): the message says why and what to do.

    """
    data_dir = Path(data_dir)
    if protocol_path(data_dir).is_file():
        return False
    say = echo or (lambda line: print(line, file=sys.stderr, flush=True))
    with _training_lock(data_dir):
        if protocol_path(data_dir).is_file():  # another process trained it meanwhile
            return False
        say(f"No domain classifier for {data_dir} yet: training it now, as `ganlab "
            "train-classifier` would (once per dataset; later commands reuse it) ...")
        _train_in_child(data_dir)
    return True


@contextmanager
def _training_lock(data_dir: Path) -> Iterator[None]:
    folder = classifier_dir(data_dir)
    try:
        folder.mkdir(parents=True, exist_ok=True)
        stream = open(folder / LOCK_NAME, "a")  # noqa: SIM115 - held for the block
    except OSError as exc:
        raise DataError(f"Cannot train the domain classifier in {folder}: {exc.strerror}. "
                        "Make the TFRecord folder writable, or train the classifier where it "
                        "is with `ganlab train-classifier`.") from None
    with stream:
        fcntl.flock(stream, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(stream, fcntl.LOCK_UN)


def _train_in_child(data_dir: Path) -> None:
    """Run :func:`main` in a child process; its progress goes to our standard error."""
    outcome = run_json_child(__name__, [str(data_dir)])
    if not outcome.ok:
        raise DataError(outcome.answer.get("error") or
                        f"Training the domain classifier of {data_dir} failed (exit "
                        f"{outcome.returncode}); run `ganlab train-classifier` for details.")


def main(argv: Sequence[str] | None = None) -> int:
    """Train the classifier of the folder ``argv[0]`` with the command's defaults."""
    from .command import echo_protocol_lines
    from .training import TrainSettings, train_classifier

    data_dir = Path((argv if argv is not None else sys.argv[1:])[0])

    def report(line: str) -> None:
        print(line, file=sys.stderr, flush=True)

    try:
        protocol = train_classifier(PreparedFolder(data_dir), TrainSettings(verbose=0),
                                    report=report)
    except DataError as exc:
        print(json.dumps({"ok": False, "error": str(exc)}))
        return 2
    for line in echo_protocol_lines(protocol, str(data_dir)):
        report(line)
    print(json.dumps({"ok": True}))
    return 0
