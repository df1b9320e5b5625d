"""batch_search: the best batch size under limits (hwbench search)."""
