"""`hwbench matrix` and `hwbench run` agree: a ✖ is never started, a ✔ is measured."""

from __future__ import annotations

import json

import pytest
import torch

from hwbench_mlflow import names as N
from hwbench_mlflow.backends import BACKEND_PLATFORMS
from hwbench_mlflow.catalog import CATALOG
from tests._util import child_runs, run_cli


def _matrix(tmp_path, *args):
    proc = run_cli(["matrix", "--format", "json", *args], tmp_path)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_matrix_covers_every_combination_with_reasons(tmp_path):
    rows = _matrix(tmp_path, "--no-history")
    backends_per_platform = {p: max(1, sum(p in v for v in BACKEND_PLATFORMS.values())) for p in N.PLATFORMS}
    modes = sum(len(N.MODES) + spec.generative for spec in CATALOG.values())  # + generate for causal LMs
    assert len(rows) == modes * sum(backends_per_platform.values()) * len(N.PRECISIONS)
    assert {r["model"] for r in rows} == set(CATALOG)
    for r in rows:
        assert r["compatible"] == (r["reason"] == ""), r
        assert r["compatible"] or r["category_if_not"] in ("unsupported", "unavailable")
    cell = {(r["model"], r["platform"], r["backend"], r["precision"], r["mode"]): r for r in rows}
    assert cell[("bert-tiny", "cpu", "torch", "fp32", "inference")]["compatible"]
    assert not cell[("bert-tiny", "cpu", "torch", "int8", "training")]["compatible"]
    qnn = cell[("bert", "qnn", "onnxruntime", "fp32", "inference")]  # no Qualcomm SDK here
    assert qnn["category_if_not"] == "unavailable" and "QNNExecutionProvider" in qnn["reason"]
    web = cell[("bert", "webgpu", "onnxruntime-web", "fp32", "training")]  # browsers run inference only
    assert not web["compatible"] and web["category_if_not"] in ("unsupported", "unavailable")
    assert cell[("smollm2", "cpu", "torch", "fp32", "generate")]["compatible"]
    genai = cell[("smollm2", "openvino", "openvino_genai", "int4", "generate")]
    assert genai["compatible"] or genai["category_if_not"] == "unavailable", genai
    assert not cell[("smollm2", "openvino", "openvino_genai", "fp32", "generate")]["compatible"]
    assert "no F32 matrices" in cell[("smollm2", "openvino", "openvino_genai", "fp32", "generate")]["reason"]
    assert cell[("smollm2", "openvino", "openvino_genai", "int8", "generate")]["compatible"] == genai["compatible"]
    assert cell[("bert", "cpu", "torch", "int4", "inference")]["reason"].startswith("int4 is weight-only")
    assert ("bert", "cpu", "torch", "fp32", "generate") not in cell  # bert does not generate
    if not torch.cuda.is_available():
        assert cell[("gpt2", "cuda", "torch", "fp16", "inference")]["category_if_not"] == "unavailable"
    assert not (tmp_path / "mlflow.db").exists()  # --no-history reads nothing, creates nothing


def test_table_and_csv_formats(tmp_path):
    table = run_cli(["matrix", "--model", "bert-tiny", "--hardware", "cpu", "--no-history"], tmp_path)
    assert table.returncode == 0 and "✔" in table.stdout and "combinations run on this host" in table.stdout
    csv = run_cli(["matrix", "--model", "bert-tiny", "--hardware", "cpu", "--format", "csv", "--no-history"], tmp_path)
    assert csv.stdout.splitlines()[0].startswith("model,category,platform,backend,precision,mode,compatible")


def _table_rows(out: str) -> list[list[str]]:
    """The rows of the printed matrix table (a folded model cell's continuation lines dropped)."""
    rows = [[c.strip() for c in line.strip("│ ").split("│")] for line in out.splitlines() if line.startswith("│")]
    return [r for r in rows if r[0]]


def test_table_shows_what_runs_and_one_line_per_group_that_does_not(tmp_path):
    args = ["--model", "bert-tiny,gpt2,vit", "--hardware", "cpu,mps,qnn", "--no-history"]
    rows = _matrix(tmp_path, *args)
    if any(r["compatible"] for r in rows if r["platform"] in ("mps", "qnn")):
        pytest.skip("this host runs mps or qnn")
    groups = {(r["model"], r["platform"], r["backend"], r["mode"]) for r in rows}
    runs = {(r["model"], r["platform"], r["backend"], r["mode"]) for r in rows if r["compatible"]}
    assert runs and len(runs) < len(groups)
    default = run_cli(["matrix", *args], tmp_path)
    assert default.returncode == 0, default.stderr
    out = default.stdout
    table = _table_rows(out)
    # what runs here: one row per platform × backend × mode where models agree, never a ✖-only row
    assert 0 < len(table) <= len(runs) < len(groups), out
    assert all("✔" in " ".join(r[4:]) for r in table), out
    assert {(r[1], r[2], r[3]) for r in table} == {g[1:] for g in runs}
    assert len(out.splitlines()) < 40, out
    text = " ".join(out.split())  # a long line may wrap
    for platform in ("mps", "qnn"):  # nothing runs: one line, with the count and the reason
        mine = [r for r in rows if r["platform"] == platform]
        (reason,) = {r["reason"] for r in mine}
        assert f"✖ {platform}: {len(mine)} combinations — {reason}" in text, out
    hidden = sum(1 for r in rows if (r["model"], r["platform"], r["backend"], r["mode"]) not in runs)
    assert f"Not run here ({hidden} combinations in rows without a ✔; --all lists every row)" in text
    ok = sum(r["compatible"] for r in rows)
    assert f"{ok} of {len(rows)} combinations run on this host." in out
    # --all: a row for every model × platform × backend × mode, as before
    full = run_cli(["matrix", *args, "--all"], tmp_path)
    assert full.returncode == 0, full.stderr
    full_rows = _table_rows(full.stdout)
    assert len(full_rows) == len(groups) and {tuple(r[:4]) for r in full_rows} == groups
    assert "Not run here" not in full.stdout and f"{ok} of {len(rows)} combinations run" in full.stdout
    # other formats hold every combination with or without --all
    assert json.loads(run_cli(["matrix", "--format", "json", "--all", *args], tmp_path).stdout) == rows


def test_run_all_never_starts_an_incompatible_combination(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    proc = run_cli(
        [
            "run",
            "--all",
            "--hardware",
            "cpu",
            "--backend",
            "torch",
            "--precision",
            "fp16,bf16",
            "--training-mode",
            "--limit",
            "4",
            "--tracking-uri",
            uri,
            "--max-time",
            "0.5",
            "--warmup",
            "0",
            "--min-iterations",
            "1",
            "--seq-length",
            "16",
        ],
        tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    rows = _matrix(tmp_path, "--tracking-uri", uri, "--hardware", "cpu")
    cell = {(r["model"], r["platform"], r["backend"], r["precision"], r["mode"]): r for r in rows}
    runs = child_runs(uri)
    assert len(runs) == 4
    for run in runs:
        p = run.data.params
        c = cell[(p["model"], p["hardware"], p["backend"], p["precision"], p["mode"])]
        if c["compatible"]:
            assert run.data.tags[N.T_STATUS] == "success" and run.data.metrics
        else:  # never started: no worker, no numbers
            assert run.data.tags[N.T_STATUS] == "skipped" and run.data.metrics == {}
            assert run.data.tags[N.T_ERROR_MESSAGE] == c["reason"]
        assert c["last_status"].startswith(run.data.tags[N.T_STATUS])
        assert c["last_run_id"] == run.info.run_id
    # without --tracking-uri the same history comes from the DuckDB mirror the run synced
    mirrored = _matrix(tmp_path, "--hardware", "cpu")
    assert [(r["last_status"], r["last_run_id"]) for r in mirrored] == [
        (r["last_status"], r["last_run_id"]) for r in rows
    ]
