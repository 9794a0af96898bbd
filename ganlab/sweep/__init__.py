"""Sweeps: one experiment, many runs (a grid and seeded random draws of ``--set`` overrides).

``ganlab sweep`` expands the axes into named runs (:mod:`ganlab.sweep.spec`),
records them and their states in ``runs/<sweep>/sweep.json``
(:mod:`ganlab.sweep.state`) and trains each one as an ordinary ``ganlab run``
subprocess (:mod:`ganlab.sweep.launch`) on a backend: N processes on this
machine (:mod:`ganlab.sweep.local`) or Ray tasks (:mod:`ganlab.sweep.ray_backend`).
Nothing here imports TensorFlow or Ray at module import time.
"""
