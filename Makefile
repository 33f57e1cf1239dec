# Every target creates .venv and installs requirements.txt on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev

.PHONY: test synth scan lint bench clean e2e e2e-tools

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

# checkov pins an older boto3 than the program needs: it gets an environment of its own.
SCAN_VENV := .venv-scan
$(SCAN_VENV)/.installed:
	$(PYTHON) -m venv $(SCAN_VENV)
	$(SCAN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(SCAN_VENV)/bin/python -m pip install --quiet 'checkov>=3.3,<4'
	touch $@

scan: $(VENV)/.installed $(SCAN_VENV)/.installed ## Scan the rendered Kubernetes manifests with checkov
	$(PY) -m toe synth --stack $(STACK) --out build/synth/$(STACK)
	$(SCAN_VENV)/bin/checkov --directory build/synth/$(STACK)/manifests --framework kubernetes \
		--config-file .checkov.yaml --compact --quiet

# The rehearsal tier: the real pulumi CLI, pulumi-kubernetes and a Kubernetes control plane, built
# from the Go module proxy into ~/.cache/training-on-eks/tools (TOE_TOOLS_DIR), then run against
# moto and simulated Auto Mode on loopback. See README, "Rehearse offline".
e2e-tools: $(VENV)/.installed ## Build (or find cached) the rehearsal's tools
	PYTHON=$(abspath $(PY)) bash tests/e2e/tools/build.sh

e2e: e2e-tools ## Rehearse the workshop under the real engine (build/e2e/summary.json)
	TOE_E2E=1 $(PY) -m pytest tests/e2e -p no:cacheprovider -x

lint: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(VENV)/.installed
	$(PY) bench/synth_bench.py

clean:
	rm -rf $(VENV) $(SCAN_VENV) build .pytest_cache .ruff_cache
