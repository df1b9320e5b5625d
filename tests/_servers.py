"""A private PostgreSQL cluster and an `mlflow server` on it, on loopback, for the scale-out
tests and benchmarks/server_limits.py. Real components, started here, stopped at the end.

PostgreSQL refuses to run as root: as root the cluster belongs to Debian's ``postgres`` user
(``runuser``). Password authentication over TCP (scram), so the tests can check that the
password never shows; fsync off, since the cluster is thrown away.
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

PG_USER = "hwbench"
PG_PASSWORD = "pg-s3cret-Xq7"
MLFLOW_ADMIN = "admin"
MLFLOW_ADMIN_PASSWORD = "mlflow-s3cret-Zk9"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin() -> Path | None:
    """The folder of Debian's PostgreSQL server programs (initdb, postgres), newest first."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(p.split("/")[4]), reverse=True)
    return Path(found[0]).parent if found else None


class Postgres:
    """``initdb`` + ``postgres`` in a temporary folder on a free loopback port."""

    def __init__(self) -> None:
        bindir = pg_bin()
        if bindir is None:
            raise RuntimeError("PostgreSQL server programs not found (apt-get install postgresql)")
        self.bin = bindir
        self.root = Path(tempfile.mkdtemp(prefix="hwbench-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.as_user = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []

    def start(self) -> Postgres:
        pwfile = self.root / "pw"
        pwfile.write_text(PG_PASSWORD + "\n")
        if self.as_user:
            shutil.chown(self.root, "postgres")
            shutil.chown(pwfile, "postgres")
        subprocess.run(
            [
                *self.as_user,
                str(self.bin / "initdb"),
                "-D",
                str(self.data),
                "-U",
                PG_USER,
                f"--pwfile={pwfile}",
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "-E",
                "UTF8",
                "--no-instructions",
            ],
            check=True,
            capture_output=True,
        )
        self.proc = subprocess.Popen(
            [
                *self.as_user,
                str(self.bin / "postgres"),
                "-D",
                str(self.data),
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-k",
                str(self.root),
                "-c",
                "fsync=off",
                "-c",
                "synchronous_commit=off",
                "-c",
                "full_page_writes=off",
                "-c",
                "max_connections=200",
            ],
            stdout=subprocess.DEVNULL,
            stderr=open(self.root / "postgres.log", "wb"),  # noqa: SIM115 - lives as long as the server
            start_new_session=True,
        )
        deadline = time.monotonic() + 60
        while True:
            try:
                self._connect("postgres").close()
                return self
            except Exception:
                if self.proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("PostgreSQL did not start:\n" + self.log()) from None
                time.sleep(0.2)

    def _connect(self, db: str):  # type: ignore[no-untyped-def]
        import psycopg

        return psycopg.connect(host="127.0.0.1", port=self.port, user=PG_USER, password=PG_PASSWORD, dbname=db)

    def create_database(self, name: str) -> str:
        conn = self._connect("postgres")
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f'CREATE DATABASE "{name}"')
        conn.close()
        return self.url(name)

    def url(self, db: str, driver: str = "postgresql") -> str:
        return f"{driver}://{PG_USER}:{PG_PASSWORD}@127.0.0.1:{self.port}/{db}"

    def log(self) -> str:
        path = self.root / "postgres.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGINT)  # fast shutdown
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
        shutil.rmtree(self.root, ignore_errors=True)


class MlflowServer:
    """``mlflow server`` on a backend store URI with served artifacts, optionally with basic auth.

    ``stop()`` then ``start()`` restarts it on the same port and store (the outbox test)."""

    def __init__(self, backend_uri: str, workdir: Path, auth: bool = True, workers: int = 1) -> None:
        self.backend_uri = backend_uri
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.artifacts = workdir / "artifacts"
        self.port = free_port()
        self.auth = auth
        self.workers = workers
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = f"http://127.0.0.1:{self.port}"

    def client_env(self, password: str = MLFLOW_ADMIN_PASSWORD) -> dict[str, str]:
        """MLflow's own variables for a client of this server."""
        env = {"MLFLOW_TRACKING_URI": self.url}
        if self.auth:
            env |= {"MLFLOW_TRACKING_USERNAME": MLFLOW_ADMIN, "MLFLOW_TRACKING_PASSWORD": password}
        return env

    def start(self, timeout: float = 180) -> MlflowServer:
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLFLOW_")}
        env["MLFLOW_SERVER_ENABLE_JOB_EXECUTION"] = "false"  # GenAI job runners: not used by hwbench
        argv = [
            sys.executable,
            "-m",
            "mlflow",
            "server",
            "--backend-store-uri",
            self.backend_uri,
            "--artifacts-destination",
            str(self.artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--workers",
            str(self.workers),
        ]
        if self.auth:
            ini = self.workdir / "basic_auth.ini"
            ini.write_text(
                "[mlflow]\ndefault_permission = READ\n"
                f"database_uri = sqlite:///{self.workdir / 'basic_auth.db'}\n"
                f"admin_username = {MLFLOW_ADMIN}\nadmin_password = {MLFLOW_ADMIN_PASSWORD}\n"
                "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
                # one PBKDF2 check per user and minute instead of per request (docs/scale-out.md)
                "auth_cache_ttl_seconds = 60\n"
            )
            env["MLFLOW_AUTH_CONFIG_PATH"] = str(ini)
            env["MLFLOW_FLASK_SERVER_SECRET_KEY"] = "hwbench-test-csrf-key"  # the same across restarts
            argv += ["--app-name", "basic-auth"]
        self.proc = subprocess.Popen(
            argv,
            cwd=self.workdir,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=open(self.workdir / "server.log", "ab"),  # noqa: SIM115 - lives as long as the server
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while True:
            try:
                if requests.get(self.url + "/health", timeout=2).status_code == 200:
                    return self
            except requests.RequestException:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("mlflow server did not start:\n" + self.log())
            time.sleep(0.3)

    def log(self) -> str:
        path = self.workdir / "server.log"
        return path.read_text(errors="replace")[-4000:] if path.exists() else ""

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
        self.proc = None
