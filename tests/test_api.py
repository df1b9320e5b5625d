"""The public API: real functions with their own signatures, nothing heavy imported until used."""

from __future__ import annotations

import inspect
import subprocess
import sys
from pathlib import Path

import pytest

import hwbench_mlflow as hb
from tests._util import log_synthetic_config


def test_every_public_name_is_the_real_function_with_its_signature() -> None:
    params = inspect.signature(hb.run_benchmark).parameters
    assert {"model", "batch_sizes", "precision", "settings", "tracking_uri", "db_path"} <= set(params)
    assert "memory_limit_mb" in inspect.signature(hb.search).parameters
    assert list(inspect.signature(hb.compare).parameters)[:2] == ["db_path", "baseline"]
    for name in hb.__all__:
        value = getattr(hb, name)
        assert value.__doc__, name  # help(hb.NAME) says something
        if inspect.isfunction(value):
            assert "args" not in inspect.signature(value).parameters, name  # no *args forwarding wrapper
    assert set(hb.__all__) <= set(dir(hb))


def _signature_line(name: str) -> str:
    """``hb.NAME(a, b="x", *, c)``: the form of the README's API table (None defaults unsaid)."""
    parts, keyword_only = [], False
    for p in inspect.signature(getattr(hb, name)).parameters.values():
        if p.kind is p.KEYWORD_ONLY and not keyword_only:
            parts.append("*")
            keyword_only = True
        default = "" if p.default is p.empty or p.default is None else "=" + repr(p.default).replace("'", '"')
        parts.append(p.name + default)
    return f"hb.{name}({', '.join(parts)})"


def test_the_readme_lists_every_public_function_with_its_signature() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for name in hb.__all__:
        if inspect.isfunction(getattr(hb, name)):
            assert f"| `{_signature_line(name)}` |" in readme, f"README's API table: {_signature_line(name)}"
    assert "| `hb.detect_hardware()` |" in readme


def test_no_subpackage_shadows_a_public_name() -> None:
    """Importing a subpackage sets it as the package's attribute, over a lazy API name of the same name."""
    import pkgutil

    submodules = {m.name for m in pkgutil.iter_modules(hb.__path__)}
    assert "batch_search" in submodules and "runner" in submodules
    assert not submodules & set(hb.__all__)
    import hwbench_mlflow.batch_search.study  # noqa: F401  (a submodule imported first, as in a long session)

    assert inspect.isfunction(hb.search) and hb.search.__name__ == "run_search"


def test_import_is_light() -> None:
    code = "import sys, hwbench_mlflow; print(sorted(m for m in ('torch', 'mlflow', 'duckdb') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stderr


def test_reporting_entries_have_their_own_signatures() -> None:
    assert list(inspect.signature(hb.plots).parameters) == ["db_path", "output_dir", "models", "memory_limit_mb"]
    assert {"output", "models", "prices", "plots_dir"} <= set(inspect.signature(hb.report).parameters)
    assert {"models", "category", "hardware", "db_path", "tracking_uri", "history"} == set(
        inspect.signature(hb.matrix).parameters
    )
    assert list(inspect.signature(hb.publish_table).parameters)[:3] == ["frame", "name", "columns"]
    assert list(inspect.signature(hb.publish_files).parameters)[:2] == ["paths", "note"]


@pytest.fixture(scope="module")
def mirror(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """Six synthetic config runs (2 backends × 3 batches) in MLflow, synced into a mirror."""
    from mlflow import MlflowClient

    d = tmp_path_factory.mktemp("api")
    uri = f"sqlite:///{d}/mlflow.db"
    client = MlflowClient(uri)
    exp_id = client.create_experiment("hwbench", artifact_location=(d / "artifacts").as_uri())
    for i, (config, batch) in enumerate(
        (c, b)
        for c in (("bert-tiny", "cpu", "torch", "cpu"), ("bert-tiny", "cpu", "onnxruntime", "cpu"))
        for b in (1, 2, 4)
    ):
        log_synthetic_config(client, exp_id, config, batch, 100.0 * batch, samples=30, spread=0.05, seed=i)
    hb.sync(uri, d / "hwbench.duckdb")
    return d / "hwbench.duckdb", uri


def test_plots_draws_every_plot_into_a_folder(mirror: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = mirror
    paths = hb.plots(db, tmp_path / "plots", memory_limit_mb=500)
    assert [p.name for p in paths] == [
        "throughput_vs_batch.png",
        "latency_distributions.png",
        "memory_vs_batch.png",
        "platform_model_heatmap.png",
        "precision_comparison.png",
        "plots.html",
    ]
    assert all(p.parent == tmp_path / "plots" and p.stat().st_size > 1000 for p in paths)
    with pytest.raises(hb.BadInputError, match=r"^memory_limit_mb must be a number > 0, got -1$") as err:
        hb.plots(db, tmp_path / "x", memory_limit_mb=-1)
    assert err.value.param == "memory_limit_mb"


def test_report_writes_the_html(mirror: tuple[Path, str], tmp_path: Path) -> None:
    db, _ = mirror
    assert hb.report(db, tmp_path / "r.html") == [tmp_path / "r.html"]
    html = (tmp_path / "r.html").read_text()
    assert html.startswith("<!doctype html>") and html.count("data:image/png;base64,") == 5
    kept = hb.report(db, tmp_path / "k.html", plots_dir=tmp_path / "p")
    assert [p.name for p in kept][-2:] == ["plots.html", "k.html"] and len(kept) == 7
    with pytest.raises(hb.BadInputError, match=r"^output: the report is HTML") as err:
        hb.report(db, tmp_path / "r.txt")
    assert err.value.param == "output"


def test_matrix_is_a_frame_with_the_last_status(mirror: tuple[Path, str]) -> None:
    from hwbench_mlflow import names as N
    from hwbench_mlflow.reporting.matrix import MATRIX_COLUMNS

    db, _ = mirror
    frame = hb.matrix(["bert-tiny"], hardware=["cpu"], db_path=db)
    assert list(frame.columns) == list(MATRIX_COLUMNS)
    backends = frame["backend"].nunique()
    assert len(frame) == backends * len(N.PRECISIONS) * len(N.MODES)
    seen = frame[(frame["backend"] == "torch") & (frame["precision"] == "fp32") & (frame["mode"] == "inference")]
    assert seen["last_status"].tolist() == ["success"]
    assert (hb.matrix(["bert-tiny"], hardware=["cpu"], db_path=db, history=False)["last_status"] == "").all()


def test_publish_logs_a_table_and_files(mirror: tuple[Path, str], tmp_path: Path) -> None:
    from mlflow import MlflowClient

    from hwbench_mlflow.reporting.comparative import SUMMARY_COLUMNS

    db, uri = mirror
    frame = hb.analyze(db)
    assert len(frame) == 6
    run_id = hb.publish_table(frame, "analysis", SUMMARY_COLUMNS, db_path=db, params={"baseline": "cpu/torch/fp32"})
    client = MlflowClient(uri)  # the store the mirror syncs from
    run = client.get_run(run_id)
    assert run.data.params == {"db_path": str(db), "baseline": "cpu/torch/fp32"}
    assert {a.path for a in client.list_artifacts(run_id)} >= {"analysis.csv", "analysis.md"}
    md = (Path(client.download_artifacts(run_id, "analysis.md", str(tmp_path)))).read_text().splitlines()
    assert md[0] == "| " + " | ".join(SUMMARY_COLUMNS) + " |" and len(md) == 2 + 6
    (tmp_path / "a.png").write_bytes(b"png")
    (tmp_path / "r.html").write_text("<html></html>")
    run_id = hb.publish_files([tmp_path / "a.png", tmp_path / "r.html"], "two files", db_path=db)
    assert {a.path for a in client.list_artifacts(run_id)} >= {"plots", "r.html"}
    assert [a.path for a in client.list_artifacts(run_id, "plots")] == ["plots/a.png"]
