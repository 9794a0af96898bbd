"""Plugin distributions an experiment requires (``requires:``), and the pins of a run.

``requires: ["ganlab-foo>=0.2"]`` in an experiment is checked before any
work: a distribution that is missing, or installed at a version outside the
specifier, stops the command with one message listing every problem and the
``pip install`` line that fixes them. ``ganlab list-plugins --requirements
RUN_DIR`` prints the pins that reproduce a run's plugin set.

An experiment file is someone else's text, so the advice is built to be
pasted safely: it names distributions by their validated name, extras and
version specifier only, each quoted with :func:`shlex.quote`; a requirement
that points at a URL (``pkg @ https://...``) gets no command to paste (only
its name, and the note to install it from a source one trusts); one with an
environment marker (``x; python_version < "3.11"``) is checked only where
the marker holds. Paths and VCS links (``./x``, ``git+https://...``) are not
requirements at all and are refused as malformed.
"""

from __future__ import annotations

import importlib.metadata
import json
import shlex
from collections.abc import Sequence
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from ganlab.errors import ConfigError, PluginError, RunDirectoryError


def parse_requirements(specs: Sequence[str]) -> list[Requirement]:
    """Parse ``requires:`` entries.

    Raises:
        ConfigError: An entry is not a requirement (``name``, ``name>=1.0`` ...).

    """
    parsed = []
    for spec in specs:
        try:
            parsed.append(Requirement(spec))
        except InvalidRequirement as exc:
            raise ConfigError(f"requires: '{spec}' is not a package requirement like "
                              f"'ganlab-foo>=0.2' ({exc}).") from None
    return parsed


def unmet(requirement: Requirement) -> str | None:
    """Why ``requirement`` is not met by the installed distributions, or ``None``."""
    try:
        installed = importlib.metadata.version(requirement.name)
    except importlib.metadata.PackageNotFoundError:
        return f"{requirement.name} is not installed"
    if requirement.specifier and not requirement.specifier.contains(installed,
                                                                    prereleases=True):
        return f"{requirement.name} {installed} is installed, {requirement} is required"
    return None


def applies(requirement: Requirement) -> bool:
    """Whether ``requirement``'s environment marker (if any) holds in this interpreter."""
    return requirement.marker is None or requirement.marker.evaluate()


def install_argument(requirement: Requirement) -> str:
    """``name[extras]specifier``, shell-quoted: what ``pip install`` gets (no URL, no marker)."""
    extras = f"[{','.join(sorted(requirement.extras))}]" if requirement.extras else ""
    return shlex.quote(f"{requirement.name}{extras}{requirement.specifier}")


def check_requirements(specs: Sequence[str]) -> None:
    """Raise when a required distribution is missing or at the wrong version.

    Requirements whose environment marker does not hold here are skipped.

    Raises:
        ConfigError: A malformed entry.
        PluginError: Requirements not met (all of them listed, with the fix
            for those named by a package index; none for URL requirements).

    """
    requirements = [r for r in parse_requirements(specs) if applies(r)]
    problems = [(r, why) for r in requirements if (why := unmet(r)) is not None]
    if not problems:
        return
    indexed = [r for r, _ in problems if not r.url]
    urls = [r.name for r, _ in problems if r.url]
    advice = []
    if indexed:
        advice.append("Install them with: pip install "
                      + " ".join(install_argument(r) for r in indexed))
    if urls:
        advice.append(f"{', '.join(urls)} {'is' if len(urls) == 1 else 'are'} required from "
                      "a URL the experiment names; ganlab gives no command for that: install "
                      "it from a source you trust")
    raise PluginError(f"The experiment requires plugins that are not available: "
                      f"{'; '.join(why for _, why in problems)}. {'. '.join(advice)}.")


def run_pins(run_dir: Path) -> list[str]:
    """``name==version`` of every plugin distribution a run used (from ``plugins.json``).

    Raises:
        RunDirectoryError: No readable ``plugins.json`` in ``run_dir``.

    """
    path = Path(run_dir) / "plugins.json"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RunDirectoryError(f"Cannot read {path} (written by 'ganlab run' into every run "
                                f"directory): {exc}.") from None
    pins = {}
    for plugin in data.get("plugins", []):
        if plugin.get("distribution") and plugin.get("version"):
            pins[plugin["distribution"]] = plugin["version"]
    locals_ = sorted(p["target"] for p in data.get("plugins", []) if p.get("origin") == "local")
    lines = [f"{name}=={version}" for name, version in sorted(pins.items())]
    lines += [f"# local plugin (not a distribution): {target}" for target in locals_]
    return lines
