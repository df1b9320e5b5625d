"""The MLflow UI, seen in a real browser: ``hwbench ui`` over a store holding a real sweep,
opened in Debian's Chromium through playwright (no browser download: /usr/bin/chromium).

The page at the URL ``hwbench ui`` prints must be the runs table in hwbench's saved view: the
sweep parent run, its nested config runs once expanded, whole config names (precision and batch
first), and param and metric columns, without a click on "Columns", whose cells hold the logged
values. HWBENCH_UI_SCREENSHOT=path also writes the screenshot there (how docs/ui-runs.png is made).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from hwbench_mlflow import names as N
from hwbench_mlflow.browsers import BASE_FLAGS
from hwbench_mlflow.tracking.ui_url import (
    RUNS_VIEW_KEY,
    RUNS_VIEW_NAME,
    SHARED_VIEW_TAG_PREFIX,
    base_url,
    runs_url,
    runs_view_state,
)
from tests._servers import free_port
from tests._util import FAST, clean_env, run_cli

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [*BASE_FLAGS, "--disable-gpu"]
VIEWPORT = {"width": 1800, "height": 900}
METRICS = (N.M_LAT_P50, N.M_THROUGHPUT, N.M_MEMORY_PEAK)
PARAMS = ("precision", "batch_size", "backend")
CHILDREN = ("fp32 b1 · cpu/torch · bert-tiny · inference", "fp32 b2 · cpu/torch · bert-tiny · inference")
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"

if not os.access(CHROMIUM, os.X_OK):
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium)", allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright not installed (requirements-dev.txt)")


def _start_ui(uri: str, port: int, cwd: Path) -> tuple[subprocess.Popen[str], str]:
    """``hwbench ui`` in its own session (it execs mlflow, which starts uvicorn): the URL it prints."""
    with (cwd / "ui.log").open("w") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "hwbench_mlflow",
                "ui",
                "--tracking-uri",
                uri,
                "--port",
                str(port),
                "--workers",
                "1",
            ],
            cwd=cwd,
            env=clean_env(MLFLOW_DISABLE_TELEMETRY="true", DO_NOT_TRACK="true"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
            start_new_session=True,
        )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def _stop(proc: subprocess.Popen[str]) -> None:
    for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(wait_s)
            return
        except subprocess.TimeoutExpired:
            continue


def _wait_healthy(base: str, proc: subprocess.Popen[str], log: Path, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"hwbench ui exited {proc.returncode}: {log.read_text()[-2000:]}"
        try:
            if requests.get(f"{base}/health", timeout=2).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError(f"MLflow UI not healthy after {timeout_s:.0f} s: {log.read_text()[-2000:]}")


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == PNG_SIGNATURE, data[:8]
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def _print_url(uri: str, port: int) -> str:
    """``hwbench ui --print-url``, in process (mlflow is already imported here)."""
    from click.testing import CliRunner

    from hwbench_mlflow.cli.app import cli

    result = CliRunner().invoke(cli, ["ui", "--tracking-uri", uri, "--port", str(port), "--print-url"])
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


def test_runs_page_shows_sweep_children_and_metrics(tmp_path: Path) -> None:
    from mlflow import MlflowClient

    db = tmp_path / "mlflow.db"
    uri = f"sqlite:///{db}"
    port = free_port()
    base = base_url("127.0.0.1", port)
    assert _print_url(uri, port) == f"{base}/#/experiments"  # no store yet: the experiment list ...
    assert not db.exists()  # ... and asking created nothing

    # The experiment first, so that the UI (which starts slowly) comes up while the sweep runs.
    exp_id = MlflowClient(uri).create_experiment(N.DEFAULT_EXPERIMENT)
    expected_url = runs_url(base, exp_id, RUNS_VIEW_KEY)
    assert expected_url == (
        f"http://127.0.0.1:{port}/#/experiments/{exp_id}/runs?workflowType=machine_learning&viewStateShareKey=hwbench"
    )
    assert _print_url(uri, port) == expected_url
    # ... which added the saved view it names to the experiment, as MLflow's "Views" menu reads it
    tag = MlflowClient(uri).get_experiment(exp_id).tags[SHARED_VIEW_TAG_PREFIX + RUNS_VIEW_KEY]
    view = json.loads(tag)
    assert view["name"] == RUNS_VIEW_NAME and json.loads(view["state"]) == runs_view_state()
    assert _print_url(uri, port) == expected_url  # once: a second ask keeps the view as it is
    assert MlflowClient(uri).get_experiment(exp_id).tags[SHARED_VIEW_TAG_PREFIX + RUNS_VIEW_KEY] == tag

    server, url = _start_ui(uri, port, tmp_path)
    try:
        assert url == expected_url, (tmp_path / "ui.log").read_text()[-2000:]
        sweep = ["run", "--model", "bert-tiny", "--hardware", "cpu", "--batch-sizes", "1,2"]
        proc = run_cli([*sweep, "--tracking-uri", uri, "--no-db", *FAST], tmp_path, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]

        runs = MlflowClient(uri).search_runs([exp_id])
        parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
        children = {r.info.run_name: r for r in runs if "mlflow.parentRunId" in r.data.tags}
        assert len(parents) == 1 and sorted(children) == sorted(CHILDREN), [r.info.run_name for r in runs]
        parent = parents[0]
        assert {r.data.tags["mlflow.parentRunId"] for r in children.values()} == {parent.info.run_id}

        _wait_healthy(base, server, tmp_path / "ui.log")
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            try:
                page = browser.new_page(viewport=VIEWPORT)
                page.set_default_timeout(30_000)
                page.goto(url, wait_until="commit")
                shot = _check_runs_page(page, parent, children, tmp_path)
            finally:
                browser.close()
    finally:
        _stop(server)

    data = shot.read_bytes()
    assert len(data) > 20_000, len(data)
    assert _png_size(data) == (VIEWPORT["width"], VIEWPORT["height"])
    if target := os.environ.get("HWBENCH_UI_SCREENSHOT"):
        shutil.copyfile(shot, target)


def _check_runs_page(page: Any, parent: Any, children: dict[str, Any], tmp_path: Path) -> Path:
    """Runs table of the ML view in hwbench's saved view: parent listed, children after expanding
    it with their whole names, param and metric columns (no click on "Columns") with the values."""
    parent_row = page.locator(f'.ag-center-cols-container .ag-row[row-id="{parent.info.run_id}"]')
    page.get_by_text(parent.info.run_name, exact=True).wait_for()
    assert "/runs" in page.url and "workflowType=machine_learning" in page.url, page.url
    assert f"viewStateShareKey={RUNS_VIEW_KEY}" in page.url, page.url
    for name in CHILDREN:  # nested: hidden until the parent row is expanded
        assert page.get_by_text(name, exact=True).count() == 0
    name_cell = f'.ag-pinned-left-cols-container .ag-row[row-id="{parent.info.run_id}"] .ag-cell[col-id^="attributes"]'
    page.locator(f"{name_cell} button").first.click()
    for name in CHILDREN:
        page.get_by_text(name, exact=True).wait_for()

    close = page.locator('button[data-component-id="mlflow.assistant.chat_panel.close"]')
    if close.count():  # the assistant side panel covers the right of the table
        close.first.click()
    page.get_by_text(RUNS_VIEW_NAME, exact=True).wait_for()  # the "Views" menu names the view open
    columns = [f"params.`{p}`" for p in PARAMS] + [f"metrics.`{m}`" for m in METRICS]
    for col_id in columns:  # the view's columns, without a click on "Columns"
        page.locator(f'.ag-header-cell[col-id="{col_id}"]').wait_for()
    left = {c: page.locator(f'.ag-header-cell[col-id="{c}"]').bounding_box()["x"] for c in columns}
    assert sorted(columns, key=left.__getitem__) == columns, left  # in the view's order (the DOM's is not)
    for col_id, key in zip(columns, (*PARAMS, *METRICS), strict=True):
        assert page.locator(f'.ag-header-cell[col-id="{col_id}"]').inner_text().strip() == key

    def cell(run_id: str, col_id: str) -> str:
        row = page.locator(f'.ag-center-cols-container .ag-row[row-id="{run_id}"]')
        return row.locator(f'.ag-cell[col-id="{col_id}"]').inner_text().strip()

    for name, run in children.items():
        # the whole name shows: no part of it is cut off by the name column (precision and batch first)
        link = page.locator(".ag-pinned-left-cols-container").get_by_text(name, exact=True)
        clipped = link.evaluate(
            """el => { const out = [];
                for (let e = el; e && !e.classList.contains('ag-row'); e = e.parentElement)
                    if (e.scrollWidth > e.clientWidth + 1) out.push(e.className || e.tagName);
                return out; }"""
        )
        assert clipped == [], (name, clipped)
        for key in PARAMS:
            assert cell(run.info.run_id, f"params.`{key}`") == run.data.params[key], (name, key)
        assert (cell(run.info.run_id, "params.`precision`"), cell(run.info.run_id, "params.`batch_size`")) == (
            name.split()[0],
            name.split()[1][1:],
        )
    for metric in METRICS:
        assert cell(parent.info.run_id, f"metrics.`{metric}`") == "-"  # the sweep run logs no config metrics
        for name, run in children.items():
            shown, logged = cell(run.info.run_id, f"metrics.`{metric}`"), run.data.metrics[metric]
            assert logged > 0 and float(shown) == pytest.approx(logged, rel=1e-9), (name, metric, shown, logged)
    assert parent_row.count() == 1
    page.wait_for_timeout(500)  # let the table settle before the screenshot
    shot = tmp_path / "ui-runs.png"
    page.screenshot(path=str(shot))
    return shot
