"""Core CLI subcommands; each module exposes a ``COMMANDS`` list."""
