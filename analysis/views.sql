-- Views over the mirror, recreated whenever this file changes. Read-only helpers: every
-- analysis, recommendation and report reads these or the tables, never MLflow.

-- One flat row per result with the MLflow contract's names (model, hardware, ...).
CREATE OR REPLACE VIEW results AS
SELECT
    pr.mlflow_run_id,
    pr.model_id AS model,
    m.model_name,
    m.category,
    hp.hardware_type AS hardware,
    hp.hardware_name,
    hp.device,
    hp.host,
    pr.* EXCLUDE (mlflow_run_id, model_id, hardware_id, host, params, metrics, tags, content_hash)
FROM performance_results pr
JOIN models m USING (model_id)
JOIN hardware_platforms hp USING (hardware_id);

-- The newest successful result of each configuration.
CREATE OR REPLACE VIEW latest_results AS
SELECT * FROM results
WHERE status = 'success'
QUALIFY row_number() OVER (
    PARTITION BY model, hardware, device, host, backend, precision, batch_size, mode, scenario,
        prompt_tokens, new_tokens  -- a generation's shape is part of its configuration
    ORDER BY created_at DESC, mlflow_run_id
) = 1;

-- Percentiles recomputed from the raw samples (quantile_cont is numpy's default 'linear'
-- method, the one the runs' latency_p*_ms metrics use).
CREATE OR REPLACE VIEW sample_statistics AS
SELECT
    mlflow_run_id,
    count(*) AS samples,
    avg(latency_ms) AS latency_mean_ms,
    quantile_cont(latency_ms, 0.50) AS latency_p50_ms,
    quantile_cont(latency_ms, 0.90) AS latency_p90_ms,
    quantile_cont(latency_ms, 0.95) AS latency_p95_ms,
    quantile_cont(latency_ms, 0.99) AS latency_p99_ms,
    min(latency_ms) AS latency_min_ms,
    max(latency_ms) AS latency_max_ms,
    stddev_pop(latency_ms) AS latency_std_ms
FROM latency_samples
GROUP BY mlflow_run_id;

-- What is still to be measured (seeds' --init-db rows not yet run).
CREATE OR REPLACE VIEW pending_benchmarks AS
SELECT * FROM benchmark_plan WHERE status = 'pending';

-- Every MLflow metric of every result, long format.
CREATE OR REPLACE VIEW run_metrics AS
SELECT mlflow_run_id, key, CAST(json_extract(metrics, '$."' || key || '"') AS DOUBLE) AS value
FROM (SELECT mlflow_run_id, metrics, unnest(json_keys(metrics)) AS key FROM performance_results);

-- Every MLflow param of every result, long format.
CREATE OR REPLACE VIEW run_params AS
SELECT mlflow_run_id, key, json_extract_string(params, '$."' || key || '"') AS value
FROM (SELECT mlflow_run_id, params, unnest(json_keys(params)) AS key FROM performance_results);

-- One row per `hwbench search` (its parent run): the problem, the answer, the trials used.
CREATE OR REPLACE VIEW searches AS
SELECT
    mlflow_run_id,
    sweep_id AS search_id,
    params->>'$.study_name' AS study_name,
    params->>'$.storage' AS storage,
    params->>'$.model' AS model,
    params->>'$.search_configs' AS configs,
    params->>'$.objective' AS objective,
    TRY_CAST(params->>'$.memory_limit_mb' AS DOUBLE) AS memory_limit_mb,
    TRY_CAST(params->>'$.latency_limit_ms' AS DOUBLE) AS latency_limit_ms,
    TRY_CAST(params->>'$.max_batch' AS INTEGER) AS max_batch,
    params->>'$.sampler' AS sampler,
    tags->>'$."hwbench.search.outcome"' AS outcome,
    tags->>'$."hwbench.search.stop_reason"' AS stop_reason,
    tags->>'$."hwbench.search.best_config"' AS best_config,
    tags->>'$."hwbench.search.best_run_id"' AS best_run_id,
    TRY_CAST(metrics->>'$.best_batch_size' AS INTEGER) AS best_batch_size,
    TRY_CAST(metrics->>'$.best_objective' AS DOUBLE) AS best_objective,
    TRY_CAST(metrics->>'$.best_throughput_samples_per_s' AS DOUBLE) AS best_throughput_samples_per_s,
    TRY_CAST(metrics->>'$.best_latency_p50_ms' AS DOUBLE) AS best_latency_p50_ms,
    TRY_CAST(metrics->>'$.best_latency_p99_ms' AS DOUBLE) AS best_latency_p99_ms,
    TRY_CAST(metrics->>'$.best_memory_peak_mb' AS DOUBLE) AS best_memory_peak_mb,
    TRY_CAST(metrics->>'$.memory_margin_mb' AS DOUBLE) AS memory_margin_mb,
    TRY_CAST(metrics->>'$.trials_used' AS INTEGER) AS trials_used,
    TRY_CAST(metrics->>'$.trials_this_run' AS INTEGER) AS trials_this_run,
    TRY_CAST(metrics->>'$.trials_infeasible' AS INTEGER) AS trials_infeasible,
    TRY_CAST(metrics->>'$.trials_failed' AS INTEGER) AS trials_failed,
    host,
    run_status,
    experiment_name,
    created_at,
    ended_at
FROM sweeps
WHERE kind = 'search';
