"""Run directories written by hand for the compare tests (no training), and Chromium."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

#: A config ganlab could have resolved (only what compare reads matters).
BASE_CONFIG: dict[str, Any] = {
    "name": "run", "description": "", "seed": 1,
    "dataset": {"name": "mnist", "params": {"tfrecords": "data/mnist"}},
    "architecture": {"name": "dcgan", "params": {"base_filters": 16}},
    "loss": {"name": "bce", "params": {}},
    "optimizers": {"generator": {"learning_rate": 0.0002}},
    "train": {"epochs": 3, "batch_size": 16, "metrics_every_n_epochs": 1},
    "metrics": [{"name": "toy_distance", "params": {}}],
}
SPECS = {"format": 1, "metrics": {"toy_distance": {
    "fid": {"higher_is_better": False, "minimum": 0.0, "maximum": None}}}}


def png(path: Path, shade: int = 128, size: int = 16) -> Path:
    """A small grey PNG at ``path``."""
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("L", (size, size), shade).save(path, format="PNG")
    return path


def write_run(root: Path, name: str, *, fid: list[float] | None = None,
              config: dict[str, Any] | None = None, sets: list[str] = (),  # type: ignore[assignment]
              evaluations: list[dict[str, Any]] | None = None, grid: str = "epoch_0003.png",
              real: bool = False, classes: int = 0, specs: bool = True) -> Path:
    """A finished-looking run directory with history, metric curves, specs and a grid."""
    import copy

    run = root / name
    run.mkdir(parents=True)
    resolved = copy.deepcopy(config or BASE_CONFIG)
    resolved["name"] = name
    header = "# Resolved by ganlab 0.1.0 from exp.yaml" + (
        f" with --set {' --set '.join(sets)}" if sets else "")
    (run / "config.yaml").write_text(header + "\n" + yaml.safe_dump(resolved), encoding="utf-8")
    (run / "run.json").write_text(json.dumps({"status": "completed", "epochs_completed": 3}))
    fid = fid if fid is not None else [3.0, 2.0, 1.5]
    lines = ["epoch,d_loss,g_loss,seconds,images_per_sec"]
    lines += [f"{e},0.{e},1.{e},2.0,100.0" for e in range(1, len(fid) + 1)]
    (run / "history.csv").write_text("\n".join(lines) + "\n")
    rows = ["epoch,metric,score,value"]
    rows += [f"{e},toy_distance,fid,{v}" for e, v in enumerate(fid, 1)]
    (run / "metrics.csv").write_text("\n".join(rows) + "\n")
    if specs:
        (run / "score_specs.json").write_text(json.dumps(SPECS))
    if evaluations is not None:
        (run / "metrics.json").write_text(json.dumps({"format": 1, "records": evaluations}))
    if grid:
        png(run / "samples" / grid, 90)
    if real:
        png(run / "samples" / "real.png", 200)
    for label in range(classes):
        png(run / "samples" / "classes" / f"class_{label}.png", 20 * label)
    return run


def chromium() -> str:
    """The Chromium binary (the HTML tests need it; .ci/run installs it)."""
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    assert found, "Chromium is needed: apt-get install -y chromium (.ci/run installs it)"
    return found


#: Added to a copy of a report: writes what the page looks like after load into the DOM.
PROBE = ("<script>window.addEventListener('load', () => { const p = "
         "document.createElement('pre'); p.id = 'probe'; p.textContent = JSON.stringify({"
         "title: document.title, scrollWidth: document.documentElement.scrollWidth, "
         "images: [...document.images].map(i => [i.alt, i.naturalWidth, i.naturalHeight])}); "
         "document.body.appendChild(p); });</script>")


def render(report: Path, work: Path, width: int = 1400) -> tuple[str, dict[str, Any]]:
    """The DOM Chromium builds from ``report`` at ``width`` px, and the probe's findings.

    The probe is appended after the report's own content, so a script the
    report let through has run (and changed the title) before it reads.
    """
    page = work / "probed.html"
    page.write_text(report.read_text(encoding="utf-8").replace("</body>", PROBE + "</body>"),
                    encoding="utf-8")
    flags = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--virtual-time-budget=5000", f"--window-size={width},1000"]
    dom = subprocess.run([*flags, "--dump-dom", page.as_uri()], capture_output=True, text=True,
                         timeout=120, check=True).stdout
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom, re.S)
    assert found, dom[-2000:]
    import html

    return dom, json.loads(html.unescape(found.group(1)))


def screenshot(report: Path, shot: Path, width: int = 1400) -> Path:
    """A PNG screenshot of ``report`` at ``width`` px."""
    flags = [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
             "--virtual-time-budget=5000", f"--window-size={width},2200"]
    subprocess.run([*flags, f"--screenshot={shot}", report.as_uri()], capture_output=True,
                   timeout=120, check=True)
    return shot
