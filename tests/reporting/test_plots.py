"""The plots read as an ML engineer needs them, drawn from a real DuckDB mirror (MLflow runs
with raw samples, synced): every configuration in the latency distributions (17 here, past
the old cap of 12, the winner among them), a log throughput axis when two models differ
> 10×, no SIMULATED in a title when nothing is simulated, the 95 % CI of the median as
error bars (values checked against the mirror's samples), and the batch of each "best"."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import numpy as np
import pytest
from matplotlib.container import ErrorbarContainer
from matplotlib.text import Annotation
from mlflow import MlflowClient

import hwbench_mlflow as hb
from hwbench_mlflow.measure import quantile_ci
from tests._util import log_synthetic_config

N_SAMPLES = 60
BATCHES = (1, 2, 4, 8, 16, 32, 64)
# (model, hardware, backend, device) → throughput by batch; bert-tiny is ~100× faster than resnet
CURVES = {
    ("bert-tiny", "cpu", "torch", "cpu"): {b: 100.0 * b / (1 + b / 8) for b in BATCHES},
    ("bert-tiny", "openvino", "openvino", "CPU"): {b: 150.0 * b / (1 + b / 32) for b in BATCHES},
    ("resnet", "cpu", "torch", "cpu"): {1: 3.0, 2: 5.0, 4: 6.0},
}
N_CONFIGS = sum(len(c) for c in CURVES.values())  # 17


def _log_config(client: MlflowClient, exp_id: str, key: tuple[str, str, str, str], batch: int, thr: float) -> None:
    seed = batch * 7 + len(key[1]) + len(key[0])
    log_synthetic_config(client, exp_id, key, batch, thr, samples=N_SAMPLES, spread=0.05, seed=seed)


def wide_mirror(d) -> str:
    """CURVES logged to MLflow with raw samples and synced into ``d/hwbench.duckdb``; the URI."""
    uri = f"sqlite:///{d}/mlflow.db"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("hwbench", artifact_location=(d / "artifacts").as_uri())
    for key, curve in CURVES.items():
        for batch, thr in curve.items():
            _log_config(client, exp_id, key, batch, thr)
    report = hb.sync(uri, d / "hwbench.duckdb")
    assert report.samples_written == N_CONFIGS * N_SAMPLES
    return uri


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    d = tmp_path_factory.mktemp("plots")
    wide_mirror(d)
    return d / "hwbench.duckdb"


@pytest.fixture(scope="module")
def plots(db):
    from hwbench_mlflow.reporting.plots import all_plots

    out = {p.name: p for p in all_plots(db)}
    yield out
    import matplotlib.pyplot as plt

    for p in out.values():
        plt.close(p.figure)


def _truth(db, model: str, hw: str, batch: int) -> tuple[float, float, float, float]:
    """(throughput, p50, CI low, CI high) of one config, straight from the mirror's samples."""
    row = hb.sql(
        "SELECT mlflow_run_id, throughput_samples_per_s, latency_p50_ms FROM latest_results"
        f" WHERE model = '{model}' AND hardware = '{hw}' AND batch_size = {batch}",
        db,
    ).iloc[0]
    s = np.sort(
        hb.sql(
            f"SELECT latency_ms FROM latency_samples WHERE mlflow_run_id = '{row.mlflow_run_id}'", db
        ).latency_ms.to_numpy()
    )
    lo, hi = quantile_ci(s, 0.5)
    return float(row.throughput_samples_per_s), float(row.latency_p50_ms), lo, hi


def test_latency_distributions_draws_every_config_past_twelve(plots):
    p = plots["latency_distributions"]
    boxes = [t for t in p.interactive.data if t.type == "box"]
    assert len(boxes) == N_CONFIGS > 12
    names = {t.name for t in boxes}
    assert "bert-tiny openvino/openvino/fp32 b64 (n=60)" in names  # the throughput winner, once dropped
    assert "resnet cpu/torch/fp32 b4 (n=60)" in names
    panels = [ax for ax in p.figure.axes if ax.get_yticklabels()]
    assert [ax.get_title(loc="left") for ax in panels] == ["bert-tiny", "resnet"]  # one panel per model
    assert sum(len(ax.get_yticklabels()) for ax in panels) == N_CONFIGS
    assert [len(ax.get_yticklabels()) for ax in panels] == [14, 3]


def test_latency_distributions_names_what_it_cannot_draw(db):
    from hwbench_mlflow.reporting.comparative import _latest, samples_by_run
    from hwbench_mlflow.reporting.plots import latency_distributions

    frame = _latest(db, None, None)
    samples = samples_by_run(db, list(frame["mlflow_run_id"]))
    gone = frame.loc[(frame["model"] == "resnet") & (frame["batch_size"] == 2), "mlflow_run_id"].iloc[0]
    del samples[gone]
    p = latency_distributions(frame, samples)
    assert len([t for t in p.interactive.data if t.type == "box"]) == N_CONFIGS - 1
    footer = p.figure.get_supxlabel()
    assert footer == "not drawn (1):\nmeasured, no samples in the mirror (1): resnet cpu/torch/fp32 b2"


def test_throughput_axis_is_log_when_models_differ_tenfold(db, plots):
    from hwbench_mlflow.reporting.plots import all_plots

    p = plots["throughput_vs_batch"]
    assert p.figure.axes[0].get_yscale() == "log" and p.interactive.layout.yaxis.type == "log"
    assert p.figure.axes[0].get_ylabel().endswith("(log scale)")
    assert plots["precision_comparison"].figure.axes[0].get_yscale() == "log"  # resnet's bars too
    # one model only (cpu vs openvino within 10×): linear
    one = next(q for q in all_plots(db, ["bert-tiny"]) if q.name == "throughput_vs_batch")
    assert one.figure.axes[0].get_yscale() == "linear" and one.interactive.layout.yaxis.type == "linear"


def test_no_simulated_in_titles_when_nothing_is_simulated(plots):
    for p in plots.values():
        texts = [p.title, str(p.interactive.layout.title.text)]
        for ax in p.figure.axes:
            texts += [ax.get_title(loc=k) for k in ("left", "center", "right")] + [t.get_text() for t in ax.texts]
            if ax.get_legend():
                texts += [t.get_text() for t in ax.get_legend().get_texts()]
        texts.append(p.figure.get_suptitle())
        assert not any("SIMULATED" in t or "SIM " in t or t.endswith("SIM") for t in texts), (p.name, texts)


def test_error_bars_are_the_median_ci(db, plots):
    thr, p50, lo, hi = _truth(db, "bert-tiny", "cpu", 4)
    # throughput: the p50 CI turned into samples/s, on every series, in both renderings
    p = plots["throughput_vs_batch"]
    bars = [c for c in p.figure.axes[0].containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == len(CURVES)
    trace = next(t for t in p.interactive.data if t.name == "bert-tiny cpu/torch/fp32")
    i = list(trace.x).index(4)
    assert trace.error_y.arrayminus[i] == pytest.approx(thr - thr * p50 / hi)
    assert trace.error_y.array[i] == pytest.approx(thr * p50 / lo - thr)
    assert trace.error_y.array[i] > 0 and trace.error_y.arrayminus[i] > 0
    assert "95 % CI of the median" in str(p.interactive.layout.title.text)
    # latency boxes: the CI of each median itself
    lat = plots["latency_distributions"]
    ci = next(t for t in lat.interactive.data if t.type == "scatter")
    j = list(ci.y).index("bert-tiny cpu/torch/fp32 b4 (n=60)")
    assert ci.x[j] - ci.error_x.arrayminus[j] == pytest.approx(lo)
    assert ci.x[j] + ci.error_x.array[j] == pytest.approx(hi)
    assert sum(isinstance(c, ErrorbarContainer) for ax in lat.figure.axes for c in ax.containers) == len(
        {k[0] for k in CURVES}
    )
    # precision bars
    prec = plots["precision_comparison"]
    assert any(isinstance(c, ErrorbarContainer) for c in prec.figure.axes[0].containers)
    assert all(t.error_y.array is not None for t in prec.interactive.data)


def test_best_of_each_says_which_batch(plots):
    prec = plots["precision_comparison"]
    labels = sorted(t.get_text() for t in prec.figure.axes[0].texts if isinstance(t, Annotation))  # bar_label
    assert labels == ["b4", "b64", "b64"]  # resnet saturates at 4; both bert-tiny curves still rise at 64
    assert sorted(x for t in prec.interactive.data for x in t.text) == ["b4", "b64", "b64"]
    heat = plots["platform_model_heatmap"].interactive.data[0]
    cells = {(m, pl): heat.text[i][j] for i, m in enumerate(heat.y) for j, pl in enumerate(heat.x)}
    assert cells[("resnet", "cpu/torch")].startswith("6<br>b4 ±")
    assert cells[("bert-tiny", "openvino/openvino")].split("<br>")[1].startswith("b64 ±")
    assert cells[("resnet", "openvino/openvino")] == "not measured"


def test_write_gives_one_png_per_plot_and_offline_html(plots, tmp_path):
    """write() still gives one PNG per plot and one offline plots.html."""
    import matplotlib.image as mpimg

    from hwbench_mlflow.reporting.plots import write

    paths = write(list(plots.values()), tmp_path)
    assert [p.name for p in paths] == [f"{n}.png" for n in plots] + ["plots.html"]
    for path in paths[:-1]:
        image = mpimg.imread(path)
        assert image.shape[0] > 300 and image.std() > 0.01
