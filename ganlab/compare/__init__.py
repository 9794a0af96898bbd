"""``ganlab compare``: tables, curves, sample grids and an HTML report over runs and sweeps.

:mod:`ganlab.compare.collect` reads run directories, :mod:`ganlab.compare.table`
builds the tables, :mod:`ganlab.compare.figures` draws (matplotlib) and
:mod:`ganlab.compare.report` writes the self-contained HTML report.
"""
