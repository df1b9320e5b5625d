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
    PARTITION BY model, hardware, device, host, backend, precision, batch_size, mode, scenario
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
