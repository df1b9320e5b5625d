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
DIR = object()  # a directory where the command wants a file
GARBAGE = bytes(range(256)) * 16  # 4 KiB that no reader accepts: a corrupted DuckDB / Parquet file


def case(argv: list[str], fragments: list[str], id: str, files: dict | None = None, code: int = 2):
    """One row: ``files`` = {relative path: bytes | str | DIR | MIRROR} created before the command."""
    return pytest.param(argv, fragments, files or {}, code, id=id)


MIRROR_FILES = {"hwbench.duckdb": MIRROR}
CORRUPT = {"hwbench.duckdb": GARBAGE}
NOT_DUCKDB = "is not a hwbench DuckDB file"

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


def _create(root: Path, files: dict, template: Path | None) -> None:
    for rel, content in files.items():
        path = root / rel
        if content is DIR:
            path.mkdir()
        elif content is MIRROR:
            assert template is not None
            shutil.copyfile(template, path)
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


def _execute(root: Path, argv: list[str], files: dict, template: Path | None) -> Outcome:
    """Lay out the row's files in its own empty cwd, run the CLI there, snapshot around it."""
    _create(root, files, template)
    before = _snapshot(root)
    proc = run_cli([a.replace("{tmp}", str(root)) for a in argv], root, CLI_TIMEOUT_S)
    return Outcome(proc, before, _snapshot(root))


@pytest.fixture(scope="module")
def outcomes(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Future[Outcome]]:
    """Every selected row of the table, run concurrently once; each test reads its own."""
    rows = {
        item.callspec.id: item.callspec.params
        for item in request.session.items
        if getattr(item, "function", None) is test_bad_input_is_one_line_exit_2_and_writes_nothing
    }
    template = None
    if any(MIRROR in params["files"].values() for params in rows.values()):
        from hwbench_mlflow.store import MirrorStore

        template = tmp_path_factory.mktemp("mirror") / "hwbench.duckdb"
        MirrorStore(template).close()
    roots = {row: tmp_path_factory.mktemp("case") for row in rows}
    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        return {
            row: pool.submit(_execute, roots[row], params["argv"], params["files"], template)
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
