"""One worker of a two-process MultiWorkerMirroredStrategy check (run by test_multi_worker.py).

``python multi_worker_probe.py OUT.json`` with ``TF_CONFIG`` set: joins the
cluster the way ``ganlab run`` does, exercises the :class:`Cluster`
collectives and reads the engine's epoch batches (whole, and this worker's
share of them), then writes what this worker saw as JSON for the test to
compare across workers.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any


def main(out: Path) -> None:
    """Run the checks and write this worker's observations to ``out``."""
    from ganlab.engine.cluster import ChiefFailed, Cluster
    from ganlab.engine.strategy import make_strategy

    cluster = Cluster.of(make_strategy("multi_worker"))  # before TF starts, as in ganlab run
    import tensorflow as tf

    from ganlab.data.pipeline import epoch_dataset

    seen: dict[str, Any] = {"task_id": cluster.task_id, "num_workers": cluster.num_workers,
                            "is_chief": cluster.is_chief,
                            "replicas": cluster.strategy.num_replicas_in_sync}
    seen["broadcast"] = cluster.broadcast([7, -3] if cluster.is_chief else [1, 1])
    seen["any_of"] = cluster.any_of([not cluster.is_chief, False])

    def fail_on_chief() -> None:
        raise ValueError("the chief's own error")

    try:
        cluster.chief_first(fail_on_chief, "probing")
    except (ValueError, ChiefFailed) as exc:
        seen["chief_first"] = type(exc).__name__
    images = tf.data.Dataset.range(64).map(lambda i: tf.fill([2], tf.cast(i, tf.float32)))
    batches = epoch_dataset(images, epoch=1, seed=7, batch_size=8, steps=4, skip=1,
                            shuffle_buffer=64, deterministic=True)
    seen["whole"] = [sorted(int(v) for v in batch.numpy()[:, 0]) for batch in batches]
    seen["batches"] = [
        sorted(int(v) for part in cluster.strategy.experimental_local_results(batch)
               for v in part.numpy()[:, 0])
        for batch in cluster.strategy.experimental_distribute_dataset(batches)]
    out.write_text(json.dumps(seen))


if __name__ == "__main__":
    main(Path(sys.argv[1]))
