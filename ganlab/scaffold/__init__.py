"""``ganlab new-plugin``: write a ready plugin package from the templates in this folder.

Templates are ``string.Template`` files (``$module``, ``$short``, ...), one per
component kind, so each reads like the code it becomes.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from string import Template

from ganlab import __version__
from ganlab.atomic import atomic_write
from ganlab.errors import ConfigError

KINDS: tuple[str, ...] = ("dataset", "architecture", "loss", "regularizer", "callback", "metric",
                          "command")
TEMPLATES = Path(__file__).resolve().parent / "templates"
_NAME = re.compile(r"[a-z][a-z0-9_-]*[a-z0-9]")
#: The hook each kind is registered through, and the line that registers it.
HOOKS = {
    "dataset": ("register_datasets",
                'register("${short}_blobs", "$module.dataset:Blobs",\n'
                '             description="Synthetic Gaussian blobs (in memory, no files)")'),
    "architecture": ("register_architectures",
                     'register("${short}_mlp", "$module.architecture:MLP",\n'
                     '             description="A small fully connected generator and '
                     'discriminator")'),
    "loss": ("register_losses",
             'register("${short}_loss", "$module.loss:NonSaturatingR1",\n'
             '             description="Non-saturating loss with an optional R1 penalty")'),
    "regularizer": ("register_regularizers",
                    'register("${short}_drift", "$module.regularizer:DriftPenalty",\n'
                    '             description="Drift penalty on D\'s real logits '
                    '(Karras et al. 2018)")'),
    "callback": ("register_callbacks",
                 'register("${short}_csv", "$module.callback:LossCSV",\n'
                 '             description="Appends each epoch\'s losses to a CSV file")'),
    "metric": ("register_metrics",
               'register("${short}_mean_gap", "$module.metric:MeanGap",\n'
               '             description="Gap between generated and real mean pixel values")'),
}


@dataclass(frozen=True)
class Names:
    """The names a plugin called ``short`` goes by."""

    short: str
    dist: str
    module: str

    @classmethod
    def of(cls, name: str) -> Names:
        """``foo`` or ``ganlab-foo`` → short ``foo``, dist ``ganlab-foo``, module ``ganlab_foo``.

        Raises:
            ConfigError: Not a valid package name.

        """
        if not _NAME.fullmatch(name):  # match() with "$" would let "foo\n" through
            raise ConfigError(f"{name!r} is not a usable plugin name: use lower-case letters, "
                              "digits, '-' or '_', starting with a letter (e.g. 'r1-loss').")
        short = name.removeprefix("ganlab-").replace("-", "_")
        dist = f"ganlab-{short.replace('_', '-')}"
        return cls(short=short, dist=dist, module=dist.replace("-", "_"))


def render(template: str, names: Names, kinds: Sequence[str]) -> str:
    """A template file filled in for ``names`` and ``kinds``."""
    text = (TEMPLATES / template).read_text(encoding="utf-8")
    return Template(text).substitute(
        short=names.short, dist=names.dist, module=names.module, ganlab_version=__version__,
        command=f"{names.short.replace('_', '-')}-describe",
        kinds=", ".join(kinds), hooks=_hooks(names, kinds),
        image_size="16" if "architecture" in kinds else "32",
        dataset=f"{names.short}_blobs" if "dataset" in kinds else "test_blobs",
        architecture=f"{names.short}_mlp" if "architecture" in kinds else "dcgan",
        architecture_params="{}" if "architecture" in kinds else
        '{"latent_dim": 8, "base_filters": 4}',
        loss=f"{names.short}_loss" if "loss" in kinds else "bce",
        regularizers=f'[{{"name": "{names.short}_drift", "params": {{"interval": 2}}}}]'
        if "regularizer" in kinds else "[]",
        callbacks=f'[{{"name": "{names.short}_csv"}}]' if "callback" in kinds else "[]",
        metrics=f'[{{"name": "{names.short}_mean_gap"}}]' if "metric" in kinds else "[]",
    )


def _hooks(names: Names, kinds: Sequence[str]) -> str:
    blocks = []
    for kind in kinds:
        if kind == "command":
            blocks.append("@hookimpl\ndef register_commands(cli):\n"
                          '    """Add the plugin\'s commands (imported only now)."""\n'
                          f"    from {names.module}.command import describe\n\n"
                          "    cli.add_command(describe)\n")
            continue
        hook, line = HOOKS[kind]
        call = Template(line).substitute(short=names.short, module=names.module)
        blocks.append(f"@hookimpl\ndef {hook}(register):\n"
                      f'    """The plugin\'s {kind}."""\n    {call}\n')
    return "\n\n".join(blocks)


def files_for(names: Names, kinds: Sequence[str]) -> dict[str, str]:
    """Relative path → content of every file of the package."""
    package = names.module
    files = {
        "pyproject.toml": render("pyproject.toml.tmpl", names, kinds),
        "README.md": render("README.md.tmpl", names, kinds),
        f"{package}/__init__.py": render("package_init.py.tmpl", names, kinds),
        f"{package}/plugin.py": render("plugin.py.tmpl", names, kinds),
        "tests/test_plugin.py": render("test_plugin.py.tmpl", names, kinds),
    }
    for kind in kinds:
        files[f"{package}/{kind}.py"] = render(f"{kind}.py.tmpl", names, kinds)
        files[f"tests/test_{kind}.py"] = render(f"test_{kind}.py.tmpl", names, kinds)
    return files


def write_package(target: Path, name: str, kinds: Sequence[str]) -> tuple[Path, Names]:
    """Write the package for ``name`` with ``kinds`` into ``target/<dist>``.

    Raises:
        ConfigError: Unknown kinds, a bad name, or the folder exists already.

    """
    unknown = [k for k in kinds if k not in KINDS]
    if unknown:
        raise ConfigError(f"Unknown --kind {', '.join(unknown)}; choose from {', '.join(KINDS)}.")
    chosen = [k for k in KINDS if k in kinds] or list(KINDS)
    names = Names.of(name)
    root = target / names.dist
    if root.exists():
        raise ConfigError(f"{root} exists already; choose another name or folder (nothing "
                          "was written).")
    for relative, content in files_for(names, chosen).items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_write(path, "w", encoding="utf-8") as handle:
            handle.write(content)
    return root, names
