"""The sweep's axes, run names, seeded draws, the sweep.json record and its compatibility
rules, and bad sweep options through the real CLI (no training here: see
test_sweep_compare.py, test_sweep_resume.py and test_sweep_ray.py for real sweeps).
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from reliability_support import flat, invoke

from ganlab.errors import ConfigError
from ganlab.experiment import load_experiment
from ganlab.sweep.spec import expand, make_axes
from ganlab.sweep.state import RunRecord, SweepState, continue_state, new_state

EXPERIMENT = {"name": "grid", "dataset": {"name": "mnist", "params": {"source": "embedded",
                                                        "tfrecords": "data/none"}},
              "architecture": {"name": "dcgan"}, "loss": {"name": "bce"},
              "train": {"epochs": 2, "batch_size": 8}}


def test_a_grid_expands_to_every_combination_with_readable_names() -> None:
    axes = make_axes(("loss.name=bce,hinge,least_squares", "seed=1,2"), (), 0, 0)
    runs = expand(axes)
    assert [run.name for run in runs] == [
        "loss-bce_seed-1", "loss-bce_seed-2", "loss-hinge_seed-1", "loss-hinge_seed-2",
        "loss-least_squares_seed-1", "loss-least_squares_seed-2"]
    assert runs[3].overrides == {"loss.name": "hinge", "seed": 2}
    assert runs[3].set_options() == ["loss.name=hinge", "seed=2"]


def test_values_are_read_as_yaml_and_written_back_exactly(tmp_path: Path) -> None:
    axes = make_axes(("optimizers.generator.learning_rate=1e-4,2.0e-4",
                      "train.deterministic=true,false", "callbacks=[],[{name: sample_grid}]"),
                     (), 0, 0)
    runs = expand(axes)
    assert runs[0].overrides == {"optimizers.generator.learning_rate": 1e-4,
                                 "train.deterministic": True, "callbacks": []}
    assert runs[0].name == "learning_rate-0.0001_deterministic-true_callbacks-empty"
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(EXPERIMENT))
    for run in runs:  # what `ganlab run --set` reads is the value the sweep recorded
        config = load_experiment(path, run.set_options()).config
        assert config["optimizers"]["generator"]["learning_rate"] == \
            run.overrides["optimizers.generator.learning_rate"]
        assert config["train"]["deterministic"] is run.overrides["train.deterministic"]
    assert len({run.name for run in runs}) == 8


def test_random_draws_are_seeded_within_range_and_crossed_with_the_grid() -> None:
    axes = make_axes(("seed=1,2",), ("optimizers.generator.learning_rate=1e-5:1e-3:log",
                                     "train.d_steps=1:3:int"), 4, 7)
    runs = expand(axes)
    assert len(runs) == 8 and runs == expand(axes)
    assert expand(make_axes(("seed=1,2",), ("optimizers.generator.learning_rate=1e-5:1e-3:log",
                                            "train.d_steps=1:3:int"), 4, 8)) != runs
    rates = [run.overrides["optimizers.generator.learning_rate"] for run in runs]
    assert all(1e-5 <= rate <= 1e-3 for rate in rates)
    assert rates[0] == rates[1] != rates[2]  # one draw, both seeds
    assert {run.overrides["train.d_steps"] for run in runs} <= {1, 2, 3}
    assert runs[0].name.startswith("r0_learning_rate-") and runs[0].name.endswith("_seed-1")


def test_ambiguous_key_labels_use_the_full_key() -> None:
    runs = expand(make_axes(("optimizers.generator.learning_rate=1e-4",
                             "optimizers.discriminator.learning_rate=4e-4"), (), 0, 0))
    assert runs[0].name == ("optimizers.generator.learning_rate-0.0001_"
                            "optimizers.discriminator.learning_rate-0.0004")


@pytest.mark.parametrize(("grid", "ranges", "count", "message"), [
    ((), (), 0, "Nothing to sweep"),
    (("loss.name",), (), 0, "expected KEY.PATH=V1,V2"),
    (("seed=1,1",), (), 0, "a value is listed twice"),
    (("seed=1,2", "seed=3"), (), 0, "sets seed more than once"),
    (("run_dir=a,b",), (), 0, "gives it its own run directory"),
    ((), ("optimizers.generator.learning_rate=1e-5:1e-3:log",), 0, "--range needs --random N"),
    ((), (), 3, "--random N needs at least one --range"),
    ((), ("seed=1:5:cubic",), 2, "scale 'cubic' is not one of linear, log, int"),
    ((), ("optimizers.generator.learning_rate=0:1e-3:log",), 2, "LOW > 0 on a log scale"),
    ((), ("seed=a:b",), 2, "expected LOW:HIGH[:SCALE] with numbers"),
])
def test_bad_axes_are_one_clear_message(grid, ranges, count, message) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        make_axes(grid, ranges, count, 0)


def test_bad_sweep_options_through_the_cli_exit_2_without_traceback(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(EXPERIMENT))
    result = invoke(["sweep", path, "--grid", "seed", "--runs-dir", tmp_path])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert "--grid 'seed': expected KEY.PATH=V1,V2" in flat(result.output)
    # A bad value in one run names that run, and nothing is created.
    result = invoke(["sweep", path, "--grid", "loss.name=bce,hingee", "--runs-dir", tmp_path])
    assert result.exit_code == 3, result.output
    assert "Sweep run loss-hingee:" in result.output and "hinge" in result.output
    result = invoke(["sweep", path, "--grid", "train.batch_size=8,zero",
                     "--runs-dir", tmp_path])
    assert result.exit_code == 2 and "Sweep run batch_size-zero:" in result.output
    assert not (tmp_path / "grid").exists()


def test_dry_run_lists_the_runs() -> None:
    result = invoke(["sweep", "experiments/study_losses.yaml", "--dry-run",
                     "--grid", "loss.name=bce,minimax,least_squares,hinge,wasserstein_gp",
                     "--grid", "seed=1,2,3"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert len(lines) == 15
    assert lines[-1] == "loss-wasserstein_gp_seed-3: loss.name=wasserstein_gp seed=3"


def test_sweep_json_round_trips_and_continues_with_added_runs(tmp_path: Path) -> None:
    experiment = tmp_path / "grid.yaml"
    axes = make_axes(("seed=1,2",), (), 0, 0)
    state = new_state(tmp_path / "grid", "grid", experiment, ["train.epochs=2"], axes,
                      expand(axes))
    state.runs[0].mark_running()
    state.runs[0].mark_ended(0)
    state.runs[1].mark_running()
    state.runs[1].mark_ended(6)
    state.save()
    loaded = SweepState.load(tmp_path / "grid")
    assert [(r.name, r.state, r.exit_code, r.attempts) for r in loaded.runs] == \
        [("seed-1", "finished", 0, 1), ("seed-2", "failed", 6, 1)]
    wider = make_axes(("seed=1,2,3",), (), 0, 0)
    continued = continue_state(loaded, experiment, ["train.epochs=2"], wider, expand(wider))
    assert [(r.name, r.state) for r in continued.runs] == \
        [("seed-1", "finished"), ("seed-2", "failed"), ("seed-3", "pending")]
    # More epochs for every run: finished runs go on too (they resume from their checkpoints).
    more = continue_state(SweepState.load(tmp_path / "grid"), experiment, ["train.epochs=4"],
                          axes, expand(axes))
    assert [r.state for r in more.runs] == ["pending", "failed"]


def test_incompatible_changes_are_all_listed(tmp_path: Path) -> None:
    experiment = tmp_path / "grid.yaml"
    axes = make_axes(("seed=1,2",), (), 0, 0)
    state = new_state(tmp_path / "grid", "grid", experiment, [], axes, expand(axes))
    other = make_axes(("loss.name=bce",), (), 0, 0)
    with pytest.raises(ConfigError) as error:
        continue_state(state, tmp_path / "other.yaml", ["train.batch_size=4"], other,
                       expand(other))
    message = str(error.value)
    assert f"experiment file: {experiment.resolve()} → {(tmp_path / 'other.yaml').resolve()}" \
        in message
    assert "--set train.batch_size: <absent> → 4" in message
    assert "run seed-1 (seed=1) is no longer in the sweep" in message
    assert "give this sweep another --name" in message


def test_a_damaged_sweep_json_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "sweep.json").write_text('{"runs": [{"nme": 1}]}')
    with pytest.raises(Exception, match="is damaged"):
        SweepState.load(tmp_path)
    assert RunRecord("a", {}).to_json()["state"] == "pending"


def test_registering_the_commands_imports_no_heavy_module() -> None:
    code = ("import sys; import ganlab.cli as c; c._register_core_commands(); "
            "print(sorted(m for m in ('tensorflow', 'keras', 'matplotlib', 'ray', "
            "'tensorboard') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_runs_get_their_share_of_threads_and_one_gpu_each(monkeypatch: pytest.MonkeyPatch
                                                          ) -> None:
    from ganlab.sweep.launch import thread_env, threads_per_run, visible_gpus

    assert threads_per_run(2, cpus=16) == 8 and threads_per_run(4, cpus=2) == 1
    assert thread_env(8) == {"OMP_NUM_THREADS": "8", "TF_NUM_INTRAOP_THREADS": "8",
                             "TF_NUM_INTEROP_THREADS": "2"}
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2, 5")
    assert visible_gpus() == ["2", "5"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")
    assert visible_gpus() == []


def test_a_sweep_name_must_be_a_folder_name(tmp_path: Path) -> None:
    path = tmp_path / "grid.yaml"
    path.write_text(yaml.safe_dump(EXPERIMENT))
    result = invoke(["sweep", path, "--grid", "seed=1,2", "--name", "../up",
                     "--runs-dir", tmp_path])
    assert result.exit_code == 2 and "a sweep's name is a folder name" in result.output


def test_the_hparams_experiment_marks_the_hyperparameters_that_vary() -> None:
    from tensorboard.plugins.hparams import metadata

    from ganlab.hparams import experiment_summary

    summary = experiment_summary({"loss.name": ["bce", "hinge"], "seed": [1, 1],
                                  "train.jit_compile": [True, False]}, ["epoch/d_loss"])
    experiment = metadata.parse_experiment_plugin_data(
        summary.value[0].metadata.plugin_data.content)
    infos = {info.name: info for info in experiment.hparam_infos}
    assert (infos["loss.name"].differs, infos["seed"].differs) == (True, False)
    assert list(infos["train.jit_compile"].domain_discrete) == [False, True]
    assert [m.name.tag for m in experiment.metric_infos] == ["epoch/d_loss"]
