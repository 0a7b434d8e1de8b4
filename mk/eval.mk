# Evaluation: baselines (EASE, popularity, ...) and the evaluate stage for any model folder (reports: mk/transfer.mk).
#
#   make baseline RUN_NAME=ease DOMAIN=Scientific   train one baseline -> $(ART)/<domain>/models/<run>/
#   make evaluate RUN_NAME=ease DOMAIN=...          evaluate one run   -> $(ART)/<domain>/eval/<run>/metrics.json
#
# A run is any folder $(ART)/<domain>/models/<run>/ with a manifest.json (a model folder of
# textcode.core.model_folder): its eval rule exists for every domain and run name.

# a baseline run is a file configs/runs/baseline/<run>.yaml (BASELINE_RUNS of the run plan: no make edit)
DOMAIN_STAGES += $(addprefix baseline.,$(BASELINE_RUNS)) evaluate report


# the run of `make evaluate` (RUN is taken: it is the command that starts a stage)
RUN_NAME ?= ease


.PHONY: baseline evaluate

# ---------------------------------------------------------------- baselines
define BASELINE_RULE
$(ART)/%/models/$(1)/manifest.json: $(ART)/%/config/baseline.$(1).json $(ART)/%/prepared/manifest.json $(DEPS.baseline) | $(INSTALLED)
	$$(RUN) textcode baseline --config $$< --prepared $(ART)/$$*/prepared --out $$(@D)
endef
$(foreach r,$(BASELINE_RUNS),$(eval $(call BASELINE_RULE,$(r))))

baseline: $(ART)/$(DOMAIN)/models/$(RUN_NAME)/manifest.json

# ---------------------------------------------------------------- evaluate: one rule per domain, the run is the stem
define EVAL_RULE
$(ART)/$(1)/eval/%/manifest.json: $(ART)/$(1)/models/%/manifest.json $(ART)/$(1)/prepared/manifest.json $(ART)/$(1)/config/evaluate.json $(DEPS.evaluate) | $(INSTALLED)
	$$(RUN) textcode evaluate --config $(ART)/$(1)/config/evaluate.json --model $(ART)/$(1)/models/$$* --prepared $(ART)/$(1)/prepared --out $$(@D)
endef
$(foreach d,$(ALL_DOMAINS),$(eval $(call EVAL_RULE,$(d))))

evaluate: $(ART)/$(DOMAIN)/eval/$(RUN_NAME)/manifest.json

# metric speed on a Scientific-sized score matrix (CONTRIBUTING: speed is checked by benchmarks, not tests)
results/bench_metrics.json: $(DEPS.bench_metrics) | $(INSTALLED)
	$(RUN) bench.bench_metrics --out $@
