# Every target creates .venv and installs requirements.txt on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev

.PHONY: test synth lint bench clean

$(VENV)/.installed: requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

test: $(VENV)/.installed ## Run the whole test suite offline (no AWS, no Pulumi CLI)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest

synth: $(VENV)/.installed ## Render the stack offline against the simulated workshop account
	$(PY) -m toe synth --stack $(STACK)

lint: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(VENV)/.installed
	$(PY) bench/synth_bench.py

clean:
	rm -rf $(VENV) build .pytest_cache .ruff_cache
