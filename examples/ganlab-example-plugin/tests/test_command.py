import json
import subprocess
import sys


def ganlab(*args):
    return subprocess.run([sys.executable, "-m", "ganlab", *args], capture_output=True,
                          text=True, timeout=300)


def test_command_is_listed_and_describes_a_run(tmp_path):
    assert "example-plugin-describe" in ganlab("--help").stdout
    (tmp_path / "run.json").write_text(json.dumps(
        {"name": "demo", "status": "completed", "epochs_completed": 3}))
    done = ganlab("example-plugin-describe", str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "demo: completed, 3 epochs"


def test_command_refuses_a_folder_that_is_no_run(tmp_path):
    done = ganlab("example-plugin-describe", str(tmp_path))
    assert done.returncode == 5
    assert "not a ganlab run directory" in done.stderr
