# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.hwbench-installed

.PHONY: install run test lint bench web clean
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo -n)

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -r requirements.txt -r requirements-dev.txt
	$(PY) -m pip install --quiet --no-deps -r requirements-nodeps.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# The web platforms (onnxruntime-web in a headless Chromium): Debian's chromium and npm, the npm
# packages pinned in web/package-lock.json, @sparticuz/chromium (WebNN) unpacked under the cache.
web: install
	command -v chromium >/dev/null && command -v npm >/dev/null || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium npm >/dev/null; }
	$(PY) -m hwbench_mlflow.browsers install

# The default sweep on the hardware really present, end to end, then the recommendations it
# supports (from the DuckDB mirror the sweep synced); the sweep's exit code is make's.
run: install
	$(VENV)/bin/hwbench run --model bert-tiny,minilm --batch-sizes 1,8 --precision native --max-time 2; \
	rc=$$?; \
	$(VENV)/bin/hwbench run --model smollm2 --scenario generate --hardware cpu,openvino \
	  --prompt-tokens 64 --new-tokens 32 --batch-sizes 1 --max-time 5 || rc=1; \
	$(VENV)/bin/hwbench recommend; exit $$rc

# Two workers, whole files each (module fixtures such as the PostgreSQL server start once):
# most of the suite waits on worker processes, servers and measurement windows.
test: install
	$(PY) -m pytest -q -n 2 --dist loadfile

lint: install
	$(VENV)/bin/ruff check hwbench_mlflow tests benchmarks cli.py
	$(VENV)/bin/ruff format --check hwbench_mlflow tests benchmarks cli.py

bench: install
	$(PY) benchmarks/vs_torch_timer.py

clean:
	rm -rf $(VENV) mlruns mlflow.db web/node_modules
