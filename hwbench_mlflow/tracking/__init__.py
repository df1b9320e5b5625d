"""tracking: the only MLflow callers. ``uri`` (which store, its checks), ``connect`` (clients,
experiments, the sqlite lock), ``sweep`` (``SweepTracker``: a sweep's parent and child runs),
``records`` (single runs: outputs, sync reports, the outbox replay), ``reader`` (``RunReader``:
what MLflow holds), ``outbox`` (runs kept on disk while the store is down), ``orphans``,
``ui_url`` (links into the MLflow UI)."""
