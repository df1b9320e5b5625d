"""Repo-root shim so `python cli.py ...` (and MLproject) run the `hwbench` command."""

from hwbench_mlflow.cli import main

if __name__ == "__main__":
    main()
