"""The package's boundaries: only ``tracking/`` talks to MLflow, only ``mirror/`` opens DuckDB
files (matrix, ui_url and freshness ask them); imports go from a higher stage to a lower one
only, and never round in a cycle.

The reads run against a real SQLite MLflow store in a temporary directory."""

from __future__ import annotations

import ast
import json
import time
from pathlib import Path

import pytest

from hwbench_mlflow import names as N
from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.tracking.connect import ensure_experiment_tag
from hwbench_mlflow.tracking.reader import config_runs_ended_since, experiment_id_for_ui, last_config_statuses

PACKAGE = Path(__file__).resolve().parent.parent / "hwbench_mlflow"
MLFLOW_FOLDER = "tracking/"  # the only MLflow callers
DUCKDB_FOLDER = "mirror/"  # the only DuckDB writer


def _modules() -> list[tuple[str, ast.AST]]:
    return [(str(p.relative_to(PACKAGE)), ast.parse(p.read_text())) for p in sorted(PACKAGE.rglob("*.py"))]


def _mlflow_imports(tree: ast.AST) -> list[str]:
    """The mlflow modules ``tree`` imports."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.split(".")[0] == "mlflow"]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").split(".")[0] == "mlflow":
            found.append(node.module or "")
    return found


def _calls(tree: ast.AST, name: str) -> int:
    """Calls of ``name`` or ``x.name``."""
    return sum(
        isinstance(n, ast.Call)
        and (
            (isinstance(n.func, ast.Name) and n.func.id == name)
            or (isinstance(n.func, ast.Attribute) and n.func.attr == name)
        )
        for n in ast.walk(tree)
    )


def test_only_tracking_and_outbox_talk_to_mlflow():
    for module, tree in _modules():
        if module.startswith(MLFLOW_FOLDER):
            continue
        assert _calls(tree, "MlflowClient") == 0, module
        assert _mlflow_imports(tree) == [], module


def test_only_the_store_opens_duckdb_files():
    for module, tree in _modules():
        if module.startswith(DUCKDB_FOLDER):
            continue
        assert _calls(tree, "open_duckdb") == 0 and _calls(tree, "_connect") == 0, module
        attrs = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
        assert "con" not in attrs, module  # MirrorStore's connection stays inside the store
        duckdb_connect = [
            n
            for n in ast.walk(tree)
            if isinstance(n, ast.Attribute)
            and n.attr == "connect"
            and isinstance(n.value, ast.Name)
            and n.value.id == "duckdb"
        ]
        assert duckdb_connect == [], module


# ----------------------------------------------------------------------------- stages and cycles

# The stages, low to high: a module imports only from its own stage or a lower one. A folder's
# modules share its stage; tracking/ and mirror/ are one layer, in which mirror may read tracking.
STAGES = {
    **dict.fromkeys(
        ("names", "errors", "config", "catalog", "inputs", "hardware", "browsers", "runtimes", "model_files"), 0
    ),  # core
    **dict.fromkeys(
        (
            "measure",
            "accuracy",
            "generation",
            "generation_reference",
            "host_load",
            "worker",
            "worker_env",
            "worker_preload",
            "backends",
        ),
        1,
    ),  # execution
    **dict.fromkeys(("plan", "results"), 2),
    "tracking": 3,
    "mirror": 4,
    "runner": 5,
    "batch_search": 6,
    "reporting": 7,
    **dict.fromkeys(("cli", "__main__"), 8),
}
PUBLIC_API = "hwbench_mlflow"  # the package's __init__: may import anything
# Edges (importer, imported) another stage still owes a fix for; each is to go.
KNOWN_EXCEPTIONS: set[tuple[str, str]] = set()


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _import_graph() -> dict[str, set[str]]:
    """Module → the package modules it imports anywhere (inside functions and TYPE_CHECKING too)."""
    paths = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for module, path in paths.items():
        package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
        targets = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in paths else base for a in node.names]
            else:
                continue
            for name in names:
                while name and name not in paths:  # `import a.b.c` of a module: the module
                    name = name.rpartition(".")[0]
                if name and name != module:
                    targets.add(name)
        graph[module] = targets
    return graph


def _stage(module: str) -> int:
    key = module.split(".")[1]
    assert key in STAGES, f"{module} has no stage: add it to STAGES in tests/test_boundaries.py"
    return STAGES[key]


def _own_package(importer: str, imported: str) -> bool:
    return imported == importer.rpartition(".")[0]


def test_imports_go_down_the_stages_only():
    graph = _import_graph()
    upward = {
        (importer, imported)
        for importer, targets in graph.items()
        if importer != PUBLIC_API
        for imported in targets
        if not _own_package(importer, imported) and (imported == PUBLIC_API or _stage(imported) > _stage(importer))
    }
    assert upward - KNOWN_EXCEPTIONS == set()
    assert KNOWN_EXCEPTIONS - upward == set(), "fixed: remove from KNOWN_EXCEPTIONS"


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = [stack.pop()]
            while component[-1] != v:
                component.append(stack.pop())
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert _cycles(_import_graph()) == []


MAX_MODULE_LINES = 600  # a module a reader takes in at once; past it, it has more than one job


def test_no_module_is_over_600_lines():
    sizes = {str(p.relative_to(PACKAGE)): len(p.read_text().splitlines()) for p in PACKAGE.rglob("*.py")}
    assert {name: n for name, n in sizes.items() if n > MAX_MODULE_LINES} == {}
    assert len(sizes) > 50  # the walk found the package


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert _cycles(graph) == [["a", "b", "c"]]
    assert _cycles({"a": {"b"}, "b": set()}) == []


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    """A store with two config runs of one combination (the newer failed) and a sweep run in
    an experiment of its own."""
    from mlflow import MlflowClient

    d = tmp_path_factory.mktemp("mlflow")
    uri = f"sqlite:///{d}/mlflow.db"
    client = MlflowClient(uri)
    default = client.create_experiment(N.DEFAULT_EXPERIMENT)
    other = client.create_experiment("elsewhere")
    params = {"model": "bert-tiny", "hardware": "cpu", "backend": "torch", "precision": "fp32", "mode": "inference"}
    ids = []
    for i, (status, category) in enumerate((("success", ""), ("failed", "oom"))):
        run = client.create_run(default, start_time=1_000 + i, tags={N.T_ROLE: "config", N.T_STATUS: status})
        for k, v in params.items():
            client.log_param(run.info.run_id, k, v)
        if category:
            client.set_tag(run.info.run_id, N.T_ERROR_CATEGORY, category)
        client.set_terminated(run.info.run_id, "FINISHED", end_time=2_000 + i)
        ids.append(run.info.run_id)
    sweep = client.create_run(other, start_time=5_000, tags={N.T_ROLE: "sweep"})
    client.set_terminated(sweep.info.run_id, "FINISHED", end_time=6_000)
    return {"uri": uri, "dir": d, "default": default, "other": other, "configs": ids}


def test_last_config_statuses_newest_first(store):
    rows = last_config_statuses(store["uri"])
    first, second = store["configs"]
    assert rows == [
        ("bert-tiny", "cpu", "torch", "fp32", "inference", "failed", "oom", second),
        ("bert-tiny", "cpu", "torch", "fp32", "inference", "success", "", first),
    ]


def test_matrix_last_observed_from_the_store(store):
    from hwbench_mlflow.reporting.matrix import last_observed

    assert last_observed(store["uri"]) == {
        ("bert-tiny", "cpu", "torch", "fp32", "inference"): ("failed: oom", store["configs"][1])
    }


def test_missing_store_is_read_as_empty_and_not_created(tmp_path):
    from hwbench_mlflow.reporting.matrix import last_observed
    from hwbench_mlflow.tracking.ui_url import experiment_id, ui_url

    uri = f"sqlite:///{tmp_path}/absent.db"
    assert last_config_statuses(uri) == [] and last_observed(uri) == {}
    assert experiment_id_for_ui(uri, None) is None and experiment_id(uri, "hwbench") is None
    assert ui_url(uri, None, "0.0.0.0", 5000) == "http://127.0.0.1:5000/#/experiments"
    assert not list(tmp_path.iterdir())


def test_experiment_id_for_ui(store):
    from hwbench_mlflow.tracking.ui_url import experiment_id

    uri = store["uri"]
    assert experiment_id(uri, None) == store["other"]  # the newest sweep's experiment
    assert experiment_id_for_ui(uri, N.DEFAULT_EXPERIMENT) == store["default"]
    assert experiment_id_for_ui(uri, "no such experiment") is None


def test_runs_view_is_added_once_and_kept(tmp_path):
    from mlflow import MlflowClient

    from hwbench_mlflow.tracking.ui_url import (
        RUNS_VIEW_KEY,
        RUNS_VIEW_NAME,
        SHARED_VIEW_TAG_PREFIX,
        ensure_runs_view,
        ui_url,
    )

    uri = f"sqlite:///{tmp_path}/mlflow.db"
    client = MlflowClient(uri)
    exp = client.create_experiment(N.DEFAULT_EXPERIMENT)
    tag = SHARED_VIEW_TAG_PREFIX + RUNS_VIEW_KEY
    assert ui_url(uri, None, "127.0.0.1", 5000) == (
        f"http://127.0.0.1:5000/#/experiments/{exp}/runs?workflowType=machine_learning&viewStateShareKey=hwbench"
    )
    assert json.loads(client.get_experiment(exp).tags[tag])["name"] == RUNS_VIEW_NAME
    client.set_experiment_tag(exp, tag, "mine")  # a user's edit of the view is kept
    assert ensure_runs_view(uri, exp) == RUNS_VIEW_KEY
    assert ensure_experiment_tag(uri, exp, tag, "other", client) is True
    assert client.get_experiment(exp).tags[tag] == "mine"
    assert ensure_runs_view(uri, "123456") is None  # the store refuses (no such experiment)
    assert ensure_experiment_tag(uri, "123456", "k", "v") is False


def test_config_runs_ended_since(store):
    first, second = store["configs"]
    assert sorted(config_runs_ended_since(store["uri"], 0, 10)) == sorted([first, second])
    assert config_runs_ended_since(store["uri"], 2_001, 10) == [second]
    assert len(config_runs_ended_since(store["uri"], 0, 1)) == 1
    assert config_runs_ended_since(store["uri"], int(time.time() * 1000), 10) == []


def test_store_public_reads(tmp_path):
    from hwbench_mlflow.mirror.query import check_mirror_opens
    from hwbench_mlflow.mirror.schema import schema_files
    from hwbench_mlflow.mirror.store import MirrorStore

    db = tmp_path / "m.duckdb"
    with MirrorStore(db) as store:
        assert store.schema_version() == schema_files()[-1][0]
        assert store.pending_plan_count() == 0
    check_mirror_opens(db)  # a mirror opens
    bad = tmp_path / "bad.duckdb"
    bad.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    with pytest.raises(BadInputError, match="is not a hwbench DuckDB mirror"):
        check_mirror_opens(bad)
