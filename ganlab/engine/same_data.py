"""A resumed run trains on the data it started with, or says so.

``run.json`` records the run's data: the options fingerprint of the
TFRecords it reads and the fingerprint of the raw files they were written
from. Resuming the run on other data (another ``source``/``tfrecords``
given with ``--set``, or TFRecords prepared again from changed files) is
refused unless the user accepts the change explicitly; the run then records
the new data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ganlab.data.fingerprint import current_source_fingerprint
from ganlab.errors import RunDirectoryError
from ganlab.rundir import RunDirectory

#: The command-line flag that accepts a change of data on resume.
ACCEPT_FLAG = "--accept-data-change"


def data_fingerprint(dataset: Any) -> dict[str, str] | None:
    """What a run trains on: ``options`` (TFRecords) and ``source`` (raw files) fingerprints.

    The TFRecords' manifest says both (what was written, from what); a
    dataset without TFRecords is known by its ``source_fingerprint()``.
    ``None`` when nothing identifies the data.
    """
    from ganlab.data import TFRecordImageDataset

    found: dict[str, str] = {}
    if isinstance(dataset, TFRecordImageDataset):
        manifest = dataset.manifest()
        for key, field in (("options", "fingerprint"), ("source", "source_fingerprint")):
            if isinstance(manifest.get(field), str):
                found[key] = manifest[field]
    else:
        source = current_source_fingerprint(dataset)
        if source is not None:
            found["source"] = source
    return found or None


def data_differences(recorded: Any, current: Mapping[str, str] | None) -> list[str]:
    """How the data a run recorded differs from ``current`` (only what both sides know)."""
    if not isinstance(recorded, Mapping) or not current:
        return []
    names = {"options": "TFRecord options fingerprint", "source": "raw files"}
    return [f"{names[key]}: {recorded[key]} → {current[key]}" for key in names
            if isinstance(recorded.get(key), str) and key in current
            and recorded[key] != current[key]]


def check_same_data(run_dir: RunDirectory, dataset: Any, *, accept: bool,
                    echo: Callable[[str], None]) -> None:
    """Refuse to resume the run in ``run_dir`` on data other than it recorded.

    Args:
        run_dir: The run being resumed.
        dataset: The experiment's dataset, prepared.
        accept: The user accepted a change of data (``--accept-data-change``).
        echo: Where the note about an accepted change goes.

    Raises:
        RunDirectoryError: The data changed and ``accept`` is false.

    """
    changes = data_differences(run_dir.read_metadata().get("data"), data_fingerprint(dataset))
    if not changes:
        return
    if accept:
        echo(f"Note: resuming {run_dir.root} on other data than it trained on so far "
             f"({'; '.join(changes)}), as {ACCEPT_FLAG} asks; run.json records the new data.")
        return
    raise RunDirectoryError(
        f"The run in {run_dir.root} trained on other data than the experiment gives now "
        f"({'; '.join(changes)}): resuming would go on training on different images with "
        "nothing in the run saying so. To train on this data from the start, give the run "
        "its own directory (--set name=NEW_NAME or --set run_dir=PATH); to continue this run "
        f"on the new data deliberately, run the same command with {ACCEPT_FLAG} (run.json "
        "then records the new data); to continue on the old data, point the dataset's "
        "`source`/`tfrecords` back at it.")
