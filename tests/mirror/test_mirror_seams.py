"""The seams of mirror/: opening files (files.py), the schema (schema.py), reads and exports
(query.py), the writer (store.py) and the sample loader (loader.py), on real DuckDB files in a
temporary directory."""

from __future__ import annotations

import json

import pyarrow as pa
import pytest

from hwbench_mlflow.cli.flags import PARAM_FLAGS
from hwbench_mlflow.errors import BadInputError
from hwbench_mlflow.mirror.files import check_mirror_file, memory_connection, open_duckdb
from hwbench_mlflow.mirror.loader import SampleLoader
from hwbench_mlflow.mirror.query import check_read_only_sql, connect, export, mirrored_tracking_uri, sql
from hwbench_mlflow.mirror.schema import (
    DATA_TABLES,
    arrow_table,
    arrow_type,
    foreign_tables,
    migrate,
    schema_files,
    schema_version,
)
from hwbench_mlflow.mirror.store import MirrorStore


@pytest.fixture
def mirror(tmp_path):
    db = tmp_path / "m.duckdb"
    with MirrorStore(db) as store, store.transaction():
        store.upsert_dimensions(
            [{"model_id": "bert-tiny", "model_name": "prajjwal1/bert-tiny"}],
            [{"hardware_id": "cpu", "hardware_type": "cpu", "device": "cpu", "host": "h"}],
        )
        store.add_plan(
            [
                {
                    "plan_key": "k1",
                    "model_id": "bert-tiny",
                    "hardware_id": "cpu",
                    "backend": "torch",
                    "precision": "fp32",
                    "mode": "inference",
                    "scenario": "latency",
                    "batch_size": 1,
                }
            ]
        )
    return db


# ----------------------------------------------------------------------------- files.py


def test_check_mirror_file_reads_only_the_header(tmp_path):
    sqlite = tmp_path / "mlflow.db"
    sqlite.write_bytes(b"SQLite format 3\x00" + bytes(100))
    with pytest.raises(BadInputError, match=r"is not a hwbench DuckDB mirror \(an SQLite database\)"):
        check_mirror_file(sqlite)
    text = tmp_path / "notes.txt"
    text.write_text("just some notes, long enough")
    with pytest.raises(BadInputError, match="no DuckDB header"):
        check_mirror_file(text)
    short = tmp_path / "short"
    short.write_bytes(b"DU")
    check_mirror_file(short)  # being created: left to DuckDB
    check_mirror_file(tmp_path / "absent.duckdb")


def test_memory_connection_and_open_duckdb(tmp_path):
    with memory_connection() as con:
        assert con.execute("SELECT 41 + 1").fetchall() == [(42,)]
    con = open_duckdb(tmp_path / "new.duckdb", read_only=False, lock_timeout_s=0)
    try:
        assert con.execute("SELECT 1").fetchall() == [(1,)]
    finally:
        con.close()


# ----------------------------------------------------------------------------- schema.py


def test_migrate_applies_every_migration_once():
    with memory_connection() as con:
        assert schema_version(con) == 0 and foreign_tables(con) == []
        last = schema_files()[-1][0]
        assert migrate(con) == last and migrate(con) == last
        assert set(DATA_TABLES) <= set(foreign_tables(con))


def test_migrate_refuses_a_newer_file():
    with memory_connection() as con:
        migrate(con)
        con.execute("INSERT INTO schema_version VALUES (9999, 'future', now()::TIMESTAMP)")
        with pytest.raises(BadInputError, match="schema version 9999, newer than this hwbench knows"):
            migrate(con)


def test_arrow_types_and_tables():
    assert arrow_type("timestamp[ms]") == pa.timestamp("ms") and arrow_type("int32") == pa.int32()
    table = arrow_table([{"a": "x", "n": 1}, {"a": "y"}], {"a": "string", "n": "int64"})
    assert table.schema.types == [pa.string(), pa.int64()] and table.to_pylist()[1] == {"a": "y", "n": None}


# ----------------------------------------------------------------------------- store.py


def test_store_writes_and_settles_the_plan(mirror):
    with MirrorStore(mirror) as store:
        assert store.pending_plan_count() == 1
        assert store.arrow_columns("latency_samples") == {
            "mlflow_run_id": pa.string(),
            "iteration": pa.int32(),
            "latency_ms": pa.float64(),
        }
        assert store.state().tracking_uri is None and store.index() == {}


def test_store_refuses_a_missing_directory_naming_the_parameter(tmp_path):
    with pytest.raises(BadInputError) as caught:
        MirrorStore(tmp_path / "no" / "m.duckdb")
    assert str(caught.value) == f"db_path: directory does not exist: {tmp_path / 'no'}"
    assert caught.value.renamed(PARAM_FLAGS) == f"--db-path: directory does not exist: {tmp_path / 'no'}"


# ----------------------------------------------------------------------------- query.py


def test_connect_sql_and_the_tracking_uri(mirror):
    con = connect(mirror)
    try:
        assert con.execute("SELECT plan_key, status FROM benchmark_plan").fetchall() == [("k1", "pending")]
    finally:
        con.close()
    assert sql("SELECT count(*) AS n FROM benchmark_plan", mirror)["n"].tolist() == [1]
    assert mirrored_tracking_uri(mirror) is None


def test_connect_refuses_naming_the_parameter(tmp_path):
    with pytest.raises(BadInputError) as caught:
        connect(tmp_path)
    assert caught.value.param == "db_path"
    assert caught.value.renamed(PARAM_FLAGS) == f"--db-path must name a file, got '{tmp_path}' (a directory)"
    with pytest.raises(BadInputError, match="no DuckDB mirror at"):
        connect(tmp_path / "absent.duckdb")


@pytest.mark.parametrize(
    ("query", "message"),
    [("DELETE FROM models", "DELETE statements are not allowed"), ("", "query is empty"), ("SELEC", "does not parse")],
)
def test_only_reads(query, message):
    with pytest.raises(BadInputError, match=message):
        check_read_only_sql(query)


def test_export_a_table_and_every_table(mirror, tmp_path):
    (out,) = export(mirror, "json", tmp_path / "plan.json", "benchmark_plan")
    assert [r["plan_key"] for r in json.loads(out.read_text())] == ["k1"]
    written = export(mirror, "csv", tmp_path / "all")
    assert sorted(p.name for p in written) == sorted(f"{t}.csv" for t in DATA_TABLES)
    assert not list((tmp_path / "all").glob("*.tmp"))


def test_export_refusals_name_the_parameter(mirror, tmp_path):
    with pytest.raises(BadInputError) as caught:
        export(mirror, "csv", tmp_path / "notes" / "x.csv", "models")
    assert caught.value.renamed(PARAM_FLAGS) == f"--output: directory does not exist: {tmp_path / 'notes'}"
    with pytest.raises(BadInputError, match="unknown export format 'xlsx'"):
        export(mirror, "xlsx", tmp_path / "x.xlsx")
    with pytest.raises(BadInputError, match="no table or view 'nosuch'"):
        export(mirror, "csv", tmp_path / "x.csv", "nosuch")


# ----------------------------------------------------------------------------- loader.py


class Recorder:
    """A TableWriter that keeps what it was asked to insert."""

    def __init__(self) -> None:
        self.inserted: list[tuple[list[str], list[dict]]] = []

    def with_tables(self, statements, **tables):
        self.inserted.append((list(statements), tables["parsed"].to_pylist()))
        return []


def test_sample_loader_inserts_each_run_numbered_from_zero(tmp_path):
    files = []
    for run_id, values in (("r1", [1.0, 2.0]), ("r2", [3.5])):
        path = tmp_path / f"{run_id}.json"
        path.write_text(json.dumps({"latencies_ms": values}))
        files.append((run_id, str(path)))
    (tmp_path / "bad.json").write_text("not json")
    files += [("bad", str(tmp_path / "bad.json")), ("gone", str(tmp_path / "absent.json"))]
    writer = Recorder()
    loader = SampleLoader(writer)
    loader.submit(files)
    assert loader.finish() == {"r1": 2, "r2": 1}
    assert loader.unreadable == ["bad"]
    ((statements, rows),) = writer.inserted
    assert statements == ["INSERT INTO latency_samples SELECT * FROM parsed"]
    assert rows == [
        {"mlflow_run_id": "r1", "iteration": 0, "latency_ms": 1.0},
        {"mlflow_run_id": "r1", "iteration": 1, "latency_ms": 2.0},
        {"mlflow_run_id": "r2", "iteration": 0, "latency_ms": 3.5},
    ]
