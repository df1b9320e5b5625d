"""The address of an experiment's runs table in the MLflow UI (``hwbench ui``).

MLflow 3 opens ``#/experiments/<id>`` on the GenAI view (``overview/usage?workflowType=genai``);
the machine-learning runs table, with the sweep parent run and its nested config runs, is
``#/experiments/<id>/runs?workflowType=machine_learning`` (the UI's "Model training" toggle).
tests/test_ui_browser.py opens this URL in Chromium and checks the table it shows.

mlflow is imported only inside :func:`experiment_id`, so ``hwbench --help`` stays fast.
"""

from __future__ import annotations

from pathlib import Path

RUNS_VIEW = "machine_learning"  # MLflow 3's workflowType for the runs table (the other: "genai")


def base_url(host: str, port: int) -> str:
    """``http://host:port`` as a browser reaches a server bound to ``host`` (a wildcard means this machine)."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    return f"http://{host}:{port}"


def runs_url(base: str, experiment_id: str | None) -> str:
    """The experiment's runs table; the experiment list when there is no such experiment yet."""
    if experiment_id is None:
        return f"{base}/#/experiments"
    return f"{base}/#/experiments/{experiment_id}/runs?workflowType={RUNS_VIEW}"


def run_url(base: str, experiment_id: str, run_id: str) -> str:
    """One run's page in the classic (model training) view, not the GenAI one."""
    return f"{base}/#/experiments/{experiment_id}/runs/{run_id}?workflowType={RUNS_VIEW}"


def experiment_id(tracking_uri: str, name: str | None) -> str | None:
    """The id of the active experiment ``name`` in the store; None when absent (a missing
    SQLite file stays missing: nothing is created). ``name`` None: the experiment of the
    newest sweep or search (``mlflow run`` puts them where its ``--experiment-name`` says),
    else ``hwbench``'s."""
    if tracking_uri.startswith("sqlite:///"):
        path = tracking_uri[len("sqlite:///") :].split("?", 1)[0]
        if not Path(path).is_file():
            return None
    from mlflow import MlflowClient

    from .names import DEFAULT_EXPERIMENT, T_ROLE

    client = MlflowClient(tracking_uri)
    if name is None:
        exps = [e.experiment_id for e in client.search_experiments(max_results=1000)]
        newest = [
            run
            for role in ("sweep", "search")  # MLflow's filter has no IN for tags
            for run in client.search_runs(
                exps, f"tags.`{T_ROLE}` = '{role}'", max_results=1, order_by=["attributes.start_time DESC"]
            )
        ]
        if newest:
            return str(max(newest, key=lambda r: r.info.start_time).info.experiment_id)
        name = DEFAULT_EXPERIMENT
    exp = client.get_experiment_by_name(name)
    if exp is None or exp.lifecycle_stage != "active":
        return None
    return str(exp.experiment_id)


def ui_url(tracking_uri: str, experiment: str | None, host: str, port: int) -> str:
    """What ``hwbench ui`` prints: the runs table of ``experiment`` on the UI at host:port."""
    return runs_url(base_url(host, port), experiment_id(tracking_uri, experiment))
