"""The training engine: one custom loop for every tf.distribute strategy."""
