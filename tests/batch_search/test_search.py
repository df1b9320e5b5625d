"""hwbench search: the planner on a known curve, then a real bert-tiny search under a memory
limit (trials as MLflow child runs and Optuna trials, mirrored to DuckDB, resumable), a
limit nothing fits, and bad input."""

from __future__ import annotations

import json

import optuna
import pytest
from mlflow import MlflowClient

import hwbench_mlflow as hb
from hwbench_mlflow import names as N
from hwbench_mlflow.batch_search.planner import BatchPlanner, Observation
from tests._util import child_runs, run_cli

SEARCH_FAST = ["--max-time", "0.5", "--min-time", "0.2", "--warmup", "2", "--min-iterations", "5"]
LIMIT_MB = 510.0  # bert-tiny: 356-435 MB at batch 1-4 (seen in CI), 478-487 MB at 128, ~570 at 256 (forked worker);
# the headroom over the small batches keeps one noisy worker from making a small batch infeasible
MAX_BATCH = 256


# ----------------------------------------------------------------------------- the planner


def drive(planner: BatchPlanner, evaluate) -> list[Observation]:
    """Run the planner to convergence against ``evaluate(config, batch) -> (feasible, value)``."""
    seen: list[Observation] = []
    while True:
        proposals = planner.proposals(seen)
        if not proposals:
            return seen
        config, batch = proposals[0]
        assert sum((o.config, o.batch) == (config, batch) for o in seen) < planner.repeats, "measured too often"
        feasible, value = evaluate(config, batch)
        seen.append(Observation(config, batch, "done", feasible, value if feasible else None))


def throughput_curve(b: int, peak: int = 24) -> float:
    return 1000.0 * b / (1 + (b / peak) ** 2) ** 0.5 / (1 + b / (4 * peak))


def test_planner_reaches_the_grid_optimum_in_a_fraction_of_the_evaluations():
    limit_batch = 50  # memory grows with batch: 51 and above do not fit
    grid = {b: throughput_curve(b) for b in range(1, limit_batch + 1)}
    best_grid = max(grid.values())
    seen = drive(
        BatchPlanner(["cpu/torch/cpu/fp32"], 256, maximize=True),
        lambda c, b: (b <= limit_batch, throughput_curve(b)),
    )
    found = max(o.value for o in seen if o.feasible)
    assert found >= 0.95 * best_grid
    assert len(seen) <= 256 / 3
    assert len(seen) <= 16 + 6, [o.batch for o in seen]  # + the top 3 measured twice more
    again = [o.batch for o in seen[len(seen) - 6 :]]
    assert len(set(again)) == 3 and all(again.count(b) == 2 for b in again)  # confirmation comes last
    assert max(again, key=throughput_curve) == max({o.batch for o in seen if o.feasible}, key=throughput_curve)
    for i, o in enumerate(seen):  # never at or beyond a batch size already known not to fit
        assert all(o.batch < p.batch for p in seen[:i] if not p.feasible), [p.batch for p in seen]
    assert [o.batch for o in seen[:6]] == [1, 2, 4, 8, 16, 32]  # expansion by doubling first


def test_planner_nothing_fits_and_laggards_are_not_refined():
    planner = BatchPlanner(["a", "b"], 64, maximize=True)
    seen = drive(planner, lambda c, b: (c == "a", throughput_curve(b)))
    outlooks = {o.config: o for o in planner.outlooks(seen)}
    assert outlooks["b"].nothing_fits and [o.batch for o in seen if o.config == "b"] == [1]
    slow = BatchPlanner(["fast", "slow"], 64, maximize=True)
    seen = drive(slow, lambda c, b: (True, throughput_curve(b) * (1.0 if c == "fast" else 0.5)))
    slow_batches = sorted(o.batch for o in seen if o.config == "slow")
    assert slow_batches == [1, 2, 4, 8, 16, 32, 64]  # expanded (cheap to know), never refined
    assert len([o for o in seen if o.config == "fast"]) > len(slow_batches)
    lat = BatchPlanner(["x"], 256, maximize=False, repeats=1)  # latency grows with batch: batch 1 wins fast
    seen = drive(lat, lambda c, b: (True, 1.0 + b))
    assert min(seen, key=lambda o: o.value).batch == 1 and [o.batch for o in seen] == [1, 2, 4]


def test_planner_ranks_by_the_median_of_repeats():
    planner = BatchPlanner(["c"], 8, maximize=True, repeats=3, confirm_top=1)
    lucky = [Observation("c", b, "done", True, v) for b, v in ((1, 10.0), (2, 20.0), (4, 30.0), (8, 25.0))]
    lucky += [Observation("c", b, "done", True, v) for b, v in ((3, 22.0), (5, 24.0), (6, 26.0))]
    assert planner.proposals(lucky) == [("c", 4)]  # the leader is re-measured first
    unlucky = [*lucky, Observation("c", 4, "done", True, 12.0), Observation("c", 4, "done", True, 11.0)]
    assert planner.outlook("c", unlucky).best_batch == 6  # 4's median is 12 now: 6 leads


# ----------------------------------------------------------------------------- a real search


@pytest.fixture(scope="module")
def searched(tmp_path_factory):
    d = tmp_path_factory.mktemp("search")
    args = ["search", "--model", "bert-tiny", "--hardware", "cpu", "--memory-limit", f"{LIMIT_MB:g}"]
    args += ["--max-batch", str(MAX_BATCH), "--study-name", "bt", "--json", *SEARCH_FAST]
    proc = run_cli(args, d, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return d, json.loads(proc.stdout[: proc.stdout.rindex("}") + 1]), proc


def test_search_finds_a_batch_under_the_limit_with_fewer_evaluations_than_the_grid(searched):
    _, result, proc = searched
    best, trials = result["best"], result["trials"]
    assert best is not None and best["memory_mb"] < LIMIT_MB
    assert result["memory_margin_mb"] == pytest.approx(LIMIT_MB - best["memory_mb"])
    assert len(trials) < MAX_BATCH / 3 and result["stop_reason"] == "converged"
    for t in trials:  # feasible ⇔ measured under the limit; infeasible ones stopped or over it
        assert (t["state"] == "feasible") == (t["memory_mb"] <= LIMIT_MB), t
    infeasible = [t for t in trials if t["state"] == "infeasible"]
    assert infeasible and all(t["memory_mb"] > LIMIT_MB for t in infeasible)
    assert all(t["batch_size"] > best["batch_size"] for t in infeasible)
    at_best = sorted(
        t["value"] for t in trials if (t["config"], t["batch_size"]) == (best["config"], best["batch_size"])
    )
    assert len(at_best) == result["best_measurements"] >= 2  # the top points are re-measured
    assert best["value"] == at_best[len(at_best) // 2]  # the median measurement represents the point
    assert best["throughput"] == best["value"]
    assert "best batch size" in proc.stdout and "optuna-dashboard sqlite:///" in proc.stdout


def test_trials_are_mlflow_child_runs_and_optuna_trials_and_mirrored(searched):
    d, result, _ = searched
    uri = f"sqlite:///{d}/mlflow.db"
    runs = child_runs(uri, result["parent_run_id"])
    assert len(runs) == len(result["trials"])
    by_trial = {int(r.data.tags[N.T_TRIAL_NUMBER]): r for r in runs}
    for t in result["trials"]:
        run = by_trial[t["number"]]
        assert run.data.tags[N.T_STUDY_NAME] == "bt" and run.info.run_id == t["mlflow_run_id"]
        assert int(run.data.params["batch_size"]) == t["batch_size"]
        assert run.data.tags[N.T_FEASIBLE] == ("true" if t["state"] == "feasible" else "false")
        if t["state"] == "infeasible" and run.info.status == "FAILED":
            assert run.data.tags[N.T_ERROR_CATEGORY] == "oom"
            assert run.data.metrics[N.M_MEMORY_PEAK] > LIMIT_MB  # how far it got before the guard
    parent = MlflowClient(uri).get_run(result["parent_run_id"])
    assert parent.data.tags[N.T_ROLE] == "search" and parent.data.tags[N.T_SEARCH_OUTCOME] == "found"
    assert parent.data.metrics["best_batch_size"] == result["best"]["batch_size"]
    assert parent.data.metrics["best_measurements"] == result["best_measurements"]
    assert parent.data.metrics["trials_used"] == len(result["trials"])
    study = optuna.load_study(study_name="bt", storage=f"sqlite:///{d}/hwbench-optuna.db")
    assert len(study.trials) == len(result["trials"])
    # Optuna's own best is a single (the luckiest) feasible measurement: at least our median
    assert study.best_trial.value >= result["best"]["value"] and study.best_trial.user_attrs["memory_mb"] <= LIMIT_MB
    for t in study.trials:
        assert set(t.constraints) == {"memory_peak_mb"}
        assert t.constraints["memory_peak_mb"] == pytest.approx(t.user_attrs["memory_mb"] - LIMIT_MB) or (
            t.user_attrs["memory_capped"] and t.constraints["memory_peak_mb"] > 0
        )
    row = hb.sql("SELECT * FROM searches", d / "hwbench.duckdb").iloc[0]
    assert (row.study_name, row.outcome, int(row.best_batch_size)) == ("bt", "found", result["best"]["batch_size"])
    assert int(row.trials_used) == len(result["trials"]) and row.memory_limit_mb == LIMIT_MB
    mirrored = hb.sql(
        f"SELECT count(*) AS n FROM results WHERE sweep_id = '{result['sweep_id']}'", d / "hwbench.duckdb"
    )
    assert int(mirrored.n[0]) == len(result["trials"])


def test_named_study_resumes_and_refuses_another_problem(searched):
    d, result, _ = searched
    args = ["search", "--model", "bert-tiny", "--memory-limit", f"{LIMIT_MB:g}", "--max-batch", str(MAX_BATCH)]
    again = run_cli([*args, "--study-name", "bt", "--json", "--no-db", *SEARCH_FAST], d, timeout=300)
    assert again.returncode == 0, again.stderr
    resumed = json.loads(again.stdout[: again.stdout.rindex("}") + 1])
    assert resumed["evaluations"] == 0 and resumed["best"]["number"] == result["best"]["number"]
    other = run_cli(["search", "--model", "bert-tiny", "--memory-limit", "999", "--study-name", "bt"], d, timeout=120)
    assert other.returncode == 2
    assert (
        other.stderr.startswith("hwbench: error: study 'bt' in sqlite:///")
        and "use another --study-name" in other.stderr
    )
    assert len(other.stderr.strip().splitlines()) == 1


def test_nothing_fits_is_a_clear_answer_and_exit_1(tmp_path):
    proc = run_cli(
        ["search", "--model", "bert-tiny", "--memory-limit", "50", "--no-db", *SEARCH_FAST], tmp_path, timeout=300
    )
    assert proc.returncode == 1
    line = [x for x in proc.stderr.splitlines() if x.startswith("hwbench: nothing fits")]
    assert line and "no batch size of bert-tiny runs under 50 MB; batch 1 needs at least" in line[0]
    assert "1 trial(s) (1 infeasible, 0 failed)" in line[0]


def test_latency_limit_is_a_constraint_too(tmp_path):
    args = ["search", "--model", "bert-tiny", "--memory-limit", "4096", "--latency-limit", "0.001"]
    proc = run_cli([*args, "--no-db", "--json", *SEARCH_FAST], tmp_path, timeout=300)
    assert proc.returncode == 1
    result = json.loads(proc.stdout[: proc.stdout.rindex("}") + 1])
    (trial,) = result["trials"]  # batch 1 measured, under the memory limit, over the latency limit
    assert trial["state"] == "infeasible" and trial["memory_mb"] < 4096 and trial["latency_p99_ms"] > 0.001
    study = optuna.load_study(study_name=result["study_name"], storage=f"sqlite:///{tmp_path}/hwbench-optuna.db")
    constraints = study.trials[0].constraints
    assert constraints["memory_peak_mb"] < 0 and constraints["latency_p99_ms"] == pytest.approx(
        trial["latency_p99_ms"] - 0.001
    )
    assert "runs under 4096 MB with p99 latency under 0.001 ms; batch 1 needs" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--memory-limit", "-5"], "hwbench: error: --memory-limit must be a number > 0, got -5"),
        (["--memory-limit", "abc"], "hwbench: error: --memory-limit needs a number, got 'abc'"),
        (["--max-batch", "0"], "hwbench: error: --max-batch must be >= 1, got 0"),
        (["--n-trials", "0"], "hwbench: error: --n-trials must be >= 1, got 0"),
        (
            ["--model", "bert-tiny,minilm"],
            "hwbench: error: --model: a search is about one model; run one search per model",
        ),
    ],
)
def test_bad_search_input(tmp_path, args, message):
    base = ["search", "--model", "bert-tiny"]
    proc = run_cli([*base, *args], tmp_path, timeout=120)
    assert proc.returncode == 2 and proc.stderr.strip() == message
    assert not (tmp_path / "hwbench-optuna.db").exists() and not (tmp_path / "mlflow.db").exists()


def test_run_memory_constrained_refuses_a_batch_grid(tmp_path):
    proc = run_cli(["run", "--model", "bert-tiny", "--memory-constrained", "500", "--batch-sizes", "1,8"], tmp_path)
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "hwbench: error: --memory-constrained searches the batch size; do not combine it with --batch-sizes"
    )


def test_objective_directions_are_consistent():
    from hwbench_mlflow.batch_search.study import OBJECTIVES

    assert OBJECTIVES["throughput"] == (N.M_THROUGHPUT, "maximize")
    assert all(d == "minimize" for k, (_, d) in OBJECTIVES.items() if k.startswith("latency"))


# ----------------------------------------------------------------------------- the pieces, without a worker


def _problem(objective: str = "throughput", memory_limit_mb: float | None = 500.0):
    from hwbench_mlflow.batch_search.problem import Problem
    from hwbench_mlflow.config import BenchmarkConfig

    config = BenchmarkConfig("bert-tiny", "cpu", "torch", "cpu", "fp32", 1)
    configs = {"cpu/torch/cpu/fp32": config}
    return Problem("bert-tiny", configs, objective, memory_limit_mb, None, 256, "inference", "latency", 128)


def test_a_resumed_study_must_be_for_the_same_problem(tmp_path):
    from hwbench_mlflow.batch_search.storage import open_study
    from hwbench_mlflow.cli.flags import PARAM_FLAGS
    from hwbench_mlflow.errors import BadInputError

    storage = f"sqlite:///{tmp_path}/optuna.db"
    study = open_study(storage, "s", _problem(), seed=0, sampler="planned")
    assert study.user_attrs["hwbench.sampler"] == "planned" and open_study(storage, "s", _problem(), 0, "planned")
    with pytest.raises(BadInputError) as err:
        open_study(storage, "s", _problem(memory_limit_mb=999.0), 0, "planned")
    assert err.value.renamed(PARAM_FLAGS) == (
        f"study 's' in {storage} was created for another search (memory_limit_mb 500.0 ≠ 999.0); "
        "use another --study-name"
    )
    optuna.create_study(storage=storage, study_name="down", direction="minimize")
    with pytest.raises(BadInputError) as err:
        open_study(storage, "down", _problem(), 0, "planned")
    assert err.value.renamed(PARAM_FLAGS) == "study 'down' minimizes; --objective throughput maximizes"


def test_storage_errors_rename_only_their_leading_parameter(tmp_path):
    from hwbench_mlflow.batch_search.storage import check_storage
    from hwbench_mlflow.cli.flags import PARAM_FLAGS
    from hwbench_mlflow.errors import BadInputError

    check_storage(f"sqlite:///{tmp_path}/optuna.db")  # a file that will be made: fine
    url = f"sqlite:///{tmp_path}/storage/optuna.db"
    with pytest.raises(BadInputError) as err:
        check_storage(url)
    assert err.value.renamed(PARAM_FLAGS) == f"--storage {url}: directory does not exist: {tmp_path}/storage"
    with pytest.raises(BadInputError) as err:
        check_storage("foo://bar")
    assert err.value.param == "storage" and err.value.renamed(PARAM_FLAGS).startswith("--storage foo://bar: ")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_batch": 0}, "max_batch must be >= 1, got 0"),
        ({"memory_limit_mb": float("nan")}, "memory_limit_mb must be a number > 0, got nan"),
        ({"latency_limit_ms": -1.0}, "latency_limit_ms must be a number > 0, got -1"),
    ],
)
def test_the_limits_name_their_parameters(kwargs, message):
    from hwbench_mlflow.batch_search.problem import check_limits
    from hwbench_mlflow.cli.flags import PARAM_FLAGS
    from hwbench_mlflow.errors import BadInputError

    limits = {"memory_limit_mb": None, "latency_limit_ms": None, "max_batch": 8, **kwargs}
    with pytest.raises(BadInputError) as err:
        check_limits(**limits)
    assert str(err.value) == message and err.value.param == next(iter(kwargs))
    assert err.value.renamed(PARAM_FLAGS) == "--" + message.replace("_mb", "").replace("_ms", "").replace("_", "-", 1)


def test_the_best_point_is_the_median_of_its_measurements():
    from hwbench_mlflow.batch_search.outcome import SearchResult, TrialSummary, best_of, describe, outcome_of

    def t(n, batch, state, value, mem=300.0):
        return TrialSummary(n, "cpu/torch/cpu/fp32", batch, state, value, throughput=value, memory_mb=mem)

    trials = [t(0, 1, "feasible", 100.0), t(1, 2, "feasible", 190.0), t(2, 2, "feasible", 150.0)]
    trials += [t(3, 2, "feasible", 160.0), t(4, 4, "infeasible", 400.0, 600.0), t(5, 1, "feasible", 90.0)]
    best, measured = best_of(trials, maximize=True)
    assert (best.number, measured) == (3, 3)  # median 160 of batch 2: trial 3
    result = SearchResult(
        model="bert-tiny",
        study_name="s",
        storage="x",
        objective="throughput",
        direction="maximize",
        memory_limit_mb=500.0,
        latency_limit_ms=None,
        max_batch=8,
        trials=trials,
        evaluations=6,
        stop_reason="converged",
        best=best,
        best_measurements=measured,
    )
    assert outcome_of(result) == "found" and result.memory_margin_mb == 200.0
    assert describe(result) == (
        "best batch size 2 on cpu/torch/cpu/fp32: throughput = 160 (median of 3 measurements), 160.0 samples/s, "
        "peak 300 MB (200 MB under 500 MB). 6 trial(s) (1 infeasible, 0 failed), stopped: converged."
    )
    keys = list(result.to_dict())
    assert keys[-6:] == ["outboxed", "replayed", "sync_report", "sync_error", "experiment", "memory_margin_mb"]
