# Targets are files: each stage's output folder ends with a manifest.json, which depends on the
# stage's resolved config (rewritten only when its content changes), its upstream manifests and
# its own code. So `make` reruns exactly what an edit affects.
#
#   make demo                      install, then run the whole pipeline on the embedded demo data
#   make test                      install, then run the tests
#   make codes DOMAIN=Scientific   prepare -> encode -> codes for one domain of ../shared/data
#   make results/codes.json        codes for every full domain, collected into one JSON
#   make ... SET="encode.max_length=64 codes:codes.n_centroids=128 finetune.vqrec_scratch:train.epochs=3"
#                                  overrides; a key read by several stages (train, model, codes, seed) needs
#                                  its scope: a stage (codes:) or one run (finetune.vqrec_scratch:)

SHELL := /bin/bash
.SUFFIXES:
.SECONDARY:          # never delete intermediate manifests
# No .DELETE_ON_ERROR: a stage's manifest is written last and atomically, by the process that holds
# the output's lock, so a failed recipe leaves no new manifest to delete; deleting on error removed
# the manifest a concurrent build of the same target had just finished (its second run fails on the
# lock, "already being built by PID ..."). results/*.json are written at the end of their commands.

ART ?= artifacts
REPORTS ?= reports
CONFIGS ?= configs
DOMAIN ?= Scientific
SET ?=
SETS := $(foreach s,$(SET),--set $(s))

# Python: the active virtual environment if there is one, else the project's own .venv.
ifdef VIRTUAL_ENV
  ENV_DIR := $(VIRTUAL_ENV)
else
  ENV_DIR := $(CURDIR)/.venv
endif
PY := $(ENV_DIR)/bin/python
EXTRAS ?= cpu,dev
INSTALLED := $(ENV_DIR)/.textcode-installed
RUN := $(PY) -m
# config resolution: not $(RUN), so `make RUN=echo ...` lists the stages a real run would start
RESOLVE = $(PY) -m textcode resolve
export PYTHONUNBUFFERED := 1
export TOKENIZERS_PARALLELISM := false

ALL_DOMAINS := $(basename $(notdir $(wildcard $(CONFIGS)/domains/*.yaml)))
DEMO_DOMAINS := $(filter demo-%,$(ALL_DOMAINS))
FULL_DOMAINS := $(filter-out demo-%,$(ALL_DOMAINS))
TEXT_DOMAINS := Scientific $(filter amazon% food steam% movielens%,$(FULL_DOMAINS))
DEMO_TEXT_DOMAINS := demo-scientific demo-beauty demo-game

# every per-domain stage whose config `textcode resolve` writes in one go (fragments in mk/ add theirs)
DOMAIN_STAGES := prepare encode codes

.PHONY: all install demo test prepare encode codes clean-demo FORCE
FORCE:

all: results/codes.json

# stage groups added by later work live in mk/*.mk (they may extend DOMAIN_STAGES, DEMO_TARGETS, ALL_RESULTS)
DEMO_TARGETS :=
# Code dependencies: DEPS.<command> := the files of the command's import closure, written by
# `textcode deps` from the code itself (never kept by hand); make remakes it, then rereads this file,
# whenever a Python file changes.
DEPS_FILE := .deps/commands.d
$(DEPS_FILE): $(shell find textcode experiments bench -name '*.py' -not -path '*/__pycache__/*') | $(INSTALLED)
	$(PY) -m textcode deps textcode.commands experiments.commands bench --out $@
include $(DEPS_FILE)
# The run plan: the runs of each stage and the inputs each reads, from the YAML configs (`textcode plan`)
PLAN_FILE := $(ART)/plan.mk
$(PLAN_FILE): $(shell find $(CONFIGS) -name '*.yaml') $(DEPS.plan) | $(INSTALLED)
	$(PY) -m textcode plan --configs $(CONFIGS) --out $@
include $(PLAN_FILE)
# Second expansion: the report rules (mk/transfer.mk, mk/baselines.mk) read their run lists after every fragment
# is included.
.SECONDEXPANSION:
include $(wildcard mk/*.mk) experiments/generation.mk
DOMAIN_CONFIGS := $(foreach s,$(DOMAIN_STAGES),$(ART)/%/config/$(s).json)

$(INSTALLED): pyproject.toml
	@test -x $(PY) || python3 -m venv $(ENV_DIR)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[$(EXTRAS)]"
	@touch $@
install: $(INSTALLED)

# ---------------------------------------------------------------- resolved configs (one process per domain)
# Resolve rewrites a config only when its content changes. The config files hang off a `.resolve`
# stamp that is never written: they are re-resolved on every run but count as changed only when
# resolve rewrote them. (A grouped rule writing them all counted every sibling as changed, so one
# target's run retrained every other run of the domain.) `make -n`/`-q` cannot see through the
# stamp and always answer "out of date"; `make RUN=echo <target>` lists what a real run would start.
$(ART)/%/config/.resolve: FORCE | $(INSTALLED)
	+@$(RESOLVE) --domain $* --configs $(CONFIGS) --outdir $(ART)/$*/config --stages $(DOMAIN_STAGES) $(SETS)
$(foreach c,$(DOMAIN_CONFIGS),$(eval $(c): $(ART)/%/config/.resolve ;))

# ---------------------------------------------------------------- per-domain stages

$(ART)/%/prepared/manifest.json: $(ART)/%/config/prepare.json $(DEPS.prepare) | $(INSTALLED)
	$(RUN) textcode prepare --config $< --out $(@D)

$(ART)/%/text/manifest.json: $(ART)/%/config/encode.json $(ART)/%/prepared/manifest.json $(DEPS.encode) | $(INSTALLED)
	$(RUN) textcode encode --config $< --prepared $(ART)/$*/prepared --out $(@D)

$(ART)/%/codes/manifest.json: $(ART)/%/config/codes.json $(ART)/%/prepared/manifest.json $(ART)/%/text/manifest.json $(DEPS.codes) | $(INSTALLED)
	$(RUN) textcode codes --config $< --prepared $(ART)/$*/prepared --text $(ART)/$*/text --out $(@D)

prepare: $(ART)/$(DOMAIN)/prepared/manifest.json
encode: $(ART)/$(DOMAIN)/text/manifest.json
codes: $(ART)/$(DOMAIN)/codes/manifest.json

# ---------------------------------------------------------------- headline results
results/codes.json: $(foreach d,$(TEXT_DOMAINS),$(ART)/$(d)/codes/manifest.json) $(DEPS.collect-codes) | $(INSTALLED)
	$(RUN) textcode collect-codes --art $(ART) --domains $(TEXT_DOMAINS) --out $@

# CPU-bound and timed: run it on a quiet machine (the JSON records the load average before and after)
results/bench_encode.json: $(DEPS.bench_encode) | $(INSTALLED)
	$(RUN) bench.bench_encode --out $@

# ---------------------------------------------------------------- demo and tests
DEMO_CODES := $(foreach d,$(DEMO_TEXT_DOMAINS),$(ART)/$(d)/codes/manifest.json)

demo: $(DEMO_CODES) $(DEMO_TARGETS) | $(INSTALLED)
	@$(RUN) textcode show --art $(ART) --domains $(DEMO_DOMAINS) --report $(REPORTS)/demo-scientific \
	  --paths report=$(REPORTS)/demo-scientific/report.md chart=$(REPORTS)/demo-scientific/metrics.png \
	  serving=$(ART)/demo-scientific/serving generation=$(DEMO_GEN)/rsvq/eval generation-vae=$(DEMO_GEN)/vae/eval

test: | $(INSTALLED)
	$(PY) -m pytest -q

clean-demo:
	rm -rf $(foreach d,$(DEMO_DOMAINS),$(ART)/$(d))

