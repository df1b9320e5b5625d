-- hwbench DuckDB mirror, schema version 2: `hwbench search` parent runs are mirrored next
-- to sweeps (kind = 'search'), with their metrics (best batch size, best objective, memory
-- margin, trials used); the `searches` view (views.sql) gives them typed columns. The
-- search's trials are ordinary config runs in performance_results (sweep_id = the search's).
ALTER TABLE sweeps ADD COLUMN kind VARCHAR DEFAULT 'sweep';
ALTER TABLE sweeps ADD COLUMN metrics JSON;
