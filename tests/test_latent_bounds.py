"""Every size and number a user gives ``ganlab arithmetic``/``interpolate`` is bounded.

Through the real CLI on a real (tiny) run: each case ends with a one-paragraph
message naming the problem and a usage exit code, never a traceback or
"internal error", and writes nothing.
"""

from __future__ import annotations

import pytest
from latent_support import ganlab, trained_run_fixture  # noqa: F401  (the trained_run fixture)

ARITHMETIC = ("--concept", "a=0,1,2", "--concept", "b=3,4")
MANY_TERMS = " + ".join(["a"] * 3000)


@pytest.mark.parametrize(("args", "message"), [
    # Thousands of terms once asked for a ~350k x 120k pixel figure.
    ((*ARITHMETIC, "--expr", MANY_TERMS), "characters long; at most 1000 are read"),
    ((*ARITHMETIC, "--expr", " + ".join(["a"] * 33)), "at most 32 terms"),
    ((*ARITHMETIC, "--expr", "a - ²*b"), "at character 5: invalid character '²'"),
    ((*ARITHMETIC, "--expr", "__import__('os').system('x')"), "a call is not allowed"),
    ((*ARITHMETIC, "--expr", "1e400*a"), "coefficient inf is outside"),
    (("--concept", "a=²", "--expr", "a"), "'a=²': bad exemplar '²'"),
    (("--concept", "a=s²", "--expr", "a"), "bad exemplar 's²'"),
    (("--concept", "a=" + "1" * 5000, "--expr", "a"), "bad exemplar '111"),
    (("--concept", "a=s4294967296", "--expr", "a"), "below 2**32"),
    (("--concept", "a=" + ",".join(["1"] * 17), "--expr", "a"), "a concept has at most 16"),
    ((*[f"--concept=c{i}=1" for i in range(33)], "--expr", "c1"), "at most 32 can be defined"),
    (("--concept", "²=1", "--expr", "a"), "bad concept name '²'"),
    (("--query", "a=Male &", "--expr", "a"), "at character 7: the query ends"),
    (("--query", "a=Male²", "--expr", "a"), "unexpected character '²'"),
    (("--query", "a=" + "x" * 201, "--expr", "a"), "at most 200"),
    (("--query", "a=Male", "--concept", "a=1", "--expr", "a"),
     "both by exemplars and by a query"),
    (("--expr", "a"), "Give the concepts with --concept"),
    ((*ARITHMETIC, "--expr", "a", "--jitter", "nan"),
     "Jitter must be a number from 0 to 10, got nan"),
    ((*ARITHMETIC, "--expr", "a", "--jitter", "11"), "--jitter"),
    ((*ARITHMETIC, "--expr", "a", "--seed", str(2**32)), "--seed"),
    ((*ARITHMETIC, "--expr", "a", "--seed", "²"), "'²' is not a valid integer"),
    ((*ARITHMETIC, "--expr", "a", "--neighbours", "65"), "--neighbours"),
    ((*ARITHMETIC, "--expr", "a", "--epoch", "²"), "'²' is not a valid integer"),
    ((*ARITHMETIC, "--expr", "a", "--pool-size", "100001"), "--pool-size"),
    ((*ARITHMETIC, "--expr", "a", "--exemplars", "17"), "--exemplars"),
    (("--query", "a=Male", "--expr", "a", "--pool-seed", str(2**32 - 10)), "below 2**32"),
    ((*ARITHMETIC, "--expr", "a", "--expect", "Male &"),
     "Expect: bad query 'Male &' at character 7"),
])
def test_arithmetic_bounds(trained_run, capsys, tmp_path, args, message):
    out = tmp_path / "x.png"
    code, output = ganlab(capsys, "arithmetic", trained_run, *args, "--out", out)
    assert code == 2, output
    assert message in output
    assert "internal error" not in output and "Traceback" not in output
    assert not out.exists()


@pytest.mark.parametrize(("args", "message"), [
    (("--from", "²", "--to", "1"), "Bad exemplar '²'"),
    (("--from", "1", "--to", "s²"), "Bad exemplar 's²'"),
    (("--from", "١", "--to", "1"), "Bad exemplar"),  # an Arabic-Indic digit one
    (("--from", "1", "--to", "99"), "outside the run's latent bank"),
    (("--from", "1", "--to", "2", "--steps", "257"), "--steps"),
    (("--from", "1", "--to", "2", "--steps", "²"), "'²' is not a valid integer"),
    (("--from", "1", "--to", "2", "--gif-ms", "60001"), "--gif-ms"),
    (("--from", "1", "--to", "2", "--epoch", "4294967296"), "--epoch"),
])
def test_interpolate_bounds(trained_run, capsys, tmp_path, args, message):
    out = tmp_path / "x.png"
    code, output = ganlab(capsys, "interpolate", trained_run, *args, "--out", out)
    assert code == 2, output
    assert message in output
    assert "internal error" not in output and "Traceback" not in output
    assert not out.exists() and not out.with_suffix(".gif").exists()


def test_an_out_path_under_a_file_is_a_user_error(trained_run, capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("mine")
    code, output = ganlab(capsys, "arithmetic", trained_run, *ARITHMETIC, "--expr", "a - b",
                          "--out", blocker / "x.png")
    assert code == 2 and "Cannot write" in output and "internal error" not in output
    assert blocker.read_text() == "mine"
    code, output = ganlab(capsys, "interpolate", trained_run, "--from", "0", "--to", "1",
                          "--out", blocker / "x.png")
    assert code == 2 and "Cannot write" in output


def test_queries_without_a_classifier_say_how_to_get_one(trained_run, capsys, tmp_path):
    code, output = ganlab(capsys, "arithmetic", trained_run, "--query", "seven=7",
                          "--expr", "seven", "--classifier", "no_such_classifier",
                          "--out", tmp_path / "x.png")
    assert code == 3, output  # an unknown component: the plugin exit code
    assert "Label queries need the dataset's classifier" in output
    assert "Unknown feature_extractor 'no_such_classifier'" in output
    assert "internal error" not in output and not (tmp_path / "x.png").exists()
