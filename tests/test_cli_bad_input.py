"""Every bad input: one ``hwbench: error:`` line on stderr, exit 2, no traceback, nothing logged.

Each case runs the real CLI in a subprocess with cwd = a fresh ``tmp_path`` and
``MLFLOW_TRACKING_URI`` unset, so a run that wrongly got past validation would create
``mlflow.db`` / ``mlruns`` there and fail the "nothing written" check.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

CATALOG_KEYS = "bert, bert-tiny, minilm, t5, gpt2, vit, resnet, whisper, clip"

# Valid, cheap settings put *before* each case's own options (click keeps the last value of
# a repeated option), so that if validation were skipped the sweep is one short config on
# the CPU rather than the default sweep — the test then fails on "nothing written" instead
# of hanging.
GUARD = [
    "--model",
    "bert-tiny",
    "--hardware",
    "cpu",
    "--limit",
    "1",
    "--warmup",
    "0",
    "--min-iterations",
    "1",
    "--min-time",
    "0.1",
    "--max-time",
    "1",
    "--timeout",
    "60",
]


def run_args(*args: str) -> list[str]:
    return ["run", *GUARD, *args]


# (argv after `hwbench`, fragments that must all appear in the error line)
CASES = [
    # --- models
    pytest.param(
        run_args("--model", "bertt"),
        ["unknown model 'bertt'", "did you mean bert", f"catalog keys: {CATALOG_KEYS}"],
        id="model-typo-bertt",
    ),
    pytest.param(
        run_args("--model", "nosuchmodel/xyz"),
        ["unknown model 'nosuchmodel/xyz'", f"catalog keys: {CATALOG_KEYS}"],
        id="model-unknown-hf-id",
    ),
    pytest.param(run_args("--model", ""), ["--model", "got ''"], id="model-empty"),
    pytest.param(run_args("--model", "bert-tiny,,minilm"), ["--model", "'bert-tiny,,minilm'"], id="model-empty-item"),
    pytest.param(["run", "--model"], ["--model", "requires an argument"], id="model-missing-argument"),
    pytest.param(run_args("--category", "food"), ["unknown category 'food'", "text, vision"], id="category-food"),
    # --- hardware / backend
    pytest.param(
        run_args("--hardware", "tpu"),
        ["--hardware", "'tpu'", "cpu, cuda, rocm, mps, openvino, qnn, webnn, webgpu"],
        id="hardware-tpu",
    ),
    pytest.param(run_args("--hardware", ""), ["--hardware", "got ''"], id="hardware-empty"),
    pytest.param(run_args("--backend", "nosuch"), ["--backend", "'nosuch'", "torch"], id="backend-nosuch"),
    # --- batch sizes
    pytest.param(run_args("--batch-sizes", "0"), ["--batch-sizes", "got 0"], id="batch-0"),
    pytest.param(run_args("--batch-sizes=-1"), ["--batch-sizes", "got -1"], id="batch-negative"),
    pytest.param(run_args("--batch-sizes", "abc"), ["--batch-sizes", "'abc'"], id="batch-abc"),
    pytest.param(run_args("--batch-sizes", "1,,2"), ["--batch-sizes", "'1,,2'"], id="batch-empty-item"),
    pytest.param(run_args("--batch-sizes", ""), ["--batch-sizes", "got ''"], id="batch-empty"),
    pytest.param(run_args("--batch-sizes", "1.5"), ["--batch-sizes", "'1.5'"], id="batch-float"),
    # --- precision / mode
    pytest.param(
        run_args("--precision", "fp64"), ["--precision", "'fp64'", "fp32, fp16, bf16, int8"], id="precision-fp64"
    ),
    pytest.param(run_args("--precision", ""), ["--precision", "got ''"], id="precision-empty"),
    pytest.param(run_args("--mode", "foo"), ["--mode", "'foo'", "inference, training"], id="mode-foo"),
    pytest.param(run_args("--mode", ""), ["--mode"], id="mode-empty"),
    # --- times and measurement settings
    pytest.param(run_args("--min-time", "0"), ["--min-time", "positive", "got 0"], id="min-time-0"),
    pytest.param(run_args("--min-time=-1"), ["--min-time", "positive", "got -1"], id="min-time-negative"),
    pytest.param(run_args("--max-time", "0"), ["--max-time", "positive", "got 0"], id="max-time-0"),
    pytest.param(run_args("--max-time=-5"), ["--max-time", "positive", "got -5"], id="max-time-negative"),
    pytest.param(run_args("--timeout", "0"), ["--timeout", "positive", "got 0"], id="timeout-0"),
    pytest.param(
        run_args("--min-time", "5", "--max-time", "1"),
        ["--min-time (5)", "must not exceed", "--max-time (1)"],
        id="min-time-over-max-time",
    ),
    pytest.param(run_args("--max-time", "abc"), ["--max-time", "'abc'"], id="max-time-abc"),
    pytest.param(run_args("--max-time", "nan"), ["--max-time", "finite", "'nan'"], id="max-time-nan"),
    pytest.param(run_args("--max-time", "inf"), ["--max-time", "finite", "'inf'"], id="max-time-inf"),
    pytest.param(run_args("--warmup=-1"), ["--warmup", "got -1"], id="warmup-negative"),
    pytest.param(run_args("--min-iterations", "0"), ["--min-iterations", "got 0"], id="min-iterations-0"),
    pytest.param(run_args("--target-ci", "2"), ["--target-ci", "got 2"], id="target-ci-2"),
    pytest.param(run_args("--seq-length", "0"), ["--seq-length", "got 0"], id="seq-length-0"),
    pytest.param(run_args("--seq-length", "abc"), ["--seq-length", "'abc'"], id="seq-length-abc"),
    pytest.param(run_args("--limit", "0"), ["--limit", "got 0"], id="limit-0"),
    pytest.param(run_args("--malloc", "x"), ["--malloc", "'x'"], id="malloc-x"),
    pytest.param(run_args("--experiment", " "), ["--experiment", "empty"], id="experiment-blank"),
    # --- tracking store
    pytest.param(
        run_args("--tracking-uri", "http://127.0.0.1:9"),
        ["unreachable", "http://127.0.0.1:9"],
        id="tracking-uri-unreachable-http",
    ),
    pytest.param(
        run_args("--tracking-uri", "sqlite:////nonexistent-dir/x/mlflow.db"),
        ["does not exist", "/nonexistent-dir/x"],
        id="tracking-uri-sqlite-missing-dir",
    ),
    pytest.param(
        run_args("--tracking-uri", "foo://bar"),
        ["unsupported tracking URI scheme 'foo'", "foo://bar"],
        id="tracking-uri-unknown-scheme",
    ),
    pytest.param(
        run_args("--tracking-uri", "file:///nonexistent-dir/x/mlruns"),
        ["does not exist", "/nonexistent-dir/x"],
        id="tracking-uri-file-missing-dir",
    ),
    pytest.param(
        run_args("--tracking-uri", "http://[::1"),
        ["http://[::1"],
        id="tracking-uri-malformed-ipv6",
    ),
    # --- output
    pytest.param(run_args("--output", "results.txt"), ["--output", "'.txt'", ".csv"], id="output-txt"),
    pytest.param(
        run_args("--output", "/nonexistent-dir/out.csv"), ["--output", "/nonexistent-dir"], id="output-missing-dir"
    ),
    # --- click usage errors
    pytest.param(run_args("--frobnicate"), ["No such option", "--frobnicate"], id="unknown-option"),
    pytest.param(["frobnicate"], ["No such command", "'frobnicate'"], id="unknown-command"),
    pytest.param(["run", "extra-arg"], ["unexpected extra argument", "extra-arg"], id="run-extra-argument"),
    pytest.param(["hardware", "--frob"], ["No such option", "--frob"], id="hardware-unknown-option"),
    # --- ui: the same store checks, before mlflow is started
    pytest.param(
        ["ui", "--tracking-uri", "foo://bar"], ["unsupported tracking URI scheme 'foo'"], id="ui-unknown-scheme"
    ),
    pytest.param(
        ["ui", "--tracking-uri", "http://127.0.0.1:9"], ["unreachable", "http://127.0.0.1:9"], id="ui-unreachable"
    ),
    pytest.param(["ui", "--port", "abc"], ["--port", "'abc'"], id="ui-port-abc"),
]


def _describe(proc, files) -> str:
    return f"\nrc={proc.returncode}\nstdout={proc.stdout!r}\nstderr={proc.stderr!r}\nfiles in cwd={files}"


@pytest.mark.parametrize(("argv", "fragments"), CASES)
def test_bad_input_is_one_line_exit_2_and_logs_nothing(hwbench, tmp_path: Path, argv, fragments) -> None:
    proc = hwbench(*argv)
    files = sorted(os.listdir(tmp_path))
    detail = _describe(proc, files)

    assert "Traceback" not in proc.stdout + proc.stderr, detail
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr{detail}"
    line = lines[0]
    assert line.strip(), detail
    assert line.startswith("hwbench: error:"), detail
    assert proc.returncode == 2, detail
    for fragment in fragments:
        assert fragment in line, f"missing {fragment!r}{detail}"
    assert proc.stdout == "", detail
    assert "mlflow.db" not in files, detail
    assert "mlruns" not in files, detail
    assert files == [], detail


def test_unreachable_uri_password_is_not_printed(hwbench, tmp_path: Path) -> None:
    proc = hwbench(*run_args("--tracking-uri", "http://alice:s3cret@127.0.0.1:9"))
    detail = _describe(proc, sorted(os.listdir(tmp_path)))
    assert proc.returncode == 2, detail
    assert proc.stderr.splitlines() == [proc.stderr.strip()], detail
    assert "s3cret" not in proc.stderr + proc.stdout, detail
    assert "alice:***@127.0.0.1:9" in proc.stderr, detail
    assert os.listdir(tmp_path) == [], detail
