"""Tracking URIs: which store (``resolve_tracking_uri``), how to print it (``redact_uri``),
whether it can be reached (``check_tracking_uri``), and the HTTP credentials MLflow sends."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..errors import BadInputError

SQLITE_PREFIX = "sqlite:///"
SERVER_SCHEMES = ("postgresql", "mysql", "mssql", "databricks", "databricks-uc", "postgresql+psycopg2")


def resolve_tracking_uri(uri: str | None) -> str:
    """``--tracking-uri``, else ``MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db`` in the cwd."""
    uri = uri or os.environ.get("MLFLOW_TRACKING_URI") or ""
    if not uri:
        return SQLITE_PREFIX + str(Path.cwd() / "mlflow.db")
    return uri


def sqlite_path(uri: str) -> str | None:
    """The database file of a ``sqlite:///`` URI (its query string left on), else None."""
    return uri[len(SQLITE_PREFIX) :] if uri.startswith(SQLITE_PREFIX) else None


def redact_uri(uri: str) -> str:
    """The URI with any password removed, safe to print or log."""
    try:
        parts = urlsplit(uri)
    except ValueError:
        return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", uri)
    if parts.password is None:
        return uri
    host = parts.hostname or ""
    netloc = f"{parts.username}:***@{host}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def check_tracking_uri(uri: str) -> None:
    """Fail fast, before anything is measured or logged, when the store cannot be reached."""
    shown = redact_uri(uri)
    try:
        parts = urlsplit(uri)
        _ = parts.port  # raises ValueError on a malformed port
    except ValueError as exc:
        raise BadInputError(f"malformed tracking URI {shown}: {exc}") from None
    scheme = parts.scheme if "://" in uri else ""
    if scheme in ("http", "https"):
        _check_server(uri, shown)
    elif scheme == "sqlite":
        path = sqlite_path(uri) or ""
        if not path or path == ":memory:":
            raise BadInputError(f"tracking URI {shown} names no database file (example: sqlite:///mlflow.db)")
        parent = Path(path).resolve().parent
        if not parent.is_dir():
            raise BadInputError(f"tracking store directory does not exist: {parent} (from {shown})")
        if not os.access(parent, os.W_OK):
            raise BadInputError(f"tracking store directory is not writable: {parent}")
    elif scheme in ("", "file"):
        local = Path(parts.path if scheme else uri)
        if not local.parent.exists():
            raise BadInputError(f"tracking store directory does not exist: {local.parent}")
    elif scheme not in SERVER_SCHEMES:
        raise BadInputError(f"unsupported tracking URI scheme '{scheme}' in {shown}")


def _check_server(uri: str, shown: str) -> None:
    """A tracking server answers, and takes this user's credentials."""
    import requests

    try:
        requests.get(uri.rstrip("/") + "/health", timeout=5)
        answer = requests.get(
            uri.rstrip("/") + "/api/2.0/mlflow/experiments/search",
            params={"max_results": 1},
            auth=http_auth(),
            timeout=30,
        )
    except requests.RequestException as exc:
        reason = re.sub(r"\s+", " ", type(exc).__name__)
        raise BadInputError(f"tracking server unreachable at {shown} ({reason})") from None
    if answer.status_code == 401:
        raise BadInputError(
            f"the tracking server at {shown} refused the credentials (HTTP 401): "
            "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (or MLFLOW_TRACKING_TOKEN)"
        )
    if answer.status_code == 403:
        raise BadInputError(f"the tracking server at {shown} denied access to this user (HTTP 403)")


def http_auth() -> Any:
    """The credentials MLflow's own client sends, from MLflow's own environment variables."""
    user, password = os.environ.get("MLFLOW_TRACKING_USERNAME"), os.environ.get("MLFLOW_TRACKING_PASSWORD")
    if user and password:
        return (user, password)
    token = os.environ.get("MLFLOW_TRACKING_TOKEN")
    if token:

        def bearer(request: Any) -> Any:
            request.headers["Authorization"] = f"Bearer {token}"
            return request

        return bearer
    return None
