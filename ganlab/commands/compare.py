"""``ganlab compare``: runs and sweeps side by side (terminal, CSV, PNG, HTML)."""

from __future__ import annotations

from pathlib import Path

import click

from ganlab.rundir import write_text_atomic


def default_out(paths: list[Path]) -> Path:
    """``<run or sweep>/compare`` for one argument, else ``./compare``."""
    return paths[0] / "compare" if len(paths) == 1 else Path("compare")


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
    HTML report.
    """
    from ganlab.compare.collect import find_runs
    from ganlab.compare.figures import draw_curves, draw_samples
    from ganlab.compare.report import report_html
    from ganlab.compare.table import protocols, render_text, run_table, seed_table, to_csv

    runs = find_runs(list(paths))
    out = out or default_out(list(paths))
    out.mkdir(parents=True, exist_ok=True)
    table = run_table(runs)
    by_config = seed_table(runs, table)
    click.echo(render_text(table))
    lines = protocols(runs)
    for line in lines:
        click.echo(f"  {line}")
    write_text_atomic(out / "compare.csv", to_csv(table))
    if by_config is not None:
        click.echo("\nPer configuration over seeds: median [min–max]")
        click.echo(render_text(by_config, spread=True))
        write_text_atomic(out / "compare_by_config.csv", to_csv(by_config))
    curves_png = draw_curves(runs, out / "curves.png")
    draw_samples(runs, out / "samples.png")
    write_text_atomic(out / "report.html",
                      report_html(runs, table, by_config, curves_png, lines))
    click.echo(f"\nWrote {out / 'compare.csv'}"
               + (f", {out / 'compare_by_config.csv'}" if by_config is not None else "")
               + f", the pictures and {out / 'report.html'}")


COMMANDS: list[click.Command] = [compare]
