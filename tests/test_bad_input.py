"""Bad input, table-driven: every case gets a clear message, a non-zero exit and no traceback.

Each case builds its input under ``tmp_path`` and runs the real CLI in-process
(click's runner on ``ganlab.cli``); a few run ``python -m ganlab`` in a real
subprocess to check what a terminal shows. Expected fragments are matched with
whitespace flattened (messages are wrapped at 100 columns); ``{tmp}`` stands
for the case's folder.
"""

from __future__ import annotations

import errno
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from celeba_fixtures import FACES, Face, build_celeba
from reliability_support import (
    PLUGIN,
    assert_clean_failure,
    flat,
    invoke,
    prepare_tiny_data,
    run_cli,
    tiny_config,
    write_experiment,
)

from ganlab.rundir import LOCK_NAME

Setup = Callable[[Path], list[str]]


@dataclass(frozen=True)
class Case:
    """One bad input: how to make it, the exit code and what the message must say."""

    id: str
    setup: Setup
    code: int
    fragments: tuple[str, ...]
    env: dict[str, str] = field(default_factory=dict)
    #: Called after ``setup`` (e.g. to inject a fault into the second step only).
    inject: Callable[[pytest.MonkeyPatch], None] | None = None
    #: A known bug elsewhere (reported), expected to fail until fixed.
    xfail: str | None = None


# -- experiments ----------------------------------------------------------------------------------
def base_config(tmp: Path) -> dict[str, Any]:
    return {"name": "bad", "run_dir": str(tmp / "run"),
            "dataset": {"name": "mnist", "params": {"source": "embedded",
                                                    "tfrecords": str(tmp / "tf"),
                                                    "image_size": 32}},
            "architecture": {"name": "dcgan", "params": {"latent_dim": 8, "base_filters": 4}},
            "loss": {"name": "bce"},
            "train": {"epochs": 1, "batch_size": 8}}


def set_key(config: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, last = dotted.split(".")
    node = config
    for part in parents:
        node = node.setdefault(part, {})
    if value is DELETE:
        del node[last]
    else:
        node[last] = value


DELETE = object()


def experiment(command: str = "validate", **changes: Any) -> Setup:
    """A setup writing the base experiment with ``changes`` (``a__b`` = key ``a.b``)."""
    def setup(tmp: Path) -> list[str]:
        config = base_config(tmp)
        for key, value in changes.items():
            set_key(config, key.replace("__", "."), value)
        return [command, str(write_experiment(tmp / "exp.yaml", config))]
    return setup


def raw_yaml(text: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        path = tmp / "exp.yaml"
        path.write_text(text)
        return ["validate", str(path)]
    return setup


def with_args(setup: Setup, *extra: str) -> Setup:
    return lambda tmp: setup(tmp) + list(extra)


# -- MNIST sources --------------------------------------------------------------------------------
def idx_bytes(magic: int, dims: tuple[int, ...], fill: int = 7) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    return header + bytes([fill]) * int(np.prod(dims))


def mnist_idx(tmp: Path, damage: Callable[[Path], None] | None = None) -> Path:
    folder = tmp / "mnist"
    folder.mkdir()
    for prefix, count in (("train", 12), ("t10k", 4)):
        (folder / f"{prefix}-images-idx3-ubyte").write_bytes(idx_bytes(2051, (count, 28, 28)))
        (folder / f"{prefix}-labels-idx1-ubyte").write_bytes(idx_bytes(2049, (count,), 3))
    if damage:
        damage(folder)
    return folder


def mnist_prepare(source: Callable[[Path], Path | str], **params: Any) -> Setup:
    def setup(tmp: Path) -> list[str]:
        config = base_config(tmp)
        config["dataset"]["params"].update(source=str(source(tmp)), image_size=28, **{
            key: value.format(tmp=tmp) if isinstance(value, str) else value
            for key, value in params.items()})
        return ["prepare", str(write_experiment(tmp / "exp.yaml", config))]
    return setup


def cut(name: str, keep: int) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / name
        path.write_bytes(path.read_bytes()[:keep])
    return damage


def labels_not_digits(folder: Path) -> None:
    """A test label of 12: MNIST's labels are digits (and conditional GANs train on them)."""
    path = folder / "t10k-labels-idx1-ubyte"
    data = bytearray(path.read_bytes())
    data[8 + 2] = 12
    path.write_bytes(bytes(data))


def swap_magic(folder: Path) -> None:
    path = folder / "train-images-idx3-ubyte"
    data = bytearray(path.read_bytes())
    data[:4] = (2049).to_bytes(4, "big")
    path.write_bytes(bytes(data))


def gzip_garbage(folder: Path) -> None:
    (folder / "train-images-idx3-ubyte").unlink()
    (folder / "train-images-idx3-ubyte.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")


def npz_with_objects(tmp: Path) -> Path:
    path = tmp / "mnist.npz"
    ragged = np.empty(2, dtype=object)
    ragged[0], ragged[1] = [1, 2], "three"
    np.savez(path, x_train=ragged, y_train=np.zeros(2, np.uint8),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1, np.uint8))
    return path


def npz_missing_keys(tmp: Path) -> Path:
    path = tmp / "mnist.npz"
    np.savez(path, images=np.zeros((2, 28, 28), np.uint8))
    return path


def not_an_npz(tmp: Path) -> Path:
    path = tmp / "mnist.npz"
    path.write_text("this is not a zip archive")
    return path


def binary_file(tmp: Path) -> Path:
    path = tmp / "exp.yaml"
    path.write_bytes(b"\xff\xfe\x00garbage")
    return path


def empty_folder(tmp: Path) -> Path:
    (tmp / "empty").mkdir()
    return tmp / "empty"


# -- CelebA sources -------------------------------------------------------------------------------
def celeba_prepare(build: Callable[[Path], Path], **params: Any) -> Setup:
    def setup(tmp: Path) -> list[str]:
        config = base_config(tmp)
        config["dataset"] = {"name": "celeba", "params": {
            "source": str(build(tmp)), "tfrecords": str(tmp / "tf"),
            "variant": "img_align_celeba", "image_size": 32, **params}}
        return ["prepare", str(write_experiment(tmp / "exp.yaml", config))]
    return setup


GOOD = tuple(f for f in FACES if f.state == "ok")


def celeba_tree(faces: tuple[Face, ...] = GOOD, edit: Callable[[Any], None] | None = None,
                variants: tuple[str, ...] = ("img_align_celeba",)) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        tree = build_celeba(tmp / "CelebA", variants=variants, faces=faces)
        if edit:
            edit(tree)
        return tree.root
    return build


def drop_partition_row(tree: Any) -> None:
    path = tree.anno["partition"]
    lines = path.read_bytes().split(b"\r\n")
    path.write_bytes(b"\r\n".join(lines[:2] + lines[3:]))


def extra_partition_row(tree: Any) -> None:
    path = tree.anno["partition"]
    path.write_bytes(path.read_bytes() + b"999999.jpg 0\r\n")


def escaping_partition_row(tree: Any) -> None:
    path = tree.anno["partition"]
    lines = path.read_bytes().split(b"\r\n")
    lines[0] = b"../../../etc/passwd 0"
    path.write_bytes(b"\r\n".join(lines))


def only(state: str) -> tuple[Face, ...]:
    return tuple(Face(f.number, f.partition, f.wild_size, f.box, state=state) for f in GOOD[:3])


# -- prepared TFRecords ---------------------------------------------------------------------------
def tiny(command: str, damage: Callable[[Path], None] | None = None, *extra: str,
         **sections: Any) -> Setup:
    """The tiny local-plugin dataset, prepared, then optionally damaged."""
    def setup(tmp: Path) -> list[str]:
        prepare_tiny_data(tmp)
        if damage:
            damage(tmp / "tfrecords")
        config = tiny_config(tmp, "bad", **{"train": {"deterministic": False}, **sections})
        if "run_dir" in sections:
            config["run_dir"] = sections["run_dir"].format(tmp=tmp, tfrecords=tmp / "tfrecords")
        return [command, str(write_experiment(tmp / "exp.yaml", config)), *extra]
    return setup


def shard(folder: Path) -> Path:
    return next(folder.glob("train-*.tfrecord"))


def truncate_shard(folder: Path) -> None:
    path = shard(folder)
    path.write_bytes(path.read_bytes()[:-100])


def flip_shard(folder: Path) -> None:
    path = shard(folder)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))


def edit_manifest(change: Callable[[dict], None]) -> Callable[[Path], None]:
    def damage(folder: Path) -> None:
        path = folder / "dataset.json"
        manifest = json.loads(path.read_text())
        change(manifest)
        path.write_text(json.dumps(manifest))
    return damage


def wrong_count(manifest: dict) -> None:
    manifest["splits"]["train"]["shards"][0]["count"] += 5
    manifest["splits"]["train"]["count"] += 5


def missing_shard(manifest: dict) -> None:
    manifest["splits"]["train"]["shards"].append(
        {"file": "train-00001-of-00002.tfrecord", "count": 3, "bytes": 100})


def garbage_manifest(folder: Path) -> None:
    (folder / "dataset.json").write_text("{ not json")


# -- run directories ------------------------------------------------------------------------------
def tiny_run_then(damage: Callable[[Path], None], *extra: str) -> Setup:
    """Finish a tiny run, damage its run directory, then run it again (with ``extra``)."""
    def setup(tmp: Path) -> list[str]:
        args = tiny("run")(tmp)
        result = invoke(args)
        assert result.exit_code == 0, result.output
        damage(tmp / "runs" / "bad")
        return args + ["--set", "train.epochs=4", *extra]
    return setup


def every_checkpoint_damaged(run_dir: Path) -> None:
    for path in (run_dir / "checkpoints").glob("ckpt-*.npz"):
        path.write_bytes(path.read_bytes()[:300])


def garbage_file(name: str) -> Callable[[Path], None]:
    return lambda run_dir: (run_dir / name).write_text("\x00garbage{")


def live_lock(run_dir: Path) -> None:
    (run_dir / LOCK_NAME).write_text(json.dumps({"pid": 1, "host": "elsewhere"}))


# -- plugins --------------------------------------------------------------------------------------
BROKEN_HOOK = '''
from ganlab import hookimpl

@hookimpl
def register_losses(register):
    raise RuntimeError("the loss registry exploded")
'''

BROKEN_IMPORT = "import no_such_module_anywhere\n"

BROKEN_FACTORY = '''
from ganlab import hookimpl

def make(**params):
    raise RuntimeError("factory failed to build")

@hookimpl
def register_losses(register):
    register("fragile", make)
'''

BROKEN_CALLBACK = '''
import keras
from ganlab import hookimpl

class Explodes(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        raise RuntimeError("callback blew up")

@hookimpl
def register_callbacks(register):
    register("explodes", Explodes)
'''


def installed_plugin(tmp: Path, source: str) -> None:
    """A real installed distribution ``brokendist 1.2`` with an entry point ``breaker``."""
    site = tmp / "site"
    (site / "brokendist-1.2.dist-info").mkdir(parents=True)
    (site / "brokendist-1.2.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: brokendist\nVersion: 1.2\n")
    (site / "brokendist-1.2.dist-info" / "entry_points.txt").write_text(
        "[ganlab]\nbreaker = breaker_plugin\n")
    (site / "breaker_plugin.py").write_text(source)


def plugin_case(source: str, command: str = "validate", strict: bool = False,
                installed: bool = True, **changes: Any) -> Setup:
    def setup(tmp: Path) -> list[str]:
        if installed:
            installed_plugin(tmp, source)
        else:
            (tmp / "local_plugin.py").write_text(source)
            changes.setdefault("plugins", [str(tmp / "local_plugin.py")])
        args = experiment(command, **changes)(tmp)
        return (["--strict-plugins"] if strict else []) + args
    return setup


def tiny_with_callback(tmp: Path) -> list[str]:
    (tmp / "cb_plugin.py").write_text(BROKEN_CALLBACK)
    return tiny("run", plugins=[str(PLUGIN), str(tmp / "cb_plugin.py")],
                callbacks=[{"name": "explodes"}])(tmp)


def enospc_on_prepare(tmp: Path) -> list[str]:
    """A first prepare succeeds; a second one (other options, --overwrite) hits a full disk."""
    args = tiny("prepare")(tmp)
    return args + ["--overwrite", "--set", "dataset.params.tag=v2"]


def disk_full_in_the_writer(monkeypatch: pytest.MonkeyPatch) -> None:
    """``OSError(ENOSPC)`` when the writer flushes a finished shard to disk."""
    from ganlab.data import writer

    def full(path: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(writer, "_fsync_file", full)


def disk_full_on_export(monkeypatch: pytest.MonkeyPatch) -> None:
    """``OSError(ENOSPC)`` when the finished generator is saved as ``generator.keras``."""
    import keras

    def full(self: Any, path: Any, *args: Any, **kwargs: Any) -> None:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(keras.Model, "save", full)


# -- the table ------------------------------------------------------------------------------------
CASES = [
    # YAML and schema
    Case("malformed-yaml", raw_yaml("name: bad\ndataset: {name: mnist\nloss: [\n"), 2,
         ("exp.yaml: not valid YAML at line",)),
    Case("tab-indented-yaml", raw_yaml("name: bad\ndataset:\n\tname: mnist\n"), 2,
         ("not valid YAML at line 3",)),
    Case("python-object-tag", raw_yaml("name: !!python/object/apply:os.system ['true']\n"), 2,
         ("unsupported YAML tag at line 1", "tags that construct Python objects are refused")),
    Case("python-name-tag", raw_yaml("name: bad\nseed: !!python/name:os.system\n"), 2,
         ("unsupported YAML tag at line 2",)),
    Case("top-level-list", raw_yaml("- name: bad\n"), 2,
         ("the experiment must be a YAML mapping", "received list")),
    Case("empty-file", raw_yaml(""), 2, ("the experiment must be a YAML mapping",)),
    Case("duplicate-key", raw_yaml("name: a\nseed: 1\nname: b\n"), 2,
         ("key 'name' appears twice (lines 1 and 3)", "keep only the last one")),
    Case("not-utf8", lambda tmp: ["validate", str(binary_file(tmp))], 2,
         ("Cannot read experiment file", "codec can't decode")),
    Case("missing-file", lambda tmp: ["validate", str(tmp / "nope.yaml")], 2,
         ("nope.yaml does not exist",)),
    Case("unknown-top-level-key", experiment(trian={"epochs": 1}), 2,
         ("trian", "unknown key", "train")),
    Case("unknown-train-key", experiment(train__batch_sise=8), 2,
         ("train.batch_sise", "batch_size")),
    Case("missing-loss", experiment(loss=DELETE), 2, ("loss", "missing")),
    Case("unknown-dataset", experiment(dataset__name="mnsit"), 3,
         ("Unknown dataset 'mnsit'. Did you mean 'mnist'?",)),
    Case("unknown-architecture", experiment(architecture__name="dcgna"), 3,
         ("Unknown architecture 'dcgna'", "'dcgan'")),
    Case("unknown-loss", experiment(loss__name="wasserstein"), 3,
         ("Unknown loss 'wasserstein'", "Known losses: bce,")),
    Case("unknown-callback", experiment(callbacks=[{"name": "sample_grids"}]), 3,
         ("Unknown callback 'sample_grids'", "Did you mean 'sample_grid'")),
    Case("unknown-component-param", experiment(architecture__params__base_filter=4), 2,
         ("architecture.params.base_filter", "did you mean 'base_filters'")),
    Case("wrong-type-batch-size", experiment(train__batch_size="sixty-four"), 2,
         ("train.batch_size", "sixty-four")),
    Case("wrong-type-epochs-float", experiment(train__epochs=1.5), 2, ("train.epochs", "1.5")),
    Case("wrong-type-component", experiment(loss="bce"), 2, ("loss", "str")),
    Case("batch-size-zero", experiment(train__batch_size=0), 2, ("train.batch_size", "0")),
    Case("negative-epochs", experiment(train__epochs=-3), 2, ("train.epochs", "-3")),
    Case("negative-learning-rate", experiment(optimizers={"generator": {"learning_rate": -1.0}}),
         2, ("optimizers.generator.learning_rate",)),
    Case("beta-out-of-range", experiment(optimizers={"discriminator": {"beta_1": 1.5}}), 2,
         ("optimizers.discriminator.beta_1", "1.5")),
    Case("unknown-precision", experiment(train__precision="float8"), 2,
         ("train.precision", "float8", "mixed_float16")),
    Case("schedule-factor-count", experiment(optimizers={"schedule": {
        "boundaries_epochs": [2, 4], "factors": [1.0, 0.5]}}), 2,
         ("optimizers.schedule.factors", "expected 3 factors")),
    Case("run-name-with-slash", experiment(name="a/b"), 2, ("name", "a/b")),
    Case("bad-set-syntax", with_args(experiment(), "--set", "train.epochs"), 2,
         ("--set 'train.epochs': expected KEY.PATH=VALUE",)),
    Case("bad-set-index", with_args(experiment(callbacks=[]), "--set", "callbacks.3.name=x"),
         2, ("--set 'callbacks.3.name=x'", "not a valid index")),
    Case("image-size-unsupported-by-dataset", experiment(dataset__params__image_size=48), 2,
         ("image_size must be one of (28, 32, 64), got 48",)),
    Case("image-size-unsupported-by-architecture", experiment(dataset__params__image_size=28),
         2, ("dcgan", "28")),
    Case("batch-larger-than-dataset", tiny("run", train={"batch_size": 128,
                                                         "deterministic": False}), 2,
         ("train.batch_size is 128 but the training split has only 64 images",)),
    # MNIST sources
    Case("missing-source-folder", mnist_prepare(lambda tmp: tmp / "nowhere"), 4,
         ("The MNIST source {tmp}/nowhere does not exist",)),
    Case("empty-source-folder", mnist_prepare(empty_folder), 4,
         ("{tmp}/empty holds no MNIST IDX files", "It holds: nothing")),
    Case("idx-wrong-magic", mnist_prepare(lambda tmp: mnist_idx(tmp, swap_magic)), 4,
         ("train-images-idx3-ubyte is not an MNIST images IDX file: its magic number is 2049",)),
    Case("idx-truncated-data", mnist_prepare(
        lambda tmp: mnist_idx(tmp, cut("train-images-idx3-ubyte", 2000))), 4,
         ("train-images-idx3-ubyte is truncated", "Download it again")),
    Case("idx-truncated-header", mnist_prepare(
        lambda tmp: mnist_idx(tmp, cut("t10k-labels-idx1-ubyte", 6))), 4,
         ("t10k-labels-idx1-ubyte is too short",)),
    Case("idx-labels-not-digits", mnist_prepare(
        lambda tmp: mnist_idx(tmp, labels_not_digits)), 4,
         ("{tmp}/mnist/t10k-labels-idx1-ubyte: 1 of 4 labels are not digits 0-9 (the first is 12, "
          "at index 2)",)),
    Case("idx-bad-gzip", mnist_prepare(lambda tmp: mnist_idx(tmp, gzip_garbage)), 4,
         ("train-images-idx3-ubyte.gz", "damaged or not gzip data")),
    Case("npz-object-arrays", mnist_prepare(npz_with_objects), 4,
         ("holds object arrays (pickled Python objects)", "refuses to load")),
    Case("npz-missing-keys", mnist_prepare(npz_missing_keys), 4,
         ("has no 'x_train'/'y_train' arrays",)),
    Case("npz-not-a-zip", mnist_prepare(not_an_npz), 4,
         ("Cannot read {tmp}/mnist.npz", "not a zip file")),
    # CelebA sources
    Case("celeba-missing-source", celeba_prepare(lambda tmp: tmp / "NoCelebA"), 4,
         ("{tmp}/NoCelebA",)),
    Case("celeba-empty-folder", celeba_prepare(empty_folder), 4, ("{tmp}/empty",)),
    Case("celeba-annotation-missing-row", celeba_prepare(celeba_tree(edit=drop_partition_row)),
         4, ("list_eval_partition.txt",)),
    Case("celeba-annotation-extra-row", celeba_prepare(celeba_tree(edit=extra_partition_row)),
         4, ("list_eval_partition.txt", "999999.jpg")),
    Case("celeba-path-escape", celeba_prepare(celeba_tree(edit=escaping_partition_row)), 4,
         ("../../../etc/passwd",)),
    Case("celeba-non-image-jpgs", celeba_prepare(celeba_tree(only("corrupt"))), 4,
         ("could be read", "000001.jpg")),
    Case("celeba-truncated-jpeg-fail", celeba_prepare(celeba_tree(only("truncated")),
                                                      on_error="fail"), 4,
         ("000001.jpg", "on_error")),
    Case("celeba-truncated-png-fail", celeba_prepare(
        celeba_tree(only("truncated"), variants=("img_align_celeba_png",)),
        variant="img_align_celeba_png", on_error="fail"), 4,
         ("000001.png", "on_error")),
    # TFRecords
    Case("tfrecord-truncated-shard", tiny("prepare", truncate_shard), 4,
         ("train-00000-of-00001.tfrecord has", "truncated or modified")),
    Case("tfrecord-truncated-shard-run", tiny("run", truncate_shard), 4,
         ("train-00000-of-00001.tfrecord",)),
    Case("tfrecord-corrupt-shard-verify", tiny("prepare", flip_shard, "--verify"), 4,
         ("failed verification", "shard train-00000-of-00001.tfrecord record")),
    Case("tfrecord-corrupt-shard-run", tiny("run", flip_shard), 4,
         ("training data is damaged", "shard train-00000-of-00001.tfrecord record")),
    Case("manifest-count-mismatch", tiny("prepare", edit_manifest(wrong_count), "--verify"), 4,
         ("train-00000-of-00001.tfrecord holds 64 records, the manifest records 69",)),
    Case("manifest-names-missing-shard", tiny("prepare", edit_manifest(missing_shard)), 4,
         ("train-00001-of-00002.tfrecord is missing",)),
    Case("manifest-not-json", tiny("run", garbage_manifest), 4,
         ("dataset.json is not valid JSON",)),
    # full disks
    Case("disk-full-during-prepare", enospc_on_prepare, 4,
         ("Writing shard train-00000-of-00001.tfrecord failed", "No space left on device",
          "finished TFRecords (if any) were left as they were"),
         inject=disk_full_in_the_writer),
    Case("disk-full-during-checkpoint", tiny("run", checkpoint={"every_n_steps": 5}), 5,
         ("the disk is full", "ckpt-e0000-s000005.npz", "is intact"),
         env={"GANLAB_FAULT": "checkpoint-write:2:enospc"}),
    # run directories
    Case("every-checkpoint-damaged", tiny_run_then(every_checkpoint_damaged), 5,
         ("Every checkpoint in", "is damaged", "truncated or corrupt")),
    Case("latent-bank-damaged", tiny_run_then(garbage_file("latents.npy")), 5,
         ("latents.npy (the run's fixed latent bank) is damaged",)),
    Case("run-config-damaged", tiny_run_then(garbage_file("config.yaml")), 5,
         ("Cannot read {tmp}/runs/bad/config.yaml", "cannot check that this experiment may "
          "resume it", "delete that file")),
    Case("sample-from-a-missing-run", lambda tmp: ["sample", str(tmp / "nothing"), "--out",
                                                   str(tmp / "x.png")], 5,
         ("Run directory {tmp}/nothing does not exist",)),
    Case("config-incompatible", tiny_run_then(lambda run_dir: None, "--set",
                                              "train.batch_size=16"), 5,
         ("holds a run whose config differs", "cannot be resumed", "train.batch_size: 8 → 16")),
    Case("run-dir-locked-elsewhere", tiny_run_then(live_lock), 5,
         ("in use by process 1 on host elsewhere", "cannot check a process on another host")),
    # plugins
    Case("plugin-raises-in-hook-strict", plugin_case(BROKEN_HOOK, strict=True), 3,
         ("plugin 'breaker' (brokendist 1.2) failed to load",
          "register_losses raised RuntimeError: the loss registry exploded")),
    Case("plugin-raises-in-hook-used", plugin_case(BROKEN_HOOK, loss={"name": "fragile"}), 3,
         ("Unknown loss 'fragile'", "breaker", "the loss registry exploded")),
    Case("plugin-import-error-strict", plugin_case(BROKEN_IMPORT, strict=True), 3,
         ("plugin 'breaker' (brokendist 1.2) failed to load", "no_such_module_anywhere")),
    Case("plugin-factory-raises", plugin_case(BROKEN_FACTORY, loss={"name": "fragile"}), 3,
         ("The loss 'fragile' from plugin 'breaker' (brokendist 1.2) failed while being "
          "created: RuntimeError: factory failed to build",)),
    Case("local-plugin-factory-raises", plugin_case(BROKEN_FACTORY, installed=False,
                                                    loss={"name": "fragile"}), 3,
         ("The loss 'fragile' from plugin 'local_plugin'", "factory failed to build")),
    Case("local-plugin-file-missing-strict",
         lambda tmp: ["--strict-plugins"] + experiment(plugins=["no_such_plugin.py"])(tmp), 3,
         ("no_such_plugin.py",)),
    Case("plugin-callback-raises-during-training", tiny_with_callback, 3,
         ("The callback 'explodes' from plugin 'cb_plugin'", "RuntimeError: callback blew up",
          "in on_epoch_end(), during epoch 1")),
]



# -- second round: bounds, ownership, validation where read, OS errors ---------------------------
def bomb_text(levels: int = 9) -> str:
    lines = ["name: bomb", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [{', '.join([f'*a{level - 1}'] * 9)}]")
    return "\n".join(lines) + "\n"


def yaml_file(text: str, command: str = "validate", *extra: str) -> Setup:
    def setup(tmp: Path) -> list[str]:
        path = tmp / "exp.yaml"
        path.write_text(text)
        return [command, str(path), *extra]
    return setup


def deep_mapping(levels: int) -> str:
    return "name: deep\n" + "".join(f"{'  ' * i}k{i}:\n" for i in range(levels)) \
        + "  " * levels + "leaf: 1\n"


def idx_source(rows: int, cols: int, count: int = 4, labels: int | None = None,
               extra: bytes = b"", label_magic: int = 2049) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        folder = tmp / "mnist"
        folder.mkdir()
        (folder / "train-images-idx3-ubyte").write_bytes(
            idx_bytes(2051, (count, rows, cols)) + extra)
        (folder / "train-labels-idx1-ubyte").write_bytes(
            idx_bytes(label_magic, (count if labels is None else labels,), 3))
        return folder
    return build


def forged_idx(tmp: Path) -> Path:
    folder = tmp / "mnist"
    folder.mkdir()
    header = (2051).to_bytes(4, "big") + (60000).to_bytes(4, "big") * 3
    (folder / "train-images-idx3-ubyte").write_bytes(header + b"\x00" * 64)
    (folder / "train-labels-idx1-ubyte").write_bytes(idx_bytes(2049, (4,), 3))
    return folder


def npz_out_of_range(tmp: Path) -> Path:
    path = tmp / "mnist.npz"
    np.savez(path, x_train=np.full((2, 28, 28), 300, np.int16), y_train=np.zeros(2, np.uint8),
             x_test=np.zeros((1, 28, 28), np.uint8), y_test=np.zeros(1, np.uint8))
    return path


def a_plain_file(tmp: Path) -> Path:
    path = tmp / "plain.bin"
    path.write_bytes(b"not mnist")
    return path


def manifest_edit(change: Callable[[dict], None], command: str = "prepare",
                  *extra: str) -> Setup:
    return tiny(command, edit_manifest(change), *extra)


def set_split(key: str, value: Any) -> Callable[[dict], None]:
    def change(manifest: dict) -> None:
        manifest["splits"]["train"][key] = value
    return change


def set_shard(key: str, value: Any) -> Callable[[dict], None]:
    def change(manifest: dict) -> None:
        manifest["splits"]["train"]["shards"][0][key] = value
    return change


def set_top(key: str, value: Any) -> Callable[[dict], None]:
    def change(manifest: dict) -> None:
        manifest[key] = value
    return change


def empty_data(manifest: dict) -> None:
    manifest["splits"]["train"]["count"] = 0
    manifest["splits"]["train"]["shards"][0]["count"] = 0


def user_file(name: str, folder: bool = False) -> Callable[[Path], None]:
    def damage(tfrecords: Path) -> None:
        if folder:
            (tfrecords / name).mkdir()
            (tfrecords / name / "inside.txt").write_text("mine")
        else:
            (tfrecords / name).write_text("the user's own file")
    return damage


def no_manifest_and(name: str) -> Callable[[Path], None]:
    def damage(tfrecords: Path) -> None:
        (tfrecords / "dataset.json").unlink()
        (tfrecords / name).write_text("mine")
    return damage


def tiny_run_dir(where: Callable[[Path], str], command: str = "run") -> Setup:
    def setup(tmp: Path) -> list[str]:
        prepare_tiny_data(tmp)
        config = tiny_config(tmp, "bad", run_dir=where(tmp))
        return [command, str(write_experiment(tmp / "exp.yaml", config))]
    return setup


def a_file_at(name: str) -> Callable[[Path], str]:
    def where(tmp: Path) -> str:
        (tmp / name).write_text("a file, not a folder")
        return str(tmp / name)
    return where


def symlink_loop(tmp: Path) -> str:
    (tmp / "loop").symlink_to(tmp / "loop")
    return str(tmp / "loop" / "run")


def lock_is_a_folder(tmp: Path) -> str:
    (tmp / "runs" / "bad" / LOCK_NAME).mkdir(parents=True)
    return str(tmp / "runs" / "bad")


def fake_run(edit: Callable[[Path], None] | None = None, *extra: str,
             metadata: dict[str, Any] | None = None) -> Setup:
    """A hand-made run directory (no training): config, run.json, latents, then ``edit``."""
    def setup(tmp: Path) -> list[str]:
        run = tmp / "run"
        run.mkdir()
        write_experiment(run / "config.yaml", base_config(tmp))
        meta = {"latent_dim": 8, "latent_distribution": "normal", "image_shape": [8, 8, 1],
                "status": "completed", "epochs_completed": 1}
        meta.update(metadata or {})
        (run / "run.json").write_text(json.dumps(meta))
        np.save(run / "latents.npy", np.zeros((4, 8), np.float32))
        if edit:
            edit(run)
        return ["sample", str(run), "--out", str(tmp / "out.png"), "--num", "4", *extra]
    return setup


def generator_file(content: Callable[[Path], None]) -> Callable[[Path], None]:
    return lambda run: content(run / "generator.keras")


def zip_without_config(path: Path) -> None:
    import zipfile

    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("metadata.json", "{}")


def wrong_shape_generator(path: Path) -> None:
    import keras

    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(48),
                              keras.layers.Reshape((4, 4, 3))])
    model.save(path)


def inspect_tiny(*extra: str) -> Setup:
    return tiny("inspect", None, *extra)


def out_under_a_file(tmp: Path) -> list[str]:
    (tmp / "blocker").write_text("a file")
    return inspect_tiny("--out", str(tmp / "blocker" / "grid.png"))(tmp)


def history_is_a_folder(tmp: Path) -> list[str]:
    args = tiny("run")(tmp)
    (tmp / "runs" / "bad" / "history.csv").mkdir(parents=True)
    return args


MB = 1_000_000

CASES += [
    # YAML size, depth and aliases (linear parsing, bounded expansion)
    Case("yaml-alias-bomb-validate", yaml_file(bomb_text()), 2,
         ("expands to more than 100,000 values", "Remove the repeated aliases")),
    Case("yaml-alias-bomb-run", yaml_file(bomb_text(), "run"), 2, ("expands to more than",)),
    Case("yaml-alias-bomb-prepare", yaml_file(bomb_text(), "prepare"), 2,
         ("expands to more than",)),
    Case("yaml-alias-bomb-inspect", yaml_file(bomb_text(), "inspect"), 2,
         ("expands to more than",)),
    Case("yaml-alias-bomb-in-set", with_args(experiment(), "--set", "description=" + " ".join(
        bomb_text().splitlines()[1:2]) + " "), 2, ("--set",)),
    Case("yaml-deep-list-3000", yaml_file("x: " + "[" * 3000 + "]" * 3000 + "\n"), 2,
         ("more than 50 levels deep", "at line 1")),
    Case("yaml-deep-mapping-80", yaml_file(deep_mapping(80)), 2, ("more than 50 levels deep",)),
    Case("yaml-recursive-alias", yaml_file("name: r\nloop: &a [1, *a]\n"), 2,
         ("recursive structure",)),
    Case("yaml-over-a-megabyte", yaml_file("name: big\ndescription: " + "x" * (MB + 10) + "\n"),
         2, ("characters long", "at most 1,000,000")),
    Case("yaml-only-comments", yaml_file("# nothing here\n"), 2,
         ("the experiment must be a YAML mapping",)),
    Case("yaml-scalar-document", yaml_file("42\n"), 2, ("received int",)),
    Case("yaml-nul-byte", yaml_file("name: a\x00b\n"), 2, ("not valid YAML",)),
    Case("yaml-duplicate-nested-key", yaml_file(
        "name: a\ntrain:\n  epochs: 1\n  epochs: 2\n"), 2, ("'train.epochs' appears twice",)),
    Case("yaml-set-alias-bomb-value", with_args(experiment(), "--set",
                                                "description=[&a [x,x,x], *a]"), 2,
         ("description",)),
    # bounds in the schema
    Case("seed-2-to-the-32", experiment(seed=2**32), 2, ("seed", "4,294,967,295")),
    Case("seed-negative", experiment(seed=-1), 2, ("seed", "-1")),
    Case("seed-float", experiment(seed=1.5), 2, ("seed", "1.5")),
    Case("seed-huge", experiment(seed=10**30), 2, ("seed",)),
    Case("bank-size-huge", experiment(latents={"bank_size": 10**9}), 2,
         ("latents.bank_size", "65,536")),
    Case("bank-size-zero", experiment(latents={"bank_size": 0}), 2, ("latents.bank_size",)),
    Case("latent-dim-huge", experiment(architecture__params__latent_dim=10**9), 2,
         ("architecture.params.latent_dim", "16,384")),
    Case("latent-dim-zero", experiment(architecture__params__latent_dim=0), 2,
         ("architecture.params.latent_dim",)),
    Case("latent-dim-float", experiment(architecture__params__latent_dim=8.0), 2,
         ("architecture.params.latent_dim", "expected an integer")),
    Case("image-size-float", experiment(dataset__params__image_size=32.0), 2,
         ("dataset.params.image_size", "expected an integer", "32.0")),
    Case("image-size-float-run", experiment("run", dataset__params__image_size=32.0), 2,
         ("dataset.params.image_size", "expected an integer")),
    Case("image-size-bool", experiment(dataset__params__image_size=True), 2,
         ("dataset.params.image_size",)),
    Case("image-size-string", experiment(dataset__params__image_size="32"), 2,
         ("dataset.params.image_size", "'32'")),
    Case("base-filters-string", experiment(architecture__params__base_filters="many"), 2,
         ("architecture.params.base_filters",)),
    Case("epochs-huge", experiment(train__epochs=10**12), 2, ("train.epochs",)),
    Case("batch-size-huge", experiment(train__batch_size=10**12), 2, ("train.batch_size",)),
    Case("steps-per-epoch-zero", experiment(train__steps_per_epoch=0), 2,
         ("train.steps_per_epoch",)),
    Case("d-steps-huge", experiment(train__d_steps=1000), 2, ("train.d_steps", "100")),
    Case("shuffle-buffer-negative", experiment(train__shuffle_buffer=-1), 2,
         ("train.shuffle_buffer",)),
    Case("keep-last-zero", experiment(checkpoint={"keep_last": 0}), 2,
         ("checkpoint.keep_last",)),
    Case("every-n-steps-zero", experiment(checkpoint={"every_n_steps": 0}), 2,
         ("checkpoint.every_n_steps",)),
    Case("metrics-every-zero", experiment(train__metrics_every_n_epochs=0), 2,
         ("train.metrics_every_n_epochs",)),
    Case("unknown-strategy", experiment(train__strategy="parallel"), 2,
         ("train.strategy", "mirrored")),
    Case("verbose-five", experiment(train__verbose=5), 2, ("train.verbose",)),
    Case("cache-string", experiment(train__cache="yes"), 2, ("train.cache",)),
    Case("precision-int", experiment(train__precision=16), 2, ("train.precision",)),
    Case("epsilon-zero", experiment(optimizers={"generator": {"epsilon": 0.0}}), 2,
         ("optimizers.generator.epsilon",)),
    Case("schedule-decreasing", experiment(optimizers={"schedule": {
        "boundaries_epochs": [4, 2], "factors": [1.0, 0.5, 0.2]}}), 2,
         ("strictly increasing",)),
    Case("name-empty", experiment(name=""), 2, ("name",)),
    Case("name-with-space", experiment(name="my run"), 2, ("name", "my run")),
    Case("run-dir-number", experiment(run_dir=5), 2, ("run_dir",)),
    Case("plugins-not-a-list", experiment(plugins="x.py"), 2, ("plugins",)),
    Case("callbacks-not-a-list", experiment(callbacks={"name": "sample_grid"}), 2,
         ("callbacks",)),
    Case("callback-without-name", experiment(callbacks=[{"params": {}}]), 2,
         ("callbacks[0].name",)),
    Case("metric-params-a-list", experiment(metrics=[{"name": "x", "params": [1]}]), 2,
         ("metrics[0].params",)),
    Case("dataset-name-number", experiment(dataset__name=7), 2, ("dataset.name",)),
    Case("description-a-list", experiment(description=["a"]), 2, ("description",)),
    Case("source-a-number", experiment(dataset__params__source=3), 2,
         ("dataset.params.source",)),
    # devices
    Case("mirrored-gpu-without-gpu", experiment(train__strategy="mirrored",
                                                train__devices=["/gpu:0"]), 2,
         ("train.devices names /gpu:0", "does not have", "the CPU and 0 GPU")),
    Case("mirrored-gpu-without-gpu-run", experiment("run", train__strategy="mirrored",
                                                    train__devices=["/gpu:0", "/gpu:1"]), 2,
         ("train.devices names /gpu:0, /gpu:1", "does not have")),
    Case("device-not-a-name", experiment(train__strategy="mirrored", train__devices=["banana"]),
         2, ("'banana' is not a device name",)),
    Case("device-superscript", experiment(train__strategy="mirrored",
                                          train__devices=["/gpu:²"]), 2,
         ("not a device name",)),
    # --set and --from-checkpoint
    Case("set-index-superscript", with_args(experiment(callbacks=[{"name": "sample_grid"}]),
                                            "--set", "callbacks.².name=x"), 2,
         ("'²' is not a valid index",)),
    Case("set-index-negative", with_args(experiment(callbacks=[{"name": "sample_grid"}]),
                                         "--set", "callbacks.-1.name=x"), 2,
         ("not a valid index",)),
    Case("set-index-huge", with_args(experiment(callbacks=[]), "--set",
                                     f"callbacks.{10**30}.name=x"), 2, ("not a valid index",)),
    Case("set-through-a-scalar", with_args(experiment(), "--set", "seed.x=1"), 2,
         ("seed: expected an integer, received {'x': 1}",)),
    Case("set-empty-key", with_args(experiment(), "--set", "=5"), 2, ("expected KEY.PATH=VALUE",)),
    Case("set-bad-yaml-value", with_args(experiment(), "--set", "seed=[1"), 2,
         ("not valid YAML",)),
    Case("from-checkpoint-superscript", with_args(experiment("run"), "--from-checkpoint",
                                                  "epoch=²"), 2, ("--from-checkpoint 'epoch=²'",)),
    Case("from-checkpoint-unknown-key", with_args(experiment("run"), "--from-checkpoint",
                                                  "epoch=1,batch=2"), 2, ("expected epoch=N",)),
    Case("from-checkpoint-negative", with_args(experiment("run"), "--from-checkpoint",
                                               "epoch=-1"), 2, ("expected epoch=N",)),
    Case("from-run-alone", with_args(experiment("run"), "--from-run", "/nowhere"), 2,
         ("--from-run is only used with --from-checkpoint",)),
    # workers
    Case("prepare-workers-1000", with_args(tiny("prepare"), "--overwrite", "--set",
                                           "dataset.params.tag=w", "--workers", "1000"), 4,
         ("workers is 1000, more than the", "Use --workers")),
    Case("prepare-workers-zero", with_args(tiny("prepare"), "--workers", "0"), 2, ("--workers",)),
    Case("mnist-workers-zero", mnist_prepare(lambda tmp: "embedded", workers=0), 2,
         ("workers must be a positive integer",)),
    # ownership of the TFRecord folder
    Case("overwrite-with-a-user-file", tiny("prepare", user_file("notes.txt"), "--overwrite",
                                            "--set", "dataset.params.tag=v2"), 4,
         ("files ganlab did not write: 'notes.txt'",)),
    Case("overwrite-with-a-user-folder", tiny("prepare", user_file("mine", folder=True),
                                              "--overwrite", "--set", "dataset.params.tag=v2"),
         4, ("did not write: 'mine'",)),
    Case("overwrite-with-a-dotfile", tiny("prepare", user_file(".hidden"), "--overwrite",
                                          "--set", "dataset.params.tag=v2"), 4, ("'.hidden'",)),
    Case("overwrite-with-a-fake-shard-folder", tiny("prepare", user_file(
        "train-00000-of-00009.tfrecord.d", folder=True), "--overwrite", "--set",
        "dataset.params.tag=v2"), 4, ("did not write",)),
    Case("overwrite-without-manifest-with-user-file", tiny("prepare", no_manifest_and(
        "keep.me"), "--overwrite"), 4, ("holds files ganlab did not write: 'keep.me'",)),
    Case("damaged-manifest-with-user-file", tiny("prepare", lambda f: (
        garbage_manifest(f), user_file("keep.me")(f)), "--overwrite"), 4, ("'keep.me'",)),
    Case("run-dir-is-the-tfrecords", tiny("validate", None, run_dir="{tfrecords}"), 2,
         ("are the same folder",)),
    Case("run-dir-inside-tfrecords-prepare", tiny("prepare", None, "--overwrite",
                                                  run_dir="{tfrecords}/run"), 2,
         ("the run directory is inside the TFRecord folder",)),
    Case("tfrecords-inside-run-dir-run", tiny("run", None, run_dir="{tmp}"), 2,
         ("the TFRecord folder is inside the run directory",)),
    Case("tfrecords-is-a-file", mnist_prepare(lambda tmp: "embedded", tfrecords="{tmp}/exp.yaml"),
         4, ("is a file, not a folder",)),
    # dataset.json fields, validated where read
    Case("manifest-negative-count", manifest_edit(set_split("count", -5)), 4,
         ("splits.train.count is -5, expected a whole number >= 0",)),
    Case("manifest-negative-count-run", manifest_edit(set_split("count", -5), "run"), 4,
         ("damaged", "splits.train.count is -5")),
    Case("manifest-count-string", manifest_edit(set_split("count", "64")), 4,
         ("splits.train.count is '64'",)),
    Case("manifest-count-float", manifest_edit(set_split("count", 64.0)), 4,
         ("splits.train.count is 64.0",)),
    Case("manifest-empty-data-run", manifest_edit(empty_data, "run"), 4,
         ("holds no images", "the data is empty")),
    Case("manifest-empty-data-validate", manifest_edit(empty_data, "validate"), 4,
         ("holds no images",)),
    Case("manifest-shard-count-negative", manifest_edit(set_shard("count", -1)), 4,
         ("shards[0].count is -1",)),
    Case("manifest-shard-bytes-string", manifest_edit(set_shard("bytes", "big")), 4,
         ("shards[0].bytes is 'big'",)),
    Case("manifest-shard-path-escape", manifest_edit(set_shard("file", "../../etc/passwd")), 4,
         ("shards[0].file is '../../etc/passwd'", "no folders")),
    Case("manifest-shard-not-mapping", manifest_edit(lambda m: m["splits"]["train"].__setitem__(
        "shards", [7])), 4, ("shards[0] is not a mapping",)),
    Case("manifest-splits-a-list", manifest_edit(set_top("splits", [])), 4,
         ("splits is []",)),
    Case("manifest-image-shape-huge", manifest_edit(set_top("image_shape", [10**6, 8, 1])), 4,
         ("image_shape is [1000000, 8, 1]",)),
    Case("manifest-image-shape-strings", manifest_edit(set_top("image_shape", ["8", 8, 1])), 4,
         ("image_shape is ['8', 8, 1]",)),
    Case("manifest-format-version-2", manifest_edit(set_top("format_version", 2)), 4,
         ("format version 2", "reads version 1")),
    Case("manifest-format-version-true", manifest_edit(set_top("format_version", True)), 4,
         ("format version True",)),
    Case("manifest-fingerprint-edited", manifest_edit(set_top("fingerprint", "0" * 64)), 4,
         ("same options as the experiment but another fingerprint", "edited or damaged")),
    Case("manifest-fingerprint-number", manifest_edit(set_top("fingerprint", 5)), 4,
         ("fingerprint is 5",)),
    Case("manifest-options-a-list", manifest_edit(set_top("options", [])), 4,
         ("options is []",)),
    Case("manifest-not-an-object", tiny("prepare", lambda f: (f / "dataset.json").write_text(
        "[1, 2]")), 4, ("is not a ganlab TFRecord manifest",)),
    Case("manifest-skipped-count-negative", manifest_edit(set_top("skipped_count", -2)), 4,
         ("skipped_count is -2",)),
    # IDX headers
    Case("idx-20x20-images", mnist_prepare(idx_source(20, 20)), 4,
         ("images of 20 x 20 pixels, not 28 x 28", "source_shape")),
    Case("idx-1x5000-images", mnist_prepare(idx_source(1, 5000)), 4,
         ("images of 1 x 5000 pixels",)),
    Case("idx-forged-huge-header", mnist_prepare(forged_idx), 4,
         ("declares 60000 x 60000 x 60000 images", "more than the 100,000,000")),
    Case("idx-label-count-mismatch", mnist_prepare(idx_source(28, 28, 4, labels=5)), 4,
         ("holds 4 images but", "5 labels")),
    Case("idx-extra-bytes", mnist_prepare(idx_source(28, 28, extra=b"\x00" * 10)), 4,
         ("longer than its header says",)),
    Case("idx-labels-with-images-magic", mnist_prepare(idx_source(28, 28, label_magic=2051)), 4,
         ("magic number is 2051", "swapped")),
    Case("idx-zero-rows", mnist_prepare(idx_source(0, 28)), 4, ("0 x 28 pixels",)),
    Case("mnist-source-shape-bad", mnist_prepare(idx_source(20, 20), source_shape=[0, 5]), 2,
         ("source_shape must be [rows, cols]",)),
    Case("mnist-source-is-a-plain-file", mnist_prepare(a_plain_file), 4, ("is a file",)),
    Case("npz-values-out-of-range", mnist_prepare(npz_out_of_range), 4,
         ("must be integers in 0..255",)),
    # OS errors on paths the user chose
    Case("run-dir-is-a-file", tiny_run_dir(a_file_at("occupied")), 5,
         ("run_dir", "occupied is a file, not a folder", "Choose another run_dir")),
    Case("run-dir-is-a-file-validate", tiny_run_dir(a_file_at("taken"), "validate"), 5,
         ("run_dir", "taken is a file, not a folder")),
    Case("run-dir-symlink-loop-validate", tiny_run_dir(symlink_loop, "validate"), 5,
         ("run_dir", "symlink loop")),
    # The run's own output: named, with the checkpoints intact (exit 5, like a checkpoint's).
    Case("export-disk-full", tiny("run"), 5,
         ("generator.keras failed", "No space left on device", "the disk is full",
          "the checkpoints are intact"), inject=disk_full_on_export),
    Case("run-dir-under-a-file", tiny_run_dir(lambda tmp: str(
        a_file_at("blocker")(tmp)) + "/run"), 5, ("Not a directory", "blocker")),
    Case("run-dir-symlink-loop", tiny_run_dir(symlink_loop), 5, ("symlink",)),
    Case("lock-path-is-a-folder", tiny_run_dir(lock_is_a_folder), 5,
         ("Is a directory", ".ganlab.lock", "move it away")),
    Case("inspect-out-under-a-file", out_under_a_file, 74,
         ("Cannot use", "blocker", "File exists")),
    Case("inspect-unknown-split", inspect_tiny("--split", "validation"), 4,
         ("no split 'validation'",)),
    Case("inspect-num-zero", inspect_tiny("--num", "0"), 2, ("--num",)),
    Case("history-csv-is-a-folder", history_is_a_folder, 74, ("history.csv", "Is a directory")),
    # run directories read by sample (validated where read)
    Case("sample-num-zero", fake_run(None, "--num", "0"), 2, ("--num",)),
    Case("sample-no-run-json", fake_run(lambda run: (run / "run.json").unlink()), 5,
         ("not a ganlab run directory",)),
    Case("sample-run-json-latent-dim-string", fake_run(metadata={"latent_dim": "eight"}), 5,
         ("run.json is damaged", "latent_dim is 'eight'")),
    Case("sample-run-json-image-shape-bad", fake_run(metadata={"image_shape": [8, 8]}), 5,
         ("image_shape is [8, 8]",)),
    Case("sample-run-json-distribution", fake_run(metadata={"latent_distribution": "cauchy"}), 5,
         ("latent_distribution is 'cauchy'",)),
    Case("sample-run-json-epochs-negative", fake_run(metadata={"epochs_completed": -1}), 5,
         ("epochs_completed is -1",)),
    Case("sample-run-json-a-list", fake_run(lambda run: (run / "run.json").write_text("[]")), 5,
         ("not a JSON object",)),
    Case("sample-generator-random-bytes", fake_run(generator_file(
        lambda path: path.write_bytes(bytes(range(256)) * 8))), 5,
         ("not a Keras model archive", "not a zip file")),
    Case("sample-generator-without-config", fake_run(generator_file(zip_without_config)), 5,
         ("has no config.json",)),
    Case("sample-generator-wrong-shape", fake_run(generator_file(wrong_shape_generator)), 5,
         ("maps (None, 8) to (None, 4, 4, 3)", "not this run's generator")),
    Case("sample-config-alias-bomb", fake_run(lambda run: (run / "config.yaml").write_text(
        bomb_text()), "--seed", "1"), 5, ("expands to more than",)),
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                   request: pytest.FixtureRequest) -> None:
    if case.xfail:
        request.applymarker(pytest.mark.xfail(reason=case.xfail, strict=True))
    monkeypatch.syspath_prepend(str(tmp_path / "site"))  # for installed_plugin()
    monkeypatch.delitem(sys.modules, "breaker_plugin", raising=False)
    args = case.setup(tmp_path)
    if case.inject:
        case.inject(monkeypatch)
    before = snapshot(tmp_path / "tfrecords")
    inputs = user_files(tmp_path)
    result = invoke(args, env=case.env or None)
    fragments = [f.replace("{tmp}", str(tmp_path)) for f in case.fragments]
    assert_clean_failure(result, case.code, *fragments)
    assert snapshot(tmp_path / "tfrecords") == before, "finished TFRecords were changed"
    after = user_files(tmp_path)
    changed = [name for name, data in inputs.items() if after.get(name) != data]
    assert not changed, f"the user's files were changed or removed: {changed}"
    assert not [p.name for p in tmp_path.iterdir() if ".partial-" in p.name]
    sys.modules.pop("breaker_plugin", None)


def user_files(root: Path) -> dict[str, bytes]:
    """Every file under ``root`` but ganlab's run directories (``runs/``), with its bytes."""
    return {str(path.relative_to(root)): path.read_bytes() for path in root.rglob("*")
            if path.is_file() and not path.is_symlink()
            and path.relative_to(root).parts[0] != "runs"}


def snapshot(folder: Path) -> dict[str, bytes]:
    return ({p.name: p.read_bytes() for p in folder.iterdir() if p.is_file()}
            if folder.is_dir() else {})


def test_the_table_is_large_enough() -> None:
    assert len(CASES) >= 150
    assert len({case.id for case in CASES}) == len(CASES)


@pytest.mark.parametrize("case_id", ["python-object-tag", "npz-object-arrays",
                                     "unknown-dataset"])
def test_a_real_terminal_sees_one_paragraph_and_no_traceback(case_id: str,
                                                             tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == case_id)
    result = run_cli(*case.setup(tmp_path))
    assert result.returncode == case.code, result.stdout + result.stderr
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error: ")]
    assert len(errors) == 1, result.stderr
    message = flat(result.stderr[result.stderr.index("Error: "):])
    for fragment in case.fragments:
        assert fragment.replace("{tmp}", str(tmp_path)) in message


def test_debug_shows_the_traceback(tmp_path: Path) -> None:
    path = tmp_path / "exp.yaml"
    path.write_text("name: [unclosed\n")
    result = invoke(["--debug", "validate", str(path)])
    assert result.exit_code != 0 and result.exception is not None
    assert not isinstance(result.exception, SystemExit)


def test_damaged_run_json_is_moved_aside_and_written_anew(tmp_path: Path) -> None:
    result = invoke(tiny_run_then(garbage_file("run.json"))(tmp_path))
    assert result.exit_code == 0, result.output
    text = flat(result.output)
    assert f"warning: Cannot read {tmp_path}/runs/bad/run.json" in text
    assert "moved aside to run.json.damaged and will be written anew" in text
    meta = json.loads((tmp_path / "runs" / "bad" / "run.json").read_text())
    assert meta["status"] == "completed" and meta["epochs_completed"] == 4
