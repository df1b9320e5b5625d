"""The address of an experiment's runs table in the MLflow UI (``hwbench ui``).

MLflow 3 opens ``#/experiments/<id>`` on the GenAI view (``overview/usage?workflowType=genai``);
the machine-learning runs table, with the sweep parent run and its nested config runs, is
``#/experiments/<id>/runs?workflowType=machine_learning`` (the UI's "Model training" toggle).
tests/tracking/test_ui_browser.py opens this URL in Chromium and checks the table it shows.

A fresh runs table shows no param or metric column, and no URL parameter selects columns (the
URL state is only ``searchFilter``, ``orderByKey``, ``orderByAsc``, ``startTime``,
``lifecycleFilter``, ``modelVersionFilter``, ``datasetsFilter``). What does is a *saved view*:
the experiment tag ``mlflow.sharedViewState.<key>``, opened by the URL parameter
``viewStateShareKey=<key>`` (MLflow 3.17's JS bundle, mlflow/server/js/build/static/js); its
value is the envelope ``{"name", "createdAt", "updatedAt", "state"}`` whose ``state`` is the
JSON of the table's UI state (``selectedColumns``, ``columnOrder``, ``columnWidths``, ...).
``hwbench ui`` adds the view :data:`RUNS_VIEW_NAME` to the experiment (once: an existing tag is
left as it is) and opens it; in plain ``mlflow ui`` it is in the runs table's "Views" menu.
MLflow shows a "You're viewing a shared view" banner over it.

The store is read through :mod:`.reader` and tagged through :mod:`.connect`, which import
MLflow only inside their functions, so ``hwbench --help`` stays fast.
"""

from __future__ import annotations

import json
import time
from typing import Any

from ..names import M_LAT_P50, M_MEMORY_PEAK, M_THROUGHPUT
from .connect import ensure_experiment_tag
from .reader import experiment_id_for_ui

RUNS_VIEW = "machine_learning"  # MLflow 3's workflowType for the runs table (the other: "genai")
SHARED_VIEW_TAG_PREFIX = "mlflow.sharedViewState."  # MLflow UI: an experiment's saved views
RUNS_VIEW_KEY = "hwbench"
RUNS_VIEW_NAME = "hwbench benchmark"
RUN_NAME_COLUMN = "attributes.`Run Name`"
RUNS_VIEW_COLUMNS = (  # MLflow's column ids: `<params|metrics|tags|attributes>.`<key>``
    "params.`precision`",
    "params.`batch_size`",
    "params.`backend`",
    f"metrics.`{M_LAT_P50}`",
    f"metrics.`{M_THROUGHPUT}`",
    f"metrics.`{M_MEMORY_PEAK}`",
)


def runs_view_state() -> dict[str, Any]:
    """The runs table's UI state of :data:`RUNS_VIEW_NAME`: the config params and the headline
    metrics as columns, a name column wide enough for a whole config name (config.run_name).
    The UI applies ``columnWidths`` only to the columns ``columnOrder`` lists."""
    metric_widths = {M_LAT_P50: 140, M_THROUGHPUT: 200, M_MEMORY_PEAK: 150}  # the whole header
    return {
        "selectedColumns": list(RUNS_VIEW_COLUMNS),
        "columnOrder": [RUN_NAME_COLUMN, "runDateAndNestInfo", "duration", *RUNS_VIEW_COLUMNS],
        "columnWidths": {RUN_NAME_COLUMN: 380, **{f"metrics.`{k}`": w for k, w in metric_widths.items()}},
    }


def runs_view_tag_value(now_ms: int | None = None) -> str:
    """The tag value MLflow's "Views" menu reads: a named envelope around the JSON state."""
    created = int(time.time() * 1000) if now_ms is None else now_ms
    state = json.dumps(runs_view_state(), separators=(",", ":"))
    return json.dumps({"name": RUNS_VIEW_NAME, "createdAt": created, "updatedAt": created, "state": state})


def base_url(host: str, port: int) -> str:
    """``http://host:port`` as a browser reaches a server bound to ``host`` (a wildcard means this machine)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def runs_url(base: str, experiment_id: str | None, view_key: str | None = None) -> str:
    """The experiment's runs table (in the saved view ``view_key``, if given); the experiment
    list when there is no such experiment yet."""
    if experiment_id is None:
        return f"{base}/#/experiments"
    url = f"{base}/#/experiments/{experiment_id}/runs?workflowType={RUNS_VIEW}"
    return f"{url}&viewStateShareKey={view_key}" if view_key else url


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page in the classic (model training) view, not the GenAI one."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType={RUNS_VIEW}"


def experiment_id(tracking_uri: str, name: str | None) -> str | None:
    """The id of the active experiment ``name`` in the store; None when absent (a missing
    SQLite file stays missing: nothing is created). ``name`` None: the experiment of the
    newest sweep or search (``mlflow run`` puts them where its ``--experiment-name`` says),
    else ``hwbench``'s."""
    return experiment_id_for_ui(tracking_uri, name)


def ensure_runs_view(tracking_uri: str, experiment_id: str, client: Any = None) -> str | None:
    """Add the saved view :data:`RUNS_VIEW_NAME` to the experiment unless it has one by that key
    (a user may have changed it: kept); its key, or None where the store refuses the tag (a
    read-only server): then the plain runs table it is."""
    tag = SHARED_VIEW_TAG_PREFIX + RUNS_VIEW_KEY
    if not ensure_experiment_tag(tracking_uri, experiment_id, tag, runs_view_tag_value(), client):
        return None
    return RUNS_VIEW_KEY


def ui_url(tracking_uri: str, experiment: str | None, host: str, port: int) -> str:
    """What ``hwbench ui`` prints: the runs table of ``experiment`` on the UI at host:port, in
    hwbench's saved view (config params and headline metrics as columns)."""
    exp_id = experiment_id(tracking_uri, experiment)
    view = ensure_runs_view(tracking_uri, exp_id) if exp_id is not None else None
    return runs_url(base_url(host, port), exp_id, view)
