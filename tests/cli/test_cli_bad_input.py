"""Every bad input, of every command: one ``hwbench: error:`` line on stderr, exit 2 (a row
may name another non-zero code), no traceback, nothing written.

Each case runs the real CLI in a subprocess with cwd = a fresh, empty directory and
``MLFLOW_TRACKING_URI`` unset, so a run that wrongly got past validation would create
``mlflow.db`` / ``mlruns`` there and fail the "nothing written" check. A case may put
files there first (``files=``: a corrupted DuckDB file, a malformed YAML, a directory
where a file belongs, an empty hwbench mirror); the check is then that the command
created, changed and removed nothing. ``{tmp}`` in an argument is that directory. The
rows run concurrently (``WORKERS`` at a time) in one module fixture; each test reads its own.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests._util import CLI_TIMEOUT_S, run_cli

CATALOG_KEYS = "bert, bert-tiny, minilm, t5, gpt2, smollm2, vit, resnet, whisper, clip"

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
    pytest.param(
        run_args("--batch-sizes", "1,99999999999999999999"),
        ["--batch-sizes: batch size must be between 1 and 1048576, got 99999999999999999999"],
        id="batch-absurd",
    ),
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
    pytest.param(run_args("--max-workers", "0"), ["--max-workers must be >= 1, got 0"], id="max-workers-0"),
    pytest.param(run_args("--max-workers", "two"), ["--max-workers needs an integer, got 'two'"], id="max-workers-two"),
    pytest.param(
        run_args("--max-workers", "4096"), ["--max-workers 4096 needs 4096 usable CPU cores"], id="max-workers-4096"
    ),
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


# ----------------------------------------------------------------------------- every other command

MIRROR = object()  # a valid, empty hwbench mirror (schema, no results), copied from one template
FOREIGN_DUCKDB = object()  # another program's DuckDB database (one table, no hwbench schema)
DIR = object()  # a directory where the command wants a file
GARBAGE = bytes(range(256)) * 16  # 4 KiB that no reader accepts: a corrupted DuckDB / Parquet file
TEMPLATES = (MIRROR, FOREIGN_DUCKDB)  # made once, in the fixture, and copied


class Exact(str):
    """A fragment that is the whole stderr line; ``{tmp}`` in it is the row's cwd (resolved)."""


class Sparse(int):
    """A file of this many bytes that takes no disk (all zeros)."""


def _sqlite_bytes(tables: tuple[str, ...] = ("experiments", "runs"), rows: int = 200) -> bytes:
    """An SQLite database (several 4 KiB pages) as bytes: MLflow's two main tables by default."""
    import sqlite3

    con = sqlite3.connect(":memory:")
    for t in tables:
        con.execute(f"CREATE TABLE {t} (id INTEGER PRIMARY KEY, note TEXT)")
        con.executemany(f"INSERT INTO {t} VALUES (?, ?)", [(i, "x" * 100) for i in range(rows)])
    con.commit()
    data = con.serialize()
    con.close()
    return data


SQLITE_STORE = _sqlite_bytes()  # looks like an mlflow.db: an SQLite file with experiments and runs
SQLITE_OTHER = _sqlite_bytes(("notes",), 3)  # another program's SQLite file
TRUNCATED_STORE = SQLITE_STORE[:4096]  # its first page only: a copy cut short


def case(argv: list[str], fragments: list[str], id: str, files: dict | None = None, code: int = 2):
    """One row: ``files`` = {relative path: bytes | str | DIR | MIRROR | FOREIGN_DUCKDB | Sparse}
    created before the command."""
    return pytest.param(argv, fragments, files or {}, code, id=id)


MIRROR_FILES = {"hwbench.duckdb": MIRROR}
CORRUPT = {"hwbench.duckdb": GARBAGE}
NOT_DUCKDB = "is not a hwbench DuckDB mirror"

CASES += [
    # --- search (nothing fitting is an answer, exit 1, not bad input: see test_search.py)
    case(["search", "--model", "bert-tiny", "--memory-limit", "abc"], ["--memory-limit", "'abc'"], "search-memory-abc"),
    case(
        ["search", "--model", "bert-tiny", "--memory-limit", "0"], ["--memory-limit", "> 0", "got 0"], "search-memory-0"
    ),
    case(
        ["search", "--model", "bert-tiny", "--objective", "fastest"],
        ["--objective", "'fastest'", "throughput"],
        "search-objective-unknown",
    ),
    case(["search", "--model", "bert-tiny", "--max-batch", "0"], ["--max-batch", "got 0"], "search-max-batch-0"),
    case(["search", "--model", "bert-tiny", "--max-batch", "1.5"], ["--max-batch", "'1.5'"], "search-max-batch-float"),
    case(
        ["search", "--model", "bert-tiny", "--storage", "foo://bar"],
        ["--storage foo://bar", "foo"],
        "search-storage-unknown-dialect",
    ),
    case(
        ["search", "--model", "bert-tiny", "--storage", "sqlite:////nonexistent-dir/x/optuna.db"],
        ["--storage", "/nonexistent-dir/x"],
        "search-storage-missing-dir",
    ),
    case(
        ["search", "--model", "bert-tiny", "--tracking-uri", "foo://bar"],
        ["unsupported tracking URI scheme 'foo'"],
        "search-tracking-uri-unknown-scheme",
    ),
    case(["search", "--model", "bert-tiny,minilm"], ["--model", "one model"], "search-two-models"),
    case(["search"], ["Missing option '--model'"], "search-no-model"),
    # --- recommend
    case(
        ["recommend", "--prices", "prices.yaml"], ["--prices", "no such file: prices.yaml"], "recommend-prices-missing"
    ),
    case(
        ["recommend", "--prices", "prices.yaml"],
        ["--prices", "cannot read prices.yaml"],
        "recommend-prices-malformed-yaml",
        files={"prices.yaml": "cpu: [0.1, 0.2\n"},
    ),
    case(
        ["recommend", "--prices", "prices.yaml"],
        ["--prices", "must map platforms to $/hour"],
        "recommend-prices-a-list",
        files={"prices.yaml": "- 0.1\n- 2.5\n"},
    ),
    case(
        ["recommend", "--power", "power.yaml"],
        ["--power", "'cpu' must be a positive number of watts", "-65"],
        "recommend-power-negative",
        files={"power.yaml": "cpu: -65\n"},
    ),
    case(
        ["recommend", "--prices", "prices.yaml"],
        ["--prices", "not a file: prices.yaml"],
        "recommend-prices-a-directory",
        files={"prices.yaml": DIR},
    ),
    case(["recommend", "--weights", "speed=1"], ["--weights", "'speed=1'"], "recommend-weights-unknown-key"),
    case(["recommend", "--weights", "throughput=0,latency=0"], ["--weights", "at least one"], "recommend-weights-zero"),
    case(["recommend", "--format", "xml"], ["--format", "'xml'", "markdown"], "recommend-format-xml"),
    case(
        ["recommend", "--tracking-uri", "foo://bar"],
        ["unsupported tracking URI scheme 'foo'"],
        "recommend-tracking-uri-unknown-scheme",
        files=MIRROR_FILES,
    ),
    case(["recommend"], [NOT_DUCKDB, "hwbench.duckdb"], "recommend-corrupted-db", files=CORRUPT),
    # --- analyze
    case(
        ["analyze", "--output", "notes/analysis.csv"],
        ["--output", "directory does not exist", "notes"],
        "analyze-output-under-a-file",
        files={"notes": "a file, not a directory\n"},
    ),
    case(
        ["analyze", "--output", "/proc/analysis.csv"],
        ["--output", "/proc"],
        "analyze-output-unwritable-proc",
        files=MIRROR_FILES,
    ),
    case(["analyze", "--output", "analysis.xlsx"], ["--output", "'.xlsx'", ".csv"], "analyze-output-xlsx"),
    case(["analyze", "--baseline", "cpu/torch"], ["--baseline", "'cpu/torch'"], "analyze-baseline-two-parts"),
    case(
        ["analyze", "--tracking-uri", "http://[::1"],
        ["malformed tracking URI", "http://[::1"],
        "analyze-tracking-uri-malformed",
        files=MIRROR_FILES,
    ),
    # --- compare
    case(["compare", "--compare-to", "base.csv"], ["--compare-to", "no such file: base.csv"], "compare-to-missing"),
    case(
        ["compare", "--compare-to", "base.parquet"],
        ["--compare-to", "cannot read base.parquet"],
        "compare-to-corrupted-parquet",
        files={"base.parquet": GARBAGE},
    ),
    case(
        ["compare", "--compare-to", "base.csv"],
        ["--compare-to", "lacks column(s)", "throughput_samples_per_s", "hwbench export --table results"],
        "compare-to-missing-columns",
        files={"base.csv": "model,hardware\nbert,cpu\n"},
    ),
    case(
        ["compare", "--baseline-sweep", "x", "--regression-alert", "ten"],
        ["--regression-alert", "'ten'"],
        "compare-regression-alert-word",
    ),
    case(
        ["compare", "--baseline-sweep", "x", "--regression-alert=-0.1"],
        ["--regression-alert", "-0.1"],
        "compare-regression-alert-negative",
        files=MIRROR_FILES,
    ),
    case(
        ["compare", "--baseline-sweep", "nosuch"],
        ["--baseline-sweep", "sweep 'nosuch'"],
        "compare-baseline-sweep-unknown",
        files=MIRROR_FILES,
    ),
    case(["compare"], ["choose one of --cross-platform"], "compare-nothing-chosen"),
    # --- visualize / report
    case(["visualize", "--memory-limit", "0"], ["--memory-limit", "> 0"], "visualize-memory-limit-0"),
    case(
        ["visualize", "--output-dir", "plots"],
        ["--output-dir is a file", "plots"],
        "visualize-output-dir-a-file",
        files={"plots": "a file\n"},
    ),
    case(["visualize", "--no-log"], [NOT_DUCKDB], "visualize-corrupted-db", files=CORRUPT),
    case(["report", "--output", "report.pdf"], ["--output", "HTML", "'report.pdf'"], "report-output-pdf"),
    case(
        ["report", "--output", "/proc/report.html"],
        ["--output", "/proc"],
        "report-output-unwritable-proc",
        files=MIRROR_FILES,
    ),
    # --- sync
    case(
        ["sync", "--tracking-uri", "{tmp}/mlruns"],
        [NOT_DUCKDB, "hwbench.duckdb"],
        "sync-corrupted-db",
        files=CORRUPT,
    ),
    case(
        ["sync", "--db-path", "mirror"],
        ["--db-path must name a file", "'mirror'"],
        "sync-db-a-directory",
        files={"mirror": DIR},
    ),
    case(["sync", "--watch", "0"], ["--watch", "positive", "'0'"], "sync-watch-0"),
    case(["sync", "--slack=-1"], ["--slack", ">= 0", "-1"], "sync-slack-negative"),
    case(
        ["sync", "--tracking-uri", "foo://bar"],
        ["unsupported tracking URI scheme 'foo'"],
        "sync-tracking-uri-unknown-scheme",
    ),
    case(["sync"], ["no MLflow store at", "mlflow.db"], "sync-no-store"),
    # --- query: only reads
    *(
        case(
            ["query", sql],
            ["query refused", f"{kind} statements are not allowed"],
            f"query-{kind.lower()}",
            MIRROR_FILES,
        )
        for kind, sql in (
            ("DELETE", "DELETE FROM performance_results"),
            ("DROP", "DROP TABLE models"),
            ("INSERT", "INSERT INTO models (model_id) VALUES ('x')"),
            ("COPY", "COPY models TO 'models.csv'"),
            ("ATTACH", "ATTACH 'other.duckdb'"),
            ("UPDATE", "UPDATE models SET model_name = 'x'"),
        )
    ),
    case(
        ["query", "SELECT 1; DROP TABLE models"],
        ["query refused", "DROP"],
        "query-select-then-drop",
        files=MIRROR_FILES,
    ),
    case(
        ["query", "EXPLAIN ANALYZE COPY (SELECT 1) TO 'one.csv'"],
        ["query failed", "one.csv"],
        "query-explain-analyze-copy",
        files=MIRROR_FILES,
    ),
    case(["query", "SELEC 1"], ["query does not parse", "SELEC"], "query-does-not-parse"),
    case(["query", "SELECT 1"], [NOT_DUCKDB, "hwbench.duckdb"], "query-corrupted-db", files=CORRUPT),
    case(
        ["query", "SELECT 1", "--db-path", "mirror"],
        ["--db-path must name a file", "'mirror'", "directory"],
        "query-db-a-directory",
        files={"mirror": DIR},
    ),
    case(
        ["query", "SELECT 1", "--max-rows=-1"],
        ["--max-rows", ">= 0", "-1"],
        "query-max-rows-negative",
        files=MIRROR_FILES,
    ),
    # --- export
    case(
        ["export", "--table", "models", "--output", "notes/models.parquet"],
        ["--output", "directory does not exist", "notes"],
        "export-output-under-a-file",
        files={**MIRROR_FILES, "notes": "a file\n"},
    ),
    case(
        ["export", "--output", "notes"],
        ["--output", "notes"],
        "export-output-dir-is-a-file",
        files={**MIRROR_FILES, "notes": "a file\n"},
    ),
    case(
        ["export", "--table", "models", "--output", "/proc/models.parquet"],
        ["--output", "/proc"],
        "export-output-unwritable-proc",
        files=MIRROR_FILES,
    ),
    case(
        ["export", "--table", "nosuch", "--output", "x.parquet"],
        ["no table or view 'nosuch'", "performance_results"],
        "export-unknown-table",
        files=MIRROR_FILES,
    ),
    case(["export", "--output", "out"], [NOT_DUCKDB, "hwbench.duckdb"], "export-corrupted-db", files=CORRUPT),
    # --- init-db
    case(
        ["init-db", "--model", "bert-tiny", "--hardware", "cpu"],
        [NOT_DUCKDB, "hwbench.duckdb"],
        "init-db-corrupted-db",
        files=CORRUPT,
    ),
    case(["init-db", "--model", "bertt"], ["unknown model 'bertt'", "did you mean bert"], "init-db-model-typo"),
    case(["init-db", "--batch-sizes", "0"], ["--batch-sizes", "got 0"], "init-db-batch-0"),
    case(
        ["init-db", "--db-path", "/nonexistent-dir/x.duckdb"], ["--db-path", "/nonexistent-dir"], "init-db-missing-dir"
    ),
    # --- hardware / matrix / models
    case(
        ["hardware", "--db-path", "mirror"],
        ["--db-path must name a file"],
        "hardware-db-a-directory",
        files={"mirror": DIR},
    ),
    case(["matrix", "--model", "bertt"], ["unknown model 'bertt'"], "matrix-model-typo"),
    case(["matrix", "--category", "food"], ["unknown category 'food'"], "matrix-category-food"),
    case(
        ["matrix", "--tracking-uri", "sqlite:////nonexistent-dir/x/mlflow.db"],
        ["does not exist", "/nonexistent-dir/x"],
        "matrix-tracking-uri-missing-dir",
    ),
    case(["models", "extra"], ["unexpected extra argument", "extra"], "models-extra-argument"),
    # --- --browser (the web platforms' Chromium)
    case(["hardware", "--browser", "/nonexistent/chromium"], ["--browser", "is not an executable file"], "hw-browser"),
    case(
        ["run", "--browser", "notes.txt"],
        ["--browser: notes.txt is not an executable file"],
        "run-browser-text-file",
        files={"notes.txt": "not a browser"},
    ),
]


# ----------------------------------------------------------------------------- issue 16: files that lie

BASE_HEADER = "model,hardware,backend,precision,batch_size,mode,scenario,throughput_samples_per_s,latency_p50_ms"


def baseline(*rows: str, header: str = BASE_HEADER) -> dict:
    """``base.csv`` with these rows; each row is ``batch,throughput,p50[,extra columns]`` of bert-tiny on cpu."""
    lines = [
        header,
        *(f"bert-tiny,cpu,torch,fp32,{r.split(',', 1)[0]},inference,latency,{r.split(',', 1)[1]}" for r in rows),
    ]
    return {"base.csv": "\n".join(lines) + "\n"}


def compare_row(id: str, message: str, files: dict):
    return case(
        ["compare", "--compare-to", next(iter(files))], [Exact(f"hwbench: error: --compare-to: {message}")], id, files
    )


THROUGHPUT = "base.csv: throughput_samples_per_s must be a finite number > 0, got"
P50 = "base.csv: latency_p50_ms must be a finite number > 0, got"
BAD_BASE_JSON = (
    '[{"model": "bert-tiny", "hardware": "cpu", "backend": "torch", "precision": "fp32", "batch_size": 1,'
    ' "mode": "inference", "scenario": "latency", "throughput_samples_per_s": 100.0, "latency_p50_ms": "fast"}]'
)
SEARCH = ["search", "--model", "bert-tiny", "--hardware", "cpu"]
NOT_A_MIRROR = Exact(
    "hwbench: error: other.duckdb is not a hwbench DuckDB mirror (a DuckDB database with other tables: measurements)"
)


def _host_mb() -> str:
    import psutil

    return f"{psutil.virtual_memory().total / 2**20:.0f}"


CASES += [
    # --- compare --compare-to: numbers that cannot be compared are refused, naming the rows
    compare_row(
        "compare-to-inf", f"{THROUGHPUT} inf in row 1, -inf in row 3", baseline("1,inf,10", "2,180,11", "4,-inf,13")
    ),
    compare_row("compare-to-nan", f"{P50} NaN in row 2, NaN in row 3", baseline("1,100,10", "2,180,", "4,300,nan")),
    compare_row("compare-to-all-zero", f"{THROUGHPUT} 0 in row 1, 0 in row 2", baseline("1,0,0", "2,0,0")),
    compare_row("compare-to-negative-latency", f"{P50} -10 in row 1", baseline("1,100,-10")),
    compare_row("compare-to-string", f"{THROUGHPUT} 'fast' in row 2", baseline("1,100,10", "2,fast,11")),
    compare_row(
        "compare-to-four-bad-rows",
        f"{THROUGHPUT} 0 in row 1, 0 in row 2, 0 in row 3 and 1 more",
        baseline("1,0,10", "2,0,10", "4,0,10", "8,0,10"),
    ),
    compare_row(
        "compare-to-ci-inf",
        "base.csv: latency_p50_ci_high_ms must be a finite number > 0 (or empty), got inf in row 2",
        baseline(
            "1,100,10,9,11", "2,180,11,,inf", header=BASE_HEADER + ",latency_p50_ci_low_ms,latency_p50_ci_high_ms"
        ),
    ),
    compare_row(
        "compare-to-duplicated-config",
        "base.csv: the same configuration on several rows: rows 1 and 3 (bert-tiny cpu/torch/fp32 batch 1"
        " inference/latency); keep one row of each",
        baseline("1,100,10", "2,180,11", "1,120,9"),
    ),
    compare_row(
        "compare-to-batch-float",
        "base.csv: batch_size must be a whole number >= 1, got 1.5 in row 1",
        baseline("1.5,100,10"),
    ),
    compare_row(
        "compare-to-json-string",
        "base.json: latency_p50_ms must be a finite number > 0, got 'fast' in row 1",
        {"base.json": BAD_BASE_JSON},
    ),
    # --- --db-path: a file that is not a hwbench DuckDB file is refused from its first bytes, untouched
    case(
        ["query", "SELECT 1", "--db-path", "mlflow.db"],
        [Exact("hwbench: error: mlflow.db is not a hwbench DuckDB mirror (an SQLite database)")],
        "query-db-is-sqlite",
        files={"mlflow.db": SQLITE_STORE},
    ),
    case(
        ["analyze", "--db-path", "notes.txt", "--no-log"],
        [Exact("hwbench: error: notes.txt is not a hwbench DuckDB mirror (no DuckDB header)")],
        "analyze-db-is-text",
        files={"notes.txt": "benchmark notes, not a database\n"},
    ),
    case(
        ["recommend", "--db-path", "blob.bin"],
        [Exact("hwbench: error: blob.bin is not a hwbench DuckDB mirror (no DuckDB header)")],
        "recommend-db-is-binary",
        files={"blob.bin": GARBAGE},
    ),
    case(
        ["sync", "--db-path", "mlflow.db", "--tracking-uri", "sqlite:///{tmp}/store.db"],
        [Exact("hwbench: error: mlflow.db is not a hwbench DuckDB mirror (an SQLite database)")],
        "sync-db-is-sqlite",
        files={"mlflow.db": SQLITE_STORE, "store.db": SQLITE_STORE},
    ),
    case(
        ["init-db", "--model", "bert-tiny", "--hardware", "cpu", "--db-path", "mlflow.db"],
        [Exact("hwbench: error: mlflow.db is not a hwbench DuckDB mirror (an SQLite database)")],
        "init-db-db-is-sqlite",
        files={"mlflow.db": SQLITE_STORE},
    ),
    case(
        ["init-db", "--model", "bert-tiny", "--hardware", "cpu", "--db-path", "empty.duckdb"],
        [Exact("hwbench: error: empty.duckdb is not a hwbench DuckDB mirror (an empty file)")],
        "init-db-db-is-empty",
        files={"empty.duckdb": b""},
    ),
    case(
        ["init-db", "--model", "bert-tiny", "--hardware", "cpu", "--db-path", "other.duckdb"],
        [NOT_A_MIRROR],
        "init-db-db-is-another-duckdb",
        files={"other.duckdb": FOREIGN_DUCKDB},
    ),
    case(
        ["query", "SELECT 1", "--db-path", "other.duckdb"],
        [NOT_A_MIRROR],
        "query-db-is-another-duckdb",
        files={"other.duckdb": FOREIGN_DUCKDB},
    ),
    # --- --prices / --power: checked before they are read, whatever they hold
    case(
        ["recommend", "--prices", "prices.yaml"],
        [Exact("hwbench: error: --prices: cannot read prices.yaml: binary content, not YAML text")],
        "recommend-prices-binary",
        files={"prices.yaml": bytes(range(128, 256))},
    ),
    case(
        ["recommend", "--power", "power.yaml"],
        [Exact("hwbench: error: --power: cannot read power.yaml: binary content, not YAML text")],
        "recommend-power-nul-bytes",
        files={"power.yaml": b"cpu: 65\n\0\0\0\n"},
    ),
    case(
        ["recommend", "--prices", "prices.yaml"],
        [Exact("hwbench: error: --prices: prices.yaml is too large (over 1 MB); it should map platforms to $/hour")],
        "recommend-prices-huge",
        files={"prices.yaml": Sparse(2**21)},
    ),
    case(
        ["recommend", "--prices", "p" * 295 + ".yaml"],
        [Exact(f"hwbench: error: --prices: cannot read {'p' * 60}... (300 characters): File name too long")],
        "recommend-prices-name-too-long",
    ),
    # --- search: a memory limit above all the memory there is cannot bind
    case(
        [*SEARCH, "--memory-limit", "100000000"],
        [Exact(f"hwbench: error: --memory-limit 100000000 MB cannot bind: this host has {_host_mb()} MB")],
        "search-memory-over-host",
    ),
    # --- sync: an mlflow.db that MLflow cannot read is refused, naming it; no mirror appears
    case(
        ["sync"],
        [Exact("hwbench: error: {tmp}/mlflow.db is a damaged MLflow store (SQLite: database disk image is malformed)")],
        "sync-mlflow-db-truncated",
        files={"mlflow.db": TRUNCATED_STORE},
    ),
    case(
        ["sync"],
        [Exact("hwbench: error: {tmp}/mlflow.db is not an MLflow store (not an SQLite database)")],
        "sync-mlflow-db-random-bytes",
        files={"mlflow.db": GARBAGE},
    ),
    case(
        ["sync", "--tracking-uri", "sqlite:///notes.db"],
        [Exact("hwbench: error: {tmp}/notes.db is not an MLflow store (an SQLite database without MLflow's tables)")],
        "sync-mlflow-db-another-sqlite",
        files={"notes.db": SQLITE_OTHER},
    ),
    case(
        ["sync"],
        [Exact("hwbench: error: no MLflow store at {tmp}/mlflow.db: nothing to sync (run `hwbench run`)")],
        "sync-mlflow-db-empty",
        files={"mlflow.db": b""},
    ),
]


def generate_row(id: str, message: str, *args: str):
    """A ``hwbench run`` with the generate scenario's options, refused with exactly ``message``."""
    return pytest.param(run_args(*args), [Exact(f"hwbench: error: {message}")], {}, 2, id=f"generate-{id}")


CASES += [
    # --- run --scenario generate (LLM generation): refused before any run is logged
    generate_row(
        "model-cannot-generate",
        "--scenario 'generate' needs a model that generates (a causal LM); bert-tiny does not "
        "(catalog models that do: gpt2, smollm2)",
        *("--model", "bert-tiny", "--scenario", "generate"),
    ),
    generate_row(
        "over-context",
        "--prompt-tokens + --new-tokens = 1000 + 100 exceeds gpt2's context of 1024 tokens",
        *("--model", "gpt2", "--scenario", "generate", "--prompt-tokens", "1000", "--new-tokens", "100"),
    ),
    generate_row(
        "new-tokens-0",
        "--new-tokens must be >= 1, got 0",
        *("--model", "gpt2", "--scenario", "generate", "--new-tokens", "0"),
    ),
    generate_row(
        "prompt-tokens-not-integer",
        "--prompt-tokens: 'x' is not an integer (example: --prompt-tokens 128,512)",
        *("--model", "gpt2", "--scenario", "generate", "--prompt-tokens", "16,x"),
    ),
    generate_row(
        "new-tokens-float",
        "--new-tokens: '1.5' is not an integer (example: --new-tokens 64)",
        *("--model", "gpt2", "--scenario", "generate", "--new-tokens", "1.5"),
    ),
    generate_row(
        "prompt-tokens-without-generate",
        "--prompt-tokens needs --scenario 'generate'",
        *("--model", "gpt2", "--prompt-tokens", "16"),
    ),
    generate_row(
        "new-tokens-without-generate",
        "--new-tokens needs --scenario 'generate'",
        *("--model", "gpt2", "--scenario", "latency,throughput", "--new-tokens", "8"),
    ),
]


def _full(p):
    """The older rows, (argv, fragments), as full rows: no files, exit 2."""
    return p if len(p.values) == 4 else pytest.param(*p.values, {}, 2, id=p.id)


ROWS = [_full(p) for p in CASES]


# The rows run a few at a time: each is a CLI subprocess that spends its second on imports.
WORKERS = max(2, os.cpu_count() or 2)


@dataclass
class Outcome:
    proc: subprocess.CompletedProcess[str]
    before: dict[str, str]
    after: dict[str, str]
    root: Path


def _create(root: Path, files: dict, templates: dict) -> None:
    for rel, content in files.items():
        path = root / rel
        if content is DIR:
            path.mkdir()
        elif any(content is t for t in TEMPLATES):
            shutil.copyfile(templates[id(content)], path)
        elif isinstance(content, Sparse):
            with path.open("wb") as f:
                f.truncate(int(content))
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


def _snapshot(root: Path) -> dict[str, str]:
    """Every path under ``root``: 'dir' or the file's SHA-256."""
    out = {}
    for path in sorted(root.rglob("*")):
        rel = str(path.relative_to(root))
        out[rel] = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def _execute(root: Path, argv: list[str], files: dict, templates: dict) -> Outcome:
    """Lay out the row's files in its own empty cwd, run the CLI there, snapshot around it."""
    _create(root, files, templates)
    before = _snapshot(root)
    proc = run_cli([a.replace("{tmp}", str(root)) for a in argv], root, CLI_TIMEOUT_S)
    return Outcome(proc, before, _snapshot(root), root)


def _templates(rows: dict, tmp_path_factory: pytest.TempPathFactory) -> dict:
    """id(sentinel) → a file made once, for the sentinels the selected rows use."""
    used = {id(c) for params in rows.values() for c in params["files"].values()}
    out = {}
    if id(MIRROR) in used:
        from hwbench_mlflow.mirror.store import MirrorStore

        out[id(MIRROR)] = tmp_path_factory.mktemp("mirror") / "hwbench.duckdb"
        MirrorStore(out[id(MIRROR)]).close()
    if id(FOREIGN_DUCKDB) in used:
        import duckdb

        out[id(FOREIGN_DUCKDB)] = tmp_path_factory.mktemp("foreign") / "other.duckdb"
        with duckdb.connect(str(out[id(FOREIGN_DUCKDB)])) as con:
            con.execute("CREATE TABLE measurements AS SELECT 1 AS x")
    return out


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future[Outcome]]:
    """Every selected row of the table, run concurrently once; each test reads its own."""
    rows = {
        item.callspec.id: item.callspec.params
        for item in request.session.items
        if getattr(item, "function", None) is test_bad_input_is_one_line_exit_2_and_writes_nothing
    }
    templates = _templates(rows, tmp_path_factory)
    roots = {row: tmp_path_factory.mktemp("case") for row in rows}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return {
            row: pool.submit(_execute, roots[row], params["argv"], params["files"], templates)
            for row, params in rows.items()
        }


def _describe(proc, files) -> str:
    return f"\nrc={proc.returncode}\nstdout={proc.stdout!r}\nstderr={proc.stderr!r}\nfiles in cwd={files}"


@pytest.mark.parametrize(("argv", "fragments", "files", "code"), ROWS)
def test_bad_input_is_one_line_exit_2_and_writes_nothing(
    outcomes: dict[str, Future[Outcome]], request: pytest.FixtureRequest, argv, fragments, files, code
) -> None:
    result = outcomes[request.node.callspec.id].result()
    proc = result.proc
    detail = _describe(proc, sorted(result.after))

    assert "Traceback" not in proc.stdout + proc.stderr, detail
    lines = proc.stderr.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stderr{detail}"
    line = lines[0]
    assert line.strip(), detail
    assert line.startswith("hwbench: error:"), detail
    assert proc.returncode == code, detail
    for fragment in fragments:
        if isinstance(fragment, Exact):
            expected = fragment.replace("{tmp}", str(result.root.resolve()))
            assert line == expected, f"expected the line {expected!r}{detail}"
        else:
            assert fragment in line, f"missing {fragment!r}{detail}"
    assert proc.stdout == "", detail
    assert result.after == result.before, (
        f"the command created, changed or removed files{detail}\nbefore={sorted(result.before)}"
    )


def test_unreachable_uri_password_is_not_printed(hwbench, tmp_path: Path) -> None:
    proc = hwbench(*run_args("--tracking-uri", "http://alice:s3cret@127.0.0.1:9"))
    detail = _describe(proc, sorted(os.listdir(tmp_path)))
    assert proc.returncode == 2, detail
    assert proc.stderr.splitlines() == [proc.stderr.strip()], detail
    assert "s3cret" not in proc.stderr + proc.stdout, detail
    assert "alice:***@127.0.0.1:9" in proc.stderr, detail
    assert os.listdir(tmp_path) == [], detail
