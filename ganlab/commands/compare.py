"""``ganlab compare``: runs and sweeps side by side (terminal, CSV, PNG, HTML)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from ganlab.rundir import write_text_atomic


def default_out(paths: list[Path]) -> Path:
    """``<run or sweep>/compare`` for one argument, else ``./compare``."""
    return paths[0] / "compare" if len(paths) == 1 else Path("compare")


class Printer:
    """``click.echo`` that stops printing, quietly, once the reader has gone.

    ``ganlab compare ... | head -1`` closes the pipe after one line: the
    comparison still writes its files and exits 0, without a "Broken pipe"
    error (the rest of standard output goes to the null device).
    """

    def __init__(self) -> None:
        self.closed = False

    def __call__(self, text: str = "") -> None:
        """Print a line on standard output, unless the reader has closed it."""
        if self.closed:
            return
        try:
            click.echo(text)
        except BrokenPipeError:
            self.closed = True
            try:  # so that the interpreter's last flush does not fail either
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, sys.stdout.fileno())
                os.close(devnull)
            except (OSError, ValueError):
                pass  # not a real file descriptor (a test's captured output)


def warn(message: str) -> None:
    """A skipped value, on standard error (one line, control characters replaced)."""
    from ganlab.compare.table import terminal_text

    try:
        click.echo(f"warning: {terminal_text(message)}", err=True)
    except BrokenPipeError:
        pass


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Folder for compare.csv, compare_by_config.csv, curves.png, samples.png "
                   "and report.html (default: RUN_OR_SWEEP/compare for one argument, else "
                   "./compare).")
def compare(paths: tuple[Path, ...], out: Path | None) -> None:
    """Compare runs: RUN_OR_SWEEP... are run directories, sweep directories or folders of runs.

    Prints a table (overrides, state, epochs, wall and training time,
    images/s, final losses, final and best training-time metrics, offline
    evaluations with their protocol) and, for sweeps with seeds, the median
    and min–max over seeds per configuration; writes them as CSV, draws the
    metric curves and the last sample grids, and writes one self-contained
    HTML report (sortable runs table with the best run per score marked,
    config differences, sample and real grids). A damaged or hostile file
    in a run is skipped with a warning naming it.
    """
    from ganlab.compare.collect import find_runs
    from ganlab.compare.figures import draw_curves, draw_samples
    from ganlab.compare.report import report_html
    from ganlab.compare.table import (
        protocols,
        render_text,
        run_table,
        seed_table,
        terminal_text,
        to_csv,
    )

    echo = Printer()
    sweep_warnings: list[str] = []
    runs = find_runs(list(paths), sweep_warnings.append)
    out = out or default_out(list(paths))
    out.mkdir(parents=True, exist_ok=True)
    table = run_table(runs)
    by_config = seed_table(runs, table)
    echo(render_text(table))
    lines = protocols(runs)
    for line in lines:
        echo(f"  {terminal_text(line)}")
    write_text_atomic(out / "compare.csv", to_csv(table))
    if by_config is not None:
        echo("\nPer configuration over seeds: median [min–max]")
        echo(render_text(by_config, spread=True))
        write_text_atomic(out / "compare_by_config.csv", to_csv(by_config))
    curves_png = draw_curves(runs, out / "curves.png")
    draw_samples(runs, out / "samples.png")
    write_text_atomic(out / "report.html",
                      report_html(runs, table, by_config, curves_png, lines, sweep_warnings))
    for message in [*sweep_warnings, *(w for run in runs for w in run.warnings)]:
        warn(message)
    echo(f"\nWrote {out / 'compare.csv'}"
         + (f", {out / 'compare_by_config.csv'}" if by_config is not None else "")
         + f", the pictures and {out / 'report.html'}")


COMMANDS: list[click.Command] = [compare]
