-- hwbench DuckDB mirror, schema version 1.
-- Applied once, in one transaction, by hwbench_mlflow.store; never edited after release:
-- a later change is a new numbered file (002_*.sql), so old files migrate instead of breaking.
-- Data tables are a pure function of the MLflow store (plus init-db's plan); tables named
-- sync_* are the sync's own bookkeeping. Times are UTC.

-- Models seen in runs or planned by init-db. model_id is the catalog key (the `model` param).
CREATE TABLE models (
    model_id   VARCHAR PRIMARY KEY,
    model_name VARCHAR NOT NULL,           -- `model_name` param: the Hugging Face id
    category   VARCHAR                     -- text | vision | audio | multimodal
);

-- One row per platform × device × host. hardware_type is the seeds' name for the
-- `hardware` param (cpu, cuda, rocm, mps, openvino, qnn, webnn, webgpu).
CREATE TABLE hardware_platforms (
    hardware_id   VARCHAR PRIMARY KEY,     -- 'host/hardware_type/device'
    hardware_type VARCHAR NOT NULL,
    hardware_name VARCHAR,
    device        VARCHAR NOT NULL,
    host          VARCHAR NOT NULL,
    UNIQUE (hardware_type, device, host)
);

-- One row per finished (FINISHED or FAILED) hwbench config run: every contract param and
-- metric as a column, everything MLflow holds for the run in params / metrics / tags.
CREATE TABLE performance_results (
    mlflow_run_id     VARCHAR PRIMARY KEY,
    model_id          VARCHAR NOT NULL REFERENCES models (model_id),
    hardware_id       VARCHAR NOT NULL REFERENCES hardware_platforms (hardware_id),
    backend           VARCHAR NOT NULL,
    precision         VARCHAR NOT NULL,
    batch_size        INTEGER NOT NULL CHECK (batch_size >= 1),
    mode              VARCHAR NOT NULL,
    scenario          VARCHAR NOT NULL,
    input_shape       VARCHAR,
    model_path        VARCHAR,
    seq_length        INTEGER,
    status            VARCHAR NOT NULL CHECK (status IN ('success', 'failed', 'skipped')),
    error_category    VARCHAR,
    error_message     VARCHAR,
    is_simulated      BOOLEAN NOT NULL,
    simulation_reason VARCHAR,
    weights           VARCHAR,             -- pretrained | random
    throughput_samples_per_s   DOUBLE,
    latency_mean_ms            DOUBLE,
    latency_p50_ms             DOUBLE,
    latency_p90_ms             DOUBLE,
    latency_p95_ms             DOUBLE,
    latency_p99_ms             DOUBLE,
    latency_min_ms             DOUBLE,
    latency_max_ms             DOUBLE,
    latency_std_ms             DOUBLE,
    latency_p50_ci_low_ms      DOUBLE,
    latency_p50_ci_high_ms     DOUBLE,
    memory_peak_mb             DOUBLE,
    memory_baseline_mb         DOUBLE,
    gpu_memory_peak_mb         DOUBLE,
    startup_ms                 DOUBLE,
    first_inference_ms         DOUBLE,
    iterations                 DOUBLE,
    duration_s                 DOUBLE,
    energy_j_per_sample        DOUBLE,
    page_faults_minor_per_iter DOUBLE,
    stop_reason        VARCHAR,
    ci_target_met      BOOLEAN,
    percentile_warning VARCHAR,
    samples_count      INTEGER NOT NULL,   -- rows of this run in latency_samples
    experiment_id      VARCHAR NOT NULL,
    experiment_name    VARCHAR NOT NULL,
    sweep_id           VARCHAR,
    parent_run_id      VARCHAR,
    run_name           VARCHAR,
    host               VARCHAR,
    run_status         VARCHAR NOT NULL CHECK (run_status IN ('FINISHED', 'FAILED')),
    created_at         TIMESTAMP NOT NULL, -- MLflow start_time: when the config started
    ended_at           TIMESTAMP,          -- MLflow end_time
    params             JSON NOT NULL,      -- every MLflow param of the run
    metrics            JSON NOT NULL,      -- every MLflow metric (latest value)
    tags               JSON NOT NULL,      -- every MLflow tag
    content_hash       VARCHAR NOT NULL    -- what the sync compares to skip unchanged runs
);

-- The raw per-iteration latencies (the run's raw_latencies_ms.json), so percentiles and
-- statistical tests can be recomputed in SQL. No foreign key on purpose: DuckDB checks one
-- per row and would make a 7-million-sample sync 8x slower; the sync deletes a run's
-- samples in the same transaction as its row, and the tests check there are no orphans.
CREATE TABLE latency_samples (
    mlflow_run_id VARCHAR NOT NULL,
    iteration     INTEGER NOT NULL,
    latency_ms    DOUBLE NOT NULL
);

-- One row per finished sweep (parent) run.
CREATE TABLE sweeps (
    mlflow_run_id   VARCHAR PRIMARY KEY,
    sweep_id        VARCHAR,
    experiment_id   VARCHAR NOT NULL,
    experiment_name VARCHAR NOT NULL,
    host            VARCHAR,
    run_status      VARCHAR NOT NULL,
    is_simulated    BOOLEAN NOT NULL,
    configs         INTEGER,
    created_at      TIMESTAMP NOT NULL,
    ended_at        TIMESTAMP,
    params          JSON NOT NULL,
    tags            JSON NOT NULL,
    content_hash    VARCHAR NOT NULL
);

-- What hardware detection found, per platform: one set of rows per sweep (from its
-- hwbench.hw.* tags) and per `hwbench init-db` / `hwbench hardware` detection.
CREATE TABLE hardware_availability_log (
    detection_id  VARCHAR NOT NULL,        -- the sweep's MLflow run id, or 'local:<host>:<time>'
    hardware_type VARCHAR NOT NULL,
    host          VARCHAR NOT NULL,
    is_available  BOOLEAN NOT NULL,
    reason        VARCHAR,                 -- why not, when unavailable
    detected_at   TIMESTAMP NOT NULL,
    sweep_id      VARCHAR,
    mlflow_run_id VARCHAR,                 -- NULL for detections outside a sweep
    PRIMARY KEY (detection_id, hardware_type)
);

-- The seeds' --init-db: a row per compatible combination to measure. Each sync sets status
-- from the newest matching result (pending until one exists).
CREATE TABLE benchmark_plan (
    plan_key      VARCHAR PRIMARY KEY,     -- model_id|hardware_id|backend|precision|batch|mode|scenario
    model_id      VARCHAR NOT NULL REFERENCES models (model_id),
    hardware_id   VARCHAR NOT NULL REFERENCES hardware_platforms (hardware_id),
    backend       VARCHAR NOT NULL,
    precision     VARCHAR NOT NULL,
    batch_size    INTEGER NOT NULL CHECK (batch_size >= 1),
    mode          VARCHAR NOT NULL,
    scenario      VARCHAR NOT NULL,
    status        VARCHAR NOT NULL CHECK (status IN ('pending', 'success', 'failed', 'skipped')),
    mlflow_run_id VARCHAR,                 -- the newest matching run
    updated_at    TIMESTAMP,               -- when that run was measured
    planned_at    TIMESTAMP NOT NULL
);

-- Bookkeeping ---------------------------------------------------------------------------
CREATE TABLE sync_state (
    id                 INTEGER PRIMARY KEY CHECK (id = 1),
    tracking_uri       VARCHAR,            -- the store this file mirrors (password removed)
    watermark_ms       BIGINT,             -- next incremental sync reads end_time >= this - slack
    recheck_cursor_ms  BIGINT NOT NULL DEFAULT 0,
    last_sync_at       TIMESTAMP,
    last_full_sync_at  TIMESTAMP,
    views_hash         VARCHAR
);
INSERT INTO sync_state (id) VALUES (1);

-- Soft-deleted run ids seen at the last sync, to notice a restore.
CREATE TABLE sync_deleted_runs (mlflow_run_id VARCHAR PRIMARY KEY);

CREATE TABLE sync_log (
    sync_no        INTEGER PRIMARY KEY,
    kind           VARCHAR NOT NULL,       -- full | incremental
    started_at     TIMESTAMP NOT NULL,
    seconds        DOUBLE NOT NULL,
    runs_read      INTEGER NOT NULL,
    rows_written   INTEGER NOT NULL,
    rows_removed   INTEGER NOT NULL,
    samples_written BIGINT NOT NULL,
    runs_ignored   INTEGER NOT NULL
);
