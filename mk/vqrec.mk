# VQ-Rec: mixed-domain pre-training -> fine-tuning runs on a target domain -> evaluate -> report.
#
#   make pretrain PRETRAIN_RUN=default       pre-train on configs/stages/pretrain.yaml's domains -> $(ART)/pretrain/default/
#   make ship PRETRAIN_RUN=default SHIP_NAME=<name>   package that run as the shipped model pretrained/<name>/
#                                            (then pin its manifest's SHA-256 in textcode/rec/pretrained.py)
#   make finetune RUN_NAME=vqrec_pretrained DOMAIN=Scientific   one fine-tuning run -> $(ART)/<domain>/models/<run>/
#   make results/scientific.json             every ablation row on Scientific, evaluated and reported
#   make ... LAUNCH="$(ENV_DIR)/bin/torchrun --standalone --nproc_per_node=2 -m"   the same stages on N processes
#
# A fine-tuning run is configs/runs/finetune/<run>.yaml, a pre-training run configs/runs/pretrain/<run>.yaml;
# the run plan (textcode plan, included by the Makefile) lists them and what each reads: FT_READS.<domain>.<run>
# (codes, text or nothing, from finetune.item_embedding), FT_PRETRAINED.<domain>.<run> (the folder of
# finetune.pretrained for init: pretrained: $(ART)/pretrain/<run>, or pretrained/<name> for a shipped model)
# and INPUT_DOMAINS.pretrain.<run> (pretrain.domains). Every domain gets every run.

LAUNCH ?= $(RUN)
SERVING_RUN ?= vqrec_pretrained
PRETRAIN_RUN ?= default

DOMAIN_STAGES += $(addprefix finetune.,$(FINETUNE_RUNS))


.PHONY: pretrain ship finetune export

# ---------------------------------------------------------------- pre-training (domain-free)
PRETRAIN_CONFIGS := $(foreach r,$(PRETRAIN_RUNS),$(ART)/pretrain/config/pretrain.$(r).json)
# the configs hang off a never-written stamp (see the domain configs in Makefile)
$(ART)/pretrain/config/.resolve: FORCE | $(INSTALLED)
	+@$(RESOLVE) --configs $(CONFIGS) --outdir $(ART)/pretrain/config --stages $(addprefix pretrain.,$(PRETRAIN_RUNS)) $(SETS)
$(PRETRAIN_CONFIGS): $(ART)/pretrain/config/.resolve ;

define PRETRAIN_RULE
$(ART)/pretrain/$(1)/manifest.json: $(ART)/pretrain/config/pretrain.$(1).json $$(foreach d,$$(INPUT_DOMAINS.pretrain.$(1)),$(ART)/$$(d)/prepared/manifest.json $(ART)/$$(d)/text/manifest.json) $(DEPS.pretrain) | $(INSTALLED)
	$$(LAUNCH) textcode pretrain --config $$< --art $(ART) --out $$(@D)
endef
$(foreach r,$(PRETRAIN_RUNS),$(eval $(call PRETRAIN_RULE,$(r))))

pretrain: $(ART)/pretrain/$(PRETRAIN_RUN)/manifest.json

# Not a file rule: the shipped folder is committed, and a fine-tune that depends on it must never start a
# pre-training; `make ship` is run by hand when a better pre-training is to be shipped.
SHIP_NAME ?= vqrec-amazon7-minilm
ship: $(ART)/pretrain/$(PRETRAIN_RUN)/manifest.json | $(INSTALLED)
	$(RUN) textcode ship --pretrained $(ART)/pretrain/$(PRETRAIN_RUN) --name $(SHIP_NAME) --out pretrained/$(SHIP_NAME)

# ---------------------------------------------------------------- fine-tuning runs (per domain and run)
# A run gets the item inputs its item-embedding kind reads (code runs the domain's codes, text_only its
# text embeddings, sasrec_id neither, so new codes do not retrain it) and, when it has one, its
# pre-trained model.
define FINETUNE_RULE
$(ART)/$(1)/models/$(2)/manifest.json: $(ART)/$(1)/config/finetune.$(2).json $(ART)/$(1)/prepared/manifest.json $(foreach k,$(FT_READS.$(1).$(2)),$(ART)/$(1)/$(k)/manifest.json) $(if $(FT_PRETRAINED.$(1).$(2)),$(FT_PRETRAINED.$(1).$(2))/manifest.json) $(DEPS.finetune) | $(INSTALLED)
	$$(LAUNCH) textcode finetune --config $$< --prepared $(ART)/$(1)/prepared $(foreach k,$(FT_READS.$(1).$(2)),--$(k) $(ART)/$(1)/$(k)) $(if $(FT_PRETRAINED.$(1).$(2)),--pretrained $(FT_PRETRAINED.$(1).$(2))) --out $$(@D)
endef
$(foreach d,$(ALL_DOMAINS),$(foreach r,$(FINETUNE_RUNS),$(eval $(call FINETUNE_RULE,$(d),$(r)))))

finetune: $(ART)/$(DOMAIN)/models/$(RUN_NAME)/manifest.json

# ---------------------------------------------------------------- headline: the Scientific ablation table
# the table's rows, in order
SCIENTIFIC_ROWS := vqrec_pretrained vqrec_zero_shot vqrec_pretrained_history vqrec_pretrained_id fused_pretrained fused_scratch text_pretrained vqrec_pretrained_all vqrec_scratch vqrec_no_semisynthetic vqrec_no_permutation sasrec_id text_only ease
results/scientific.json: $(foreach r,$(SCIENTIFIC_ROWS),$(ART)/Scientific/eval/$(r)/manifest.json) $(ART)/Scientific/config/report.json $(DEPS.report) $(CONFIGS)/published.yaml | $(INSTALLED)
	$(RUN) textcode report --config $(ART)/Scientific/config/report.json $(foreach r,$(SCIENTIFIC_ROWS),--eval $(r)=$(ART)/Scientific/eval/$(r)) --reference vqrec_pretrained --published $(CONFIGS)/published.yaml --out $(REPORTS)/Scientific-ablation --results $@

# ---------------------------------------------------------------- serving export (item index + sequence model)
DOMAIN_STAGES += export
$(ART)/%/serving/manifest.json: $(ART)/%/models/$(SERVING_RUN)/manifest.json $(ART)/%/prepared/manifest.json $(ART)/%/codes/manifest.json $(ART)/%/config/export.json $(DEPS.export) | $(INSTALLED)
	$(RUN) textcode export --config $(ART)/$*/config/export.json --model $(ART)/$*/models/$(SERVING_RUN) --prepared $(ART)/$*/prepared --codes $(ART)/$*/codes --out $(@D)
export: $(ART)/$(DOMAIN)/serving/manifest.json

# ---------------------------------------------------------------- speed and memory (run on a quiet machine)
results/bench_finetune.json: $(DEPS.bench_finetune) $(ART)/pretrain/config/pretrain.default.json \
  $(ART)/Scientific/config/finetune.vqrec_pretrained.json \
  $(ART)/Scientific/codes/manifest.json $(foreach d,$(INPUT_DOMAINS.pretrain.default),$(ART)/$(d)/prepared/manifest.json) | $(INSTALLED)
	$(RUN) bench.bench_finetune --art $(ART) --pretrain-config $(ART)/pretrain/config/pretrain.default.json \
	  --finetune-config $(ART)/Scientific/config/finetune.vqrec_pretrained.json --out $@
