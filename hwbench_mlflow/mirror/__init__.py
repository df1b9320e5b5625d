"""mirror: the DuckDB copy of the MLflow runs, and its only writer. ``files`` (opening the
file, locks), ``schema`` (numbered migrations, views, the Arrow types read from the tables),
``store`` (``MirrorStore``: transactions, rows keyed by run id), ``loader`` and ``samples``
(what a run's artifacts become), ``sync`` (MLflow → DuckDB), ``query`` (read-only SQL and
exports for users)."""
