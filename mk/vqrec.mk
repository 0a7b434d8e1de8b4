# VQ-Rec: mixed-domain pre-training -> fine-tuning runs on a target domain -> evaluate -> report.
#
#   make pretrain PRETRAIN_RUN=default       pre-train on configs/stages/pretrain.yaml's domains -> $(ART)/pretrain/default/
#   make finetune RUN_NAME=vqrec_pretrained DOMAIN=Scientific   one fine-tuning run -> $(ART)/<domain>/models/<run>/
#   make results/scientific.json             every ablation row on Scientific, evaluated and reported
#   make ... LAUNCH="$(ENV_DIR)/bin/torchrun --standalone --nproc_per_node=2 -m"   the same stages on N processes
#
# A fine-tuning run is configs/runs/finetune/<run>.yaml; PRETRAIN_OF.<run> names the pre-training
# run it starts from (none: trained from scratch). Demo domains start from the `demo` pre-training.

LAUNCH ?= $(RUN)
SERVING_RUN ?= vqrec_pretrained
PRETRAIN_RUN ?= default
PRETRAIN_RUNS := default no_semisynthetic demo
FT_RUNS := vqrec_pretrained vqrec_pretrained_all vqrec_scratch vqrec_no_semisynthetic vqrec_no_permutation sasrec_id text_only
PRETRAIN_OF.vqrec_pretrained := default
PRETRAIN_OF.vqrec_pretrained_all := default
PRETRAIN_OF.vqrec_no_permutation := default
PRETRAIN_OF.vqrec_no_semisynthetic := no_semisynthetic
pretrain_of = $(if $(PRETRAIN_OF.$(2)),$(if $(filter demo-%,$(1)),demo,$(PRETRAIN_OF.$(2))))

DOMAIN_STAGES += $(addprefix finetune.,$(FT_RUNS))


.PHONY: pretrain finetune export

# ---------------------------------------------------------------- pre-training (domain-free)
# The resolver also writes deps.mk: INPUT_DOMAINS.pretrain.<run>, read from the same YAML as the settings.
PRETRAIN_CONFIGS := $(foreach r,$(PRETRAIN_RUNS),$(ART)/pretrain/config/pretrain.$(r).json)
# deps.mk and the configs hang off a never-written stamp (see the domain configs in Makefile)
$(ART)/pretrain/config/.resolve: FORCE | $(INSTALLED)
	+@$(RESOLVE) --configs $(CONFIGS) --outdir $(ART)/pretrain/config --stages $(addprefix pretrain.,$(PRETRAIN_RUNS)) --mk $(ART)/pretrain/config/deps.mk $(SETS)
$(PRETRAIN_CONFIGS) $(ART)/pretrain/config/deps.mk: $(ART)/pretrain/config/.resolve ;
-include $(ART)/pretrain/config/deps.mk

define PRETRAIN_RULE
$(ART)/pretrain/$(1)/manifest.json: $(ART)/pretrain/config/pretrain.$(1).json $$(foreach d,$$(INPUT_DOMAINS.pretrain.$(1)),$(ART)/$$(d)/prepared/manifest.json $(ART)/$$(d)/text/manifest.json) $(DEPS.pretrain) | $(INSTALLED)
	$$(LAUNCH) textcode pretrain --config $$< --art $(ART) --out $$(@D)
endef
$(foreach r,$(PRETRAIN_RUNS),$(eval $(call PRETRAIN_RULE,$(r))))

pretrain: $(ART)/pretrain/$(PRETRAIN_RUN)/manifest.json

# ---------------------------------------------------------------- fine-tuning runs (per domain and run)
# A run gets the item inputs its config's finetune.item_embedding reads (FT_READS: code runs the
# domain's codes, text_only its text embeddings, sasrec_id neither, so new codes do not retrain it;
# the stage refuses a run whose input is missing) and, when it has one, its pre-trained model.
FT_READS.sasrec_id :=
FT_READS.text_only := text
ft_reads = $(if $(filter undefined,$(origin FT_READS.$(1))),codes,$(FT_READS.$(1)))
define FINETUNE_RULE
$(ART)/$(1)/models/$(2)/manifest.json: $(ART)/$(1)/config/finetune.$(2).json $(ART)/$(1)/prepared/manifest.json $(foreach k,$(call ft_reads,$(2)),$(ART)/$(1)/$(k)/manifest.json) $(if $(call pretrain_of,$(1),$(2)),$(ART)/pretrain/$(call pretrain_of,$(1),$(2))/manifest.json) $(DEPS.finetune) | $(INSTALLED)
	$$(LAUNCH) textcode finetune --config $$< --prepared $(ART)/$(1)/prepared $(foreach k,$(call ft_reads,$(2)),--$(k) $(ART)/$(1)/$(k)) $(if $(call pretrain_of,$(1),$(2)),--pretrained $(ART)/pretrain/$(call pretrain_of,$(1),$(2))) --out $$(@D)
endef
$(foreach d,$(DEMO_TEXT_DOMAINS) Scientific,$(foreach r,$(FT_RUNS),$(eval $(call FINETUNE_RULE,$(d),$(r)))))

finetune: $(ART)/$(DOMAIN)/models/$(RUN_NAME)/manifest.json

# ---------------------------------------------------------------- headline: the Scientific ablation table
SCIENTIFIC_ROWS := $(FT_RUNS) ease
results/scientific.json: $(foreach r,$(SCIENTIFIC_ROWS),$(ART)/Scientific/eval/$(r)/manifest.json) $(ART)/Scientific/config/report.json $(DEPS.report) configs/published.yaml | $(INSTALLED)
	$(RUN) textcode report --config $(ART)/Scientific/config/report.json $(foreach r,$(SCIENTIFIC_ROWS),--eval $(r)=$(ART)/Scientific/eval/$(r)) --reference vqrec_pretrained --out $(REPORTS)/Scientific --results $@

# ---------------------------------------------------------------- demo: the same chain on the embedded sample
DEMO_FT_RUNS := vqrec_pretrained vqrec_scratch sasrec_id
EVAL_RUNS += $(DEMO_FT_RUNS)
DEMO_TARGETS += $(foreach r,$(DEMO_FT_RUNS),$(ART)/demo-scientific/eval/$(r)/manifest.json)

# ---------------------------------------------------------------- serving export (item index + sequence model)
DOMAIN_STAGES += export
$(ART)/%/serving/manifest.json: $(ART)/%/models/$(SERVING_RUN)/manifest.json $(ART)/%/prepared/manifest.json $(ART)/%/codes/manifest.json $(ART)/%/config/export.json $(DEPS.export) | $(INSTALLED)
	$(RUN) textcode export --config $(ART)/$*/config/export.json --model $(ART)/$*/models/$(SERVING_RUN) --prepared $(ART)/$*/prepared --codes $(ART)/$*/codes --out $(@D)
export: $(ART)/$(DOMAIN)/serving/manifest.json
DEMO_TARGETS += $(ART)/demo-scientific/serving/manifest.json

# ---------------------------------------------------------------- speed and memory (run on a quiet machine)
results/bench_finetune.json: $(DEPS.bench_finetune) $(ART)/pretrain/config/pretrain.default.json \
  $(ART)/Scientific/config/finetune.vqrec_pretrained.json \
  $(ART)/Scientific/codes/manifest.json $(foreach d,$(INPUT_DOMAINS.pretrain.default),$(ART)/$(d)/prepared/manifest.json) | $(INSTALLED)
	$(RUN) bench.bench_finetune --art $(ART) --pretrain-config $(ART)/pretrain/config/pretrain.default.json \
	  --finetune-config $(ART)/Scientific/config/finetune.vqrec_pretrained.json --out $@
