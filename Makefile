# Two entry points for a fresh machine (Python 3.11): `make app` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8501

.PHONY: setup app test lint browser bench clean replicas

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

# Debian's Chromium drives the browser tests through Playwright (no browser download).
browser:
	@test -x /usr/bin/chromium || { \
	  echo "installing Debian's chromium (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }

app: setup
	$(VENV)/bin/streamlit run viz_app/serve.py --server.port $(PORT)

test: setup browser
	$(VENV)/bin/ruff check .
	OMP_NUM_THREADS=1 $(PY) -m pytest

lint: setup
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: setup
	$(PY) -m pip install --quiet -r requirements-bench.txt
	$(PY) bench/decode.py
	$(PY) bench/dropout.py
	$(PY) bench/model_load.py
	$(PY) bench/load.py
	$(PY) bench/app.py

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache artifacts

# Two replicas behind nginx on loopback (deploy/): http://127.0.0.1:$(PROXY_PORT); Ctrl-C stops them all.
PROXY_PORT ?= 8080
REPLICAS ?= 2
replicas: setup
	@command -v nginx >/dev/null || test -x /usr/sbin/nginx || { \
	  echo "installing Debian's nginx (needs root)"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }
	$(PY) deploy/replicas.py --replicas $(REPLICAS) --port $(PROXY_PORT)
