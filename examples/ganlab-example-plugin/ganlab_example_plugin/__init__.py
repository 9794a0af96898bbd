"""ganlab-example-plugin: a ganlab plugin.

It provides: dataset, architecture, loss, callback, metric, command.
"""

__version__ = "0.1.0"
