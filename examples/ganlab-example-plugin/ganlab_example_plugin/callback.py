"""A callback appending each epoch's losses to ``<run>/example_plugin_losses.csv``."""

import keras

from ganlab import params


class LossCSV(keras.callbacks.Callback):
    """One row per epoch: epoch (1-based), d_loss, g_loss.

    Runs on the chief only (ganlab's rule for callbacks). On a resumed run
    ``self.model.run.initial_epoch`` is the number of epochs already done:
    rows past it were left by a killed run and are dropped, so no epoch is
    written twice.

    Args:
        every_n_epochs: Period in epochs.

    """

    def __init__(self, every_n_epochs: int = 1):
        super().__init__()
        self.every_n_epochs = params.positive_int("every_n_epochs", every_n_epochs)

    @property
    def path(self):
        """The CSV file in the run directory."""
        return self.model.run.run_dir / "example_plugin_losses.csv"

    def on_train_begin(self, logs=None):
        """Keep only the rows of epochs the run has completed."""
        done = getattr(self.model.run, "initial_epoch", 0)
        kept = ["epoch,d_loss,g_loss\n"]
        if self.path.exists():
            rows = self.path.read_text().splitlines(keepends=True)[1:]
            kept += [row for row in rows if int(row.split(",")[0]) <= done]
        self.path.write_text("".join(kept))

    def on_epoch_end(self, epoch, logs=None):
        """Append the epoch (Keras counts from 0; the file from 1)."""
        logs = logs or {}
        if (epoch + 1) % self.every_n_epochs == 0:
            with self.path.open("a") as handle:
                handle.write(f"{epoch + 1},{logs.get('d_loss', 'nan')},"
                             f"{logs.get('g_loss', 'nan')}\n")
