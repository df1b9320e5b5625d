-- hwbench DuckDB mirror, schema version 5: how far a generation follows torch fp32's greedy tokens
-- for the same prompt (hwbench_mlflow/generation_reference.py).
ALTER TABLE performance_results ADD COLUMN first_token_agreement DOUBLE;   -- share of sequences, 0..1
ALTER TABLE performance_results ADD COLUMN agreeing_prefix_tokens DOUBLE;  -- fewest agreeing leading tokens
