-- Seed 004's check of simulation status, unchanged: newest results first.
SELECT model_name, hardware_type, is_simulated, simulation_reason
FROM performance_results pr
JOIN models m ON pr.model_id = m.model_id
JOIN hardware_platforms hp ON pr.hardware_id = hp.hardware_id
ORDER BY pr.created_at DESC
LIMIT 10;
