"""``ganlab prepare`` and ``ganlab inspect`` (dataset commands)."""

from __future__ import annotations

import click

COMMANDS: list[click.Command] = []
