# Evaluation: baselines (EASE, popularity, ...), the evaluate stage for any model folder, the report.
#
#   make baseline RUN_NAME=ease DOMAIN=Scientific   train one baseline -> $(ART)/<domain>/models/<run>/
#   make evaluate RUN_NAME=ease DOMAIN=...          evaluate one run   -> $(ART)/<domain>/eval/<run>/metrics.json
#   make report DOMAIN=Scientific        every run of EVAL_RUNS -> $(ART)/<domain>/report/ (report.md, chart)
#
# A run is any folder $(ART)/<domain>/models/<run>/ with a manifest.json (a model folder of
# textcode.core.model_folder): its eval rule exists for every domain and run name.

# a baseline run is a file configs/runs/baseline/<run>.yaml (BASELINE_RUNS of the run plan: no make edit)
DOMAIN_STAGES += $(addprefix baseline.,$(BASELINE_RUNS)) evaluate report

# runs in the report, in row order; fragments append theirs (EVAL_RUNS += ...)
EVAL_RUNS ?= pop ease
# the run every other run is tested against (paired bootstrap)
REPORT_REFERENCE ?= ease
REPORTS ?= reports
# the run of `make evaluate` (RUN is taken: it is the command that starts a stage)
RUN_NAME ?= ease


.PHONY: baseline evaluate report

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

# ---------------------------------------------------------------- report
# Second expansion: EVAL_RUNS is read after every fragment is included, so later fragments can append runs.
.SECONDEXPANSION:
REPORT_INPUTS = $$(foreach r,$$(EVAL_RUNS),$(ART)/$$*/eval/$$(r)/manifest.json) $(ART)/%/config/report.json $(DEPS.report) configs/published.yaml
REPORT_ARGS = --config $(ART)/$*/config/report.json $(foreach r,$(EVAL_RUNS),--eval $(r)=$(ART)/$*/eval/$(r)) --reference $(REPORT_REFERENCE) --published configs/published.yaml

# a report of any domain's runs, inside the artifacts (headline reports are written by results/*.json targets)
$(ART)/%/report/manifest.json: $(REPORT_INPUTS) | $(INSTALLED)
	$(RUN) textcode report $(REPORT_ARGS) --out $(@D)

report: $(ART)/$(DOMAIN)/report/manifest.json
DEMO_TARGETS += $(ART)/demo-scientific/report/manifest.json

# metric speed on a Scientific-sized score matrix (CONTRIBUTING: speed is checked by benchmarks, not tests)
results/bench_metrics.json: $(DEPS.bench_metrics) | $(INSTALLED)
	$(RUN) bench.bench_metrics --out $@
