"""``ganlab compare``: tables, curves, sample grids and an HTML report over runs and sweeps.

:mod:`ganlab.compare.collect` reads run directories (through
:mod:`ganlab.compare.files`, every file as hostile input, and
:mod:`ganlab.compare.runfiles` for the tables a run writes),
:mod:`ganlab.compare.table` builds the tables, :mod:`ganlab.compare.figures`
draws (matplotlib), :mod:`ganlab.compare.real` reads real images from a
run's TFRecords and :mod:`ganlab.compare.report` writes the self-contained
HTML report (Jinja2, autoescaped).
"""
