"""``python -m ganlab``: the same command line as the ``ganlab`` script."""

from ganlab.cli import main

if __name__ == "__main__":
    main()
