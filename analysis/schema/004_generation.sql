-- hwbench DuckDB mirror, schema version 4: the generate scenario (hwbench_mlflow/generation.py).
-- The shape (prompt and new tokens per sequence, the decoding), what the weights came as and what
-- executed, and the per-token metrics; latency_* and throughput_samples_per_s of a generate run
-- are end to end per generation and sequences per second, so every other reading works unchanged.
ALTER TABLE performance_results ADD COLUMN prompt_tokens INTEGER;
ALTER TABLE performance_results ADD COLUMN new_tokens INTEGER;
ALTER TABLE performance_results ADD COLUMN decoding VARCHAR;
ALTER TABLE performance_results ADD COLUMN weights_format VARCHAR;    -- e.g. gguf:Q4_1
ALTER TABLE performance_results ADD COLUMN weights_executed VARCHAR;  -- e.g. float32 (dequantized)
ALTER TABLE performance_results ADD COLUMN ttft_p50_ms DOUBLE;
ALTER TABLE performance_results ADD COLUMN ttft_p90_ms DOUBLE;
ALTER TABLE performance_results ADD COLUMN ttft_p99_ms DOUBLE;
ALTER TABLE performance_results ADD COLUMN ttft_mean_ms DOUBLE;
ALTER TABLE performance_results ADD COLUMN tpot_mean_ms DOUBLE;
ALTER TABLE performance_results ADD COLUMN itl_p50_ms DOUBLE;
ALTER TABLE performance_results ADD COLUMN itl_p90_ms DOUBLE;
ALTER TABLE performance_results ADD COLUMN itl_p99_ms DOUBLE;
ALTER TABLE performance_results ADD COLUMN prefill_tokens_per_s DOUBLE;
ALTER TABLE performance_results ADD COLUMN decode_tokens_per_s DOUBLE;
ALTER TABLE performance_results ADD COLUMN output_tokens_per_s DOUBLE;
ALTER TABLE performance_results ADD COLUMN kv_cache_mb DOUBLE;
ALTER TABLE performance_results ADD COLUMN tokens_generated DOUBLE;

-- Each generation's per-token clock (the run's raw_latencies_ms.json "token_times_ms"): when
-- token `token` (0 = the first new token) of generation `generation` was available, in ms after
-- that generation's call. TTFT = t_ms of token 0; every ITL = the difference of neighbours.
CREATE TABLE generation_token_times (
    mlflow_run_id VARCHAR NOT NULL,
    generation    INTEGER NOT NULL,
    token         INTEGER NOT NULL,
    t_ms          DOUBLE NOT NULL
);
