"""``python -m ganlab``: the same command line as the ``ganlab`` script.

:func:`main` handles Ctrl-C before anything else is imported, so that even
a Ctrl-C during start-up ends with one line and exit status 130.
"""

import sys


def main() -> None:
    """Run the ``ganlab`` command line; Ctrl-C at any moment exits 130 with one line."""
    from ganlab import interrupts

    interrupts.install()
    try:
        from ganlab.cli import main as cli_main
    except KeyboardInterrupt:
        sys.stderr.write("Interrupted.\n")
        sys.exit(interrupts.INTERRUPTED_EXIT)
    cli_main()


if __name__ == "__main__":
    main()
