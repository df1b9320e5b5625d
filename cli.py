"""Repo-root shim so `python cli.py ...` (and MLproject) run the `hwbench` command.

`mlflow run` runs MLproject's commands with whatever `python` is first on PATH; outside an
activated `.venv` that interpreter lacks hwbench's packages, so the shim hands over to the
repo's `.venv/bin/python` when there is one, and otherwise says in one line what to do.
"""

import os
import sys
from pathlib import Path

VENV = Path(__file__).resolve().parent / ".venv"

try:
    from hwbench_mlflow.cli import main
except ImportError as exc:
    venv_python = VENV / "bin" / "python"
    if venv_python.exists() and Path(sys.prefix).resolve() != VENV:
        os.execv(str(venv_python), [str(venv_python), __file__, *sys.argv[1:]])
    sys.exit(
        f"hwbench: error: {sys.executable} cannot import hwbench's dependencies ({exc}); "
        "run `make install`, then `.venv/bin/hwbench` (or activate .venv)"
    )

if __name__ == "__main__":
    main()
