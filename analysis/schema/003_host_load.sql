-- hwbench DuckDB mirror, schema version 3: what else ran on the host during each config's
-- timed window (hwbench_mlflow/host_load.py): other processes' CPU as % of one core, steal
-- as % of all CPU time, the 1-minute load average at start and end, and the run's
-- hwbench.host_contended tag.
ALTER TABLE performance_results ADD COLUMN host_other_cpu_pct DOUBLE;
ALTER TABLE performance_results ADD COLUMN host_steal_pct DOUBLE;
ALTER TABLE performance_results ADD COLUMN host_loadavg_start DOUBLE;
ALTER TABLE performance_results ADD COLUMN host_loadavg_end DOUBLE;
ALTER TABLE performance_results ADD COLUMN host_contended BOOLEAN;
