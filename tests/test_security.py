"""Security: no pickle anywhere, YAML safe loading only, code loads only through named plugins."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest
from reliability_support import assert_clean_failure, invoke, write_experiment

from ganlab.engine.checkpoint import CheckpointId, CheckpointStore
from ganlab.errors import RunDirectoryError

REPO = Path(__file__).resolve().parent.parent
SOURCE_FOLDERS = ("ganlab", "plugins", "benchmarks", "scripts", "tests")
#: Constructs that deserialise (or would let numpy/Keras/YAML deserialise) code.
FORBIDDEN = {
    "pickle module": re.compile(r"^\s*(import|from)\s+(c?pickle|dill|cloudpickle|shelve|joblib)\b"
                                r"|\b(c?pickle|dill|cloudpickle|joblib)\.(loads?|dumps?)\b",
                                re.MULTILINE),
    "allow_pickle=True": re.compile(r"allow_pickle\s*=\s*True"),
    "marshal.load": re.compile(r"\bmarshal\.loads?\b"),
    "unsafe YAML loader": re.compile(r"\byaml\.(unsafe_load|full_load|load_all|load)\s*\("
                                     r"|Loader\s*=\s*yaml\.(Unsafe|Full)?Loader\b"),
    "Keras unsafe deserialisation": re.compile(r"safe_mode\s*=\s*False"),
    "torch.load": re.compile(r"\btorch\.load\b"),
}
THIS_FILE = Path(__file__).resolve()


def python_sources() -> list[Path]:
    files = [p for folder in SOURCE_FOLDERS for p in (REPO / folder).rglob("*.py")
             if ".venv" not in p.parts]
    return [p for p in files if p.resolve() != THIS_FILE]


def test_no_pickle_or_unsafe_deserialisation_in_the_source_tree() -> None:
    sources = python_sources()
    assert len(sources) > 20
    found = [f"{path.relative_to(REPO)}: {what}"
             for path in sources for what, pattern in FORBIDDEN.items()
             if pattern.search(path.read_text(encoding="utf-8"))]
    assert not found, "unsafe deserialisation: " + "; ".join(found)


def test_every_np_load_in_shipped_code_refuses_pickles() -> None:
    """Explicit ``allow_pickle=False`` (numpy's default, stated so a change cannot slip in)."""
    shipped = [p for p in python_sources() if p.relative_to(REPO).parts[0] != "tests"]
    calls = [(path, match) for path in shipped
             for match in re.finditer(r"np\.load\((?:[^()]|\([^()]*\))*\)",
                                      path.read_text(encoding="utf-8"))]
    assert calls
    unsafe = [f"{path.relative_to(REPO)}: {match.group(0)}" for path, match in calls
              if "allow_pickle=False" not in match.group(0)]
    assert not unsafe, "np.load without allow_pickle=False: " + "; ".join(unsafe)


def base_experiment(tmp_path: Path) -> dict:
    return {"name": "safe", "dataset": {"name": "mnist", "params": {
        "source": "embedded", "tfrecords": str(tmp_path / "tf"), "image_size": 32}},
        "architecture": {"name": "dcgan"}, "loss": {"name": "bce"},
        "train": {"epochs": 1, "batch_size": 8}}


def test_yaml_python_tags_are_refused_and_never_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.yaml"
    path.write_text(f"name: !!python/object/apply:os.system ['touch {marker}']\n"
                    "dataset: {name: mnist}\n")
    result = invoke(["validate", str(path)])
    assert_clean_failure(result, 2, "unsupported YAML tag at line 1",
                         "tags that construct Python objects are refused")
    assert not marker.exists()
    ok = write_experiment(tmp_path / "ok.yaml", base_experiment(tmp_path))
    result = invoke(["validate", str(ok), "--set",
                     f"seed=!!python/object/apply:os.system ['touch {marker}']"])
    assert_clean_failure(result, 2, "--set")
    assert not marker.exists()


def write_sentinel(folder: Path, module: str, marker: Path) -> None:
    (folder / f"{module}.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('imported')\n"
        "from ganlab import hookimpl\n")


@pytest.mark.parametrize("field, name", [
    ("dataset", "sentinel_mod:thing"), ("loss", "sentinel_mod.thing"),
    ("architecture", "os:system"),
])
def test_component_names_never_import_modules(tmp_path: Path, monkeypatch, field: str,
                                               name: str) -> None:
    marker = tmp_path / "imported"
    write_sentinel(tmp_path, "sentinel_mod", marker)
    monkeypatch.syspath_prepend(str(tmp_path))
    config = base_experiment(tmp_path)
    config[field] = {"name": name}
    result = invoke(["validate", str(write_experiment(tmp_path / "x.yaml", config))])
    assert_clean_failure(result, 3, f"Unknown {field if field != 'architecture' else field}")
    assert not marker.exists() and "sentinel_mod" not in sys.modules


def test_only_the_plugins_an_experiment_names_are_loaded(tmp_path: Path) -> None:
    marker_named, marker_other = tmp_path / "named", tmp_path / "other"
    write_sentinel(tmp_path, "named_plugin", marker_named)
    write_sentinel(tmp_path, "unnamed_plugin", marker_other)
    config = base_experiment(tmp_path)
    config["plugins"] = ["named_plugin.py"]
    config["loss"] = {"name": "no_such_loss"}
    invoke(["validate", str(write_experiment(tmp_path / "x.yaml", config))])
    assert marker_named.exists(), "the named local plugin should load"
    assert not marker_other.exists(), "a file next to the experiment must not load"


class _Payload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (Path.write_text, (self.marker, "unpickled"))


def test_checkpoint_with_object_arrays_is_refused_not_unpickled(tmp_path: Path) -> None:
    marker = tmp_path / "unpickled"
    store = CheckpointStore(tmp_path / "checkpoints")
    store.folder.mkdir()
    evil = np.empty(1, dtype=object)
    evil[0] = _Payload(marker)
    np.savez(store.path(CheckpointId(1)), __meta__=np.frombuffer(b"{}", np.uint8), x=evil)
    with pytest.raises(RunDirectoryError, match="allow_pickle=False"):
        store.load_latest_good()
    assert not marker.exists()
