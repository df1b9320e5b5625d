"""hwbench visualize / report on a mirror holding measured and simulated rows: valid images
logged to MLflow, simulated data marked in every plot, and one self-contained HTML report
that says which platforms were not measured and why."""

from __future__ import annotations

import base64
import io
import re

import matplotlib.image as mpimg
import pytest
from mlflow import MlflowClient

import hwbench_mlflow as hb
from hwbench_mlflow import names as N
from tests._util import run_cli
from tests.reporting.test_compare import build_mirror
from tests.reporting.test_recommend import ROWS

PLOTS = (
    "throughput_vs_batch",
    "latency_distributions",
    "memory_vs_batch",
    "platform_model_heatmap",
    "precision_comparison",
)


@pytest.fixture(scope="module")
def mirror(tmp_path_factory):
    d = tmp_path_factory.mktemp("report")
    uri = build_mirror(d, [ROWS[3]])  # + a simulated cuda result
    proc = run_cli(["hardware", "--db-path", str(d / "hwbench.duckdb")], d, 120)  # the availability log
    assert proc.returncode == 0, proc.stderr
    return d, uri


def test_visualize_logs_valid_images_to_mlflow(mirror):
    d, uri = mirror
    proc = run_cli(
        ["visualize", "--db-path", str(d / "hwbench.duckdb"), "--output-dir", "plots", "--memory-limit", "305"], d, 180
    )
    assert proc.returncode == 0, proc.stderr
    for name in PLOTS:
        image = mpimg.imread(d / "plots" / f"{name}.png")
        assert image.ndim == 3 and image.shape[0] > 200 and image.shape[1] > 400
        assert image.std() > 0.01  # not a blank canvas
    html = (d / "plots" / "plots.html").read_text()
    assert html.count("plotly-graph-div") >= len(PLOTS) and "SIMULATED" in html
    run_id = proc.stderr.split("logged to MLflow: run ")[1].split()[0]
    client = MlflowClient(uri)
    assert client.get_run(run_id).data.tags[N.T_ROLE] == "report"
    logged = {a.path for a in client.list_artifacts(run_id, "plots")}
    assert logged == {f"plots/{n}.png" for n in PLOTS} | {"plots/plots.html"}
    # a report run is not data: the next sync ignores it
    report = hb.sync(uri, d / "hwbench.duckdb")
    assert report.rows_written == 0


def test_simulated_is_marked_in_the_plots():
    import pandas as pd

    from hwbench_mlflow.reporting.plots import platform_model_heatmap, precision_comparison, throughput_vs_batch

    columns = ["model", "hardware", "device", "precision", "throughput_samples_per_s", "is_simulated"]
    rows = [("m", "cpu", "cpu", "fp32", 10.0, False), ("m", "cuda", "cuda:0", "fp16", 99.0, True)]
    rows.append(("n", "cpu", "cpu", "fp32", 5.0, False))
    frame = pd.DataFrame(rows, columns=columns).assign(backend="torch", scenario="latency", batch_size=1)
    heat = platform_model_heatmap(frame).interactive.data[0]
    assert list(heat.text[0]) == ["10<br>b1", "99 SIM<br>b1"] and list(heat.text[1]) == ["5<br>b1", "not measured"]
    names = [t.name for t in throughput_vs_batch(frame).interactive.data]
    assert "m cuda/torch/fp16 (SIMULATED)" in names and "m cpu/torch/fp32" in names
    # the titles say so, because there is simulated data; without it, they do not
    assert throughput_vs_batch(frame).title == "Throughput vs batch size (dashed = SIMULATED)"
    assert "SIM = simulated" in platform_model_heatmap(frame).title
    measured = frame[~frame["is_simulated"]]
    assert throughput_vs_batch(measured).title == "Throughput vs batch size"
    assert "SIM" not in platform_model_heatmap(measured).title
    assert "SIMULATED" not in str(throughput_vs_batch(measured).interactive.layout.title.text)
    dashed = {t.name: t.line.dash for t in throughput_vs_batch(frame).interactive.data}
    assert dashed["m cuda/torch/fp16 (SIMULATED)"] == "dash" and dashed["m cpu/torch/fp32"] == "solid"
    bars = {t.name: t.marker.pattern.shape for t in precision_comparison(frame).interactive.data}
    assert bars == {"fp16 (SIMULATED)": "/", "fp32": ""}


def test_report_is_one_self_contained_page(mirror):
    d, _ = mirror
    proc = run_cli(["report", "--db-path", str(d / "hwbench.duckdb"), "--output", "r.html", "--no-log"], d, 180)
    assert proc.returncode == 0, proc.stderr
    html = (d / "r.html").read_text()
    assert "<script src=" not in html and "http://" not in html.replace("http://www.w3.org", "")
    images = html.split("data:image/png;base64,")[1:]
    assert len(images) == len(PLOTS)
    for chunk in images:
        png = base64.b64decode(chunk.split("'")[0])
        assert mpimg.imread(io.BytesIO(png), format="png").ndim == 3
    assert "1 SIMULATED result(s)" in html
    not_measured = html.split("<h2>Not measured</h2>")[1].split("<h2>")[0]
    assert "cuda on " in not_measured and "unavailable:" in not_measured  # no GPU here: said, with the reason
    assert "<h2>Recommendations</h2>" in html and "best_throughput" in html
    assert "<h2>Hardware availability</h2>" in html
    # integers as integers: batch sizes, samples, MB (the mirror's cpu b8 run peaked at 308 MB)
    configs = html.split("<h2>All configurations</h2>")[1]
    assert "<td>8</td>" in configs and "<td>308</td>" in configs and "<td>5000</td>" in configs
    recs = html.split("<h2>Recommendations</h2>")[1].split("<h2>")[0]
    assert "<td>200</td>" in recs and "<td>301</td>" in recs  # samples; best_memory's value, MB
    assert not re.findall(r"<td>-?\d+\.0</td>", html) and "8.0<" not in html and "308.0" not in html
    # sentences wrap in a readable width instead of one letter per line
    assert "td.long{white-space:normal;min-width:22em" in html
    assert "<td class='t long'>a simulated result (cuda/torch/fp16/b32" in recs


def test_report_bad_output(mirror):
    d, _ = mirror
    proc = run_cli(["report", "--db-path", str(d / "hwbench.duckdb"), "--output", "r.txt"], d, 60)
    assert proc.returncode == 2
    assert proc.stderr.strip() == "hwbench: error: --output: the report is HTML; name a .html file, got 'r.txt'"
