"""What ganlab-example-plugin adds to ganlab (found through the ``ganlab`` entry point).

Factories are ``"module:attribute"`` strings: loading this module imports no
TensorFlow, so ``ganlab --help`` stays fast; a component's module is
imported when an experiment uses it.
"""

from ganlab import hookimpl


@hookimpl
def register_datasets(register):
    """The plugin's dataset."""
    register("example_plugin_blobs", "ganlab_example_plugin.dataset:Blobs",
             description="Synthetic Gaussian blobs (in memory, no files)")


@hookimpl
def register_architectures(register):
    """The plugin's architecture."""
    register("example_plugin_mlp", "ganlab_example_plugin.architecture:MLP",
             description="A small fully connected generator and discriminator")


@hookimpl
def register_losses(register):
    """The plugin's loss."""
    register("example_plugin_loss", "ganlab_example_plugin.loss:NonSaturatingR1",
             description="Non-saturating loss with an optional R1 penalty")


@hookimpl
def register_callbacks(register):
    """The plugin's callback."""
    register("example_plugin_csv", "ganlab_example_plugin.callback:LossCSV",
             description="Appends each epoch's losses to a CSV file")


@hookimpl
def register_metrics(register):
    """The plugin's metric."""
    register("example_plugin_mean_gap", "ganlab_example_plugin.metric:MeanGap",
             description="Gap between generated and real mean pixel values")


@hookimpl
def register_commands(cli):
    """Add the plugin's commands (imported only now)."""
    from ganlab_example_plugin.command import describe

    cli.add_command(describe)

