"""The README's test command finds or installs what its tests need (scripts/ensure-chromium)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from conftest import REPO

SCRIPT = REPO / "scripts" / "ensure-chromium"


def path_with(tmp_path: Path, *tools: str) -> str:
    """A PATH holding only ``tools`` (links to the real ones)."""
    folder = tmp_path / "bin"
    folder.mkdir(exist_ok=True)
    for tool in tools:
        (folder / tool).symlink_to(shutil.which(tool))
    return str(folder)


def run(path: str) -> subprocess.CompletedProcess:
    bash = shutil.which("bash")
    return subprocess.run([bash, str(SCRIPT)], env={**os.environ, "PATH": path},
                          capture_output=True, text=True, timeout=60, check=False)


def test_the_test_command_runs_it_before_the_tests() -> None:
    lines = (REPO / "scripts" / "test").read_text().splitlines()
    assert lines.index("scripts/ensure-chromium") < next(
        i for i, line in enumerate(lines) if "pytest" in line)


def test_chromium_on_the_path_is_used_as_it_is(tmp_path: Path) -> None:
    fake = tmp_path / "bin" / "chromium"
    path = path_with(tmp_path, "id")
    fake.write_text("#!/bin/sh\nexit 0\n")
    fake.chmod(0o755)
    result = run(path)
    assert result.returncode == 0 and result.stdout == "", result


def test_without_chromium_or_a_way_to_install_it_it_says_what_to_do(tmp_path: Path) -> None:
    result = run(path_with(tmp_path, "id"))
    assert result.returncode == 1
    assert "install Debian's chromium package (apt-get install chromium)" in result.stderr
