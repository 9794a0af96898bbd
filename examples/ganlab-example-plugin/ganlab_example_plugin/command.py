"""A command: ``ganlab example-plugin-describe RUN_DIR`` prints what a run directory holds.

Heavy imports (TensorFlow) belong inside the command function, so that
``ganlab --help`` stays fast.
"""

import json
from pathlib import Path

import click

from ganlab.errors import RunDirectoryError


@click.command("example-plugin-describe")
@click.argument("run_dir", type=click.Path(file_okay=False))
def describe(run_dir):
    """Print the name, status and epochs of RUN_DIR."""
    info = Path(run_dir) / "run.json"
    if not info.is_file():
        raise RunDirectoryError(f"{run_dir} is not a ganlab run directory (no run.json).")
    data = json.loads(info.read_text())
    click.echo(f"{data.get('name')}: {data.get('status')}, "
               f"{data.get('epochs_completed', 0)} epochs")
