# `make demo` and `make test` each create .venv when it is missing and install
# everything into it: torch first (the CPU wheel, exactly 2.13.0), then loop with
# its dev extras under the tested pins of constraints.txt.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_DB := .demo/loop-demo.db

.PHONY: demo test test-slow test-all bench bench-suite lint schema clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev,chgnet,peers]'
	touch $(STAMP)

demo: $(STAMP)
	rm -f $(DEMO_DB) $(DEMO_DB)-wal $(DEMO_DB)-shm
	$(BIN)/loop run campaigns/alloy-emt.yaml --db sqlite:///$(DEMO_DB)

# two test processes (the machines this runs on have two cores), each torch
# single-threaded so they do not fight over the cores. `test` leaves out the
# tests marked slow (PostgreSQL, DFT, the Ax/BayBE peers, the fuzzers) so it
# stays under ten minutes; `test-slow` runs them; CI (.ci/run) runs both.
PYTEST := OMP_NUM_THREADS=1 $(BIN)/python -m pytest -n 2 --dist worksteal

test: $(STAMP)
	$(PYTEST) -m "not slow"

test-slow: $(STAMP)
	$(PYTEST) -m slow

test-all: $(STAMP)
	$(PYTEST)

# the sections of docs/benchmarks.md, one torch thread each (timings want a quiet machine)
bench: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.emt_vs_random --seeds 5
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.moo_vs_random --seeds 5 --budget 30
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.failure_region --seeds 5 --budget 24
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.cardinality_latency --sizes 50 200 --repeats 3
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.latency --cases simplex,categorical \
		--sizes 20 100 500 --batches 1 8 --repeats 3
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.latency --cases electrolyte --campaign-n 50
	$(BIN)/python -m tests.benchmarks.threads --sizes 20 500 2000 --threads 1 2 --competitor --repeats 3
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.report_time --trials 100 --repeats 3
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.multi_fidelity --problem bumps --seeds 5 --cost 200
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.multi_fidelity --problem alloy --seeds 5 --cost 300

# issue 18's whole replay suite (hours): resumable, every finished run is kept
# under docs/bench-results/suite/ and skipped when started again
bench-suite: $(STAMP)
	OMP_NUM_THREADS=1 $(BIN)/python -m tests.benchmarks.replay_suite \
	  --data-root ../shared/datasets --strategies botorch,ax,baybe,random \
	  --seeds 10 --out docs/bench-results/suite

lint: $(STAMP)
	$(BIN)/ruff check loop adapters tests
	$(BIN)/ruff format --check loop adapters tests
	$(BIN)/mypy loop adapters

schema: $(STAMP)
	$(BIN)/loop schema -o campaigns/schema/campaign.schema.json
	$(BIN)/loop schema --api -o docs/reference/openapi.json

clean:
	rm -rf $(VENV) .demo .pytest_cache
