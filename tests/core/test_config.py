"""The library's errors name its parameters; only the CLI speaks in flags (cli.flags.PARAM_FLAGS)."""

from __future__ import annotations

import ast
import dataclasses
import inspect
from pathlib import Path

import pytest

import hwbench_mlflow
from hwbench_mlflow.cli import cli
from hwbench_mlflow.cli.flags import PARAM_FLAGS
from hwbench_mlflow.config import BenchmarkConfig, MeasureSettings
from hwbench_mlflow.errors import BadInputError

CPU = dict(model="bert-tiny", hardware="cpu", backend="torch", device="cpu", precision="fp32", batch_size=1)


@pytest.mark.parametrize(
    ("kwargs", "param", "library", "cli_message"),
    [
        ({"warmup": -1}, "warmup", "warmup must be >= 0, got -1", "--warmup must be >= 0, got -1"),
        (
            {"min_iterations": 0},
            "min_iterations",
            "min_iterations must be >= 1, got 0",
            "--min-iterations must be >= 1, got 0",
        ),
        (
            {"min_time_s": 0},
            "min_time_s",
            "min_time_s must be a positive number of seconds, got 0",
            "--min-time must be a positive number of seconds, got 0",
        ),
        (
            {"max_time_s": 0},
            "max_time_s",
            "max_time_s must be a positive number of seconds, got 0",
            "--max-time must be a positive number of seconds, got 0",
        ),
        (
            {"timeout_s": -2.5},
            "timeout_s",
            "timeout_s must be a positive number of seconds, got -2.5",
            "--timeout must be a positive number of seconds, got -2.5",
        ),
        (
            {"min_time_s": 5, "max_time_s": 1},
            "min_time_s",
            "min_time_s (5) must not exceed max_time_s (1)",
            "--min-time (5) must not exceed --max-time (1)",
        ),
        (
            {"target_ci": 2},
            "target_ci",
            "target_ci must be between 0 and 1 (0.02 = ±2 %), got 2",
            "--target-ci must be between 0 and 1 (0.02 = ±2 %), got 2",
        ),
        (
            {"malloc": "x"},
            "malloc",
            "malloc must be 'tuned' or 'default', got 'x'",
            "--malloc must be 'tuned' or 'default', got 'x'",
        ),
        (  # a value that spells the parameter stays as given
            {"malloc": "malloc"},
            "malloc",
            "malloc must be 'tuned' or 'default', got 'malloc'",
            "--malloc must be 'tuned' or 'default', got 'malloc'",
        ),
        (
            {"worker_start": "spawn"},
            "worker_start",
            "worker_start must be 'forkserver' or 'exec', got 'spawn'",
            "--worker-start must be 'forkserver' or 'exec', got 'spawn'",
        ),
    ],
)
def test_settings_errors_name_the_parameter(kwargs, param, library, cli_message):
    with pytest.raises(BadInputError) as exc:
        MeasureSettings(**kwargs)
    err = exc.value
    assert str(err) == library and "--" not in str(err)
    assert err.param == param and err.params[0] == param
    assert err.renamed(PARAM_FLAGS) == cli_message  # what `hwbench run` prints, as before
    assert err.renamed({}) == library


def test_min_time_over_max_time_names_both():
    with pytest.raises(BadInputError) as exc:
        MeasureSettings(min_time_s=5, max_time_s=1)
    assert exc.value.params == ("min_time_s", "max_time_s")


def test_warmup_example_from_the_issue():
    with pytest.raises(BadInputError) as exc:
        MeasureSettings(warmup=-1)
    assert exc.value.param == "warmup"
    assert "warmup" in str(exc.value) and "--" not in str(exc.value)


def test_benchmark_config_seq_length():
    with pytest.raises(BadInputError) as exc:
        BenchmarkConfig(**CPU, seq_length=0)
    assert str(exc.value) == "seq_length must be a positive integer, got 0" and exc.value.param == "seq_length"
    assert exc.value.renamed(PARAM_FLAGS) == "--seq-length must be a positive integer, got 0"


def test_run_benchmark_max_workers(tmp_path):
    from hwbench_mlflow.runner import run_benchmark

    with pytest.raises(BadInputError) as exc:
        run_benchmark(
            "bert-tiny", hardware="cpu", max_workers=0, tracking_uri=f"sqlite:///{tmp_path}/m.db", db_path=None
        )
    assert str(exc.value) == "max_workers must be >= 1, got 0" and exc.value.param == "max_workers"
    assert exc.value.renamed(PARAM_FLAGS) == "--max-workers must be >= 1, got 0"
    assert not list(tmp_path.iterdir())  # refused before anything was created


def test_an_error_without_param_is_said_as_it_is():
    err = BadInputError("--model: warmup is not a model")
    assert err.param is None and err.params == ()
    assert err.renamed(PARAM_FLAGS) == "--model: warmup is not a model"


def _library_parameters() -> set[str]:
    """Every parameter of a library function and every field of a library class, outside cli/
    (the names a library error may quote), read from the source."""
    package = Path(hwbench_mlflow.__file__).parent
    names: set[str] = set()
    for path in package.rglob("*.py"):
        if path.relative_to(package).parts[0] == "cli":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                names |= {a.arg for a in (*node.args.posonlyargs, *node.args.args, *node.args.kwonlyargs)}
            elif isinstance(node, ast.ClassDef):
                fields = (n.target for n in node.body if isinstance(n, ast.AnnAssign))
                names |= {t.id for t in fields if isinstance(t, ast.Name)}
    return names


def test_param_flags_map_real_parameters_to_real_flags():
    from hwbench_mlflow.runner import run_benchmark

    params = {f.name for f in dataclasses.fields(MeasureSettings)} | {
        f.name for f in dataclasses.fields(BenchmarkConfig)
    }
    params |= set(inspect.signature(run_benchmark).parameters)
    params |= _library_parameters()  # the other stages' functions (mirror's db_path, ...)
    flags = {opt for command in cli.commands.values() for p in command.params for opt in getattr(p, "opts", [])}
    for param, flag in PARAM_FLAGS.items():
        assert param in params, param
        assert flag in flags, flag


def test_param_survives_pickling():
    import pickle

    with pytest.raises(BadInputError) as exc:
        MeasureSettings(min_time_s=5, max_time_s=1)
    copy = pickle.loads(pickle.dumps(exc.value))
    assert (type(copy), str(copy), copy.param, copy.params) == (
        BadInputError,
        str(exc.value),
        "min_time_s",
        ("min_time_s", "max_time_s"),
    )
