# Generation studies (experiments/): train-on-synthetic utility, the Scientific augmentation, the
# sampling-temperature sweep, per-level temperatures, synthetic volume, and results/rsvqae.json.
# They build on the core generation chain of mk/generate.mk (GEN_RULES) and on `textcode finetune`;
# their own commands run as `python -m experiments <command>`.
#
#   make gen-utility GEN_DOMAIN=movielens-1m GEN_L=20   SASRec-ID trained on generated vs real windows
#   make gen-augment                   SASRec-ID on Scientific vs Scientific + RSVQ-AE windows
#   make results/rsvqae.json           every run x domain x length, then the report (reports/generation/)
#   make results/sampling_sweep.json   samplers at several temperatures, chosen on validation windows
#   make results/level_temperature.json RSVQ-AE's prior sharpened at its finest code level only
#   make results/synthetic_volume.json SASRec-IDs on 2x, 4x the utility test's size of RSVQ-AE windows (real: 2x)
#   make results/synthetic_volume_8x.json  the same at 8x for MovieLens-1M L=20

.PHONY: gen-utility gen-augment

# ---------------------------------------------------------------- utility: SASRec-ID trained on generated windows
# For each (domain, L): SASRec-ID (stage finetune, run sasrec_id) trained on N generated windows of
# each sampler, and on N real training windows (N = the number of held-out test windows), each
# tested on the real held-out test windows: one event per window, its last item predicted from
# everything its user did before it (utility-data --kind test-windows; 5,379 events from 604 users at
# MovieLens-1M L=20, where each user's last item alone gave 604 and intervals of +-17% of train-on-real).
# An epoch budget with early stopping, not minutes: a 2-minute budget stopped these models while they were
# still improving, so the comparison followed the machine's speed and load. Patience 10 and up to 100
# epochs: with 30 epochs and patience 3 the train-on-real models stopped too early (MovieLens-1M L=20 at
# the cap, best at 29; L=100 on a noisy validation dip), and a longer run raised them 9% and 16% while
# synthetic-trained models gained nothing, which flattered the train-on-synthetic share
GEN_UTILITY_SET ?= finetune:train.epochs=100 finetune:train.patience=10 finetune:train.max_minutes=0

define GEN_UTILITY_RULES
$(ART)/$(1)/gen/L$(2)/utility/config/finetune.sasrec_id.json $(ART)/$(1)/gen/L$(2)/utility/config/evaluate-utility.json: $(ART)/$(1)/gen/L$(2)/utility/config/.resolve ;
$(ART)/$(1)/gen/L$(2)/utility/config/.resolve: FORCE | $(INSTALLED)
	@$$(RESOLVE) --domain $(1) --configs $(CONFIGS) --outdir $(ART)/$(1)/gen/L$(2)/utility/config \
	  --stages finetune.sasrec_id evaluate-utility $(foreach s,$(GEN_UTILITY_SET),--set $(s)) $$(SETS)

$(ART)/$(1)/gen/L$(2)/utility/test-windows/manifest.json: $(ART)/$(1)/gen/L$(2)/rsvq/model/manifest.json $(DEPS.utility-data) | $(INSTALLED)
	$$(RUN) experiments utility-data --kind test-windows --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/rsvq/model --out $$(@D)

$(ART)/$(1)/gen/L$(2)/utility/valid-windows/manifest.json: $(ART)/$(1)/gen/L$(2)/rsvq/model/manifest.json $(DEPS.utility-data) | $(INSTALLED)
	$$(RUN) experiments utility-data --kind valid-windows --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/rsvq/model --out $$(@D)

$(ART)/$(1)/gen/L$(2)/utility/real/eval-valid/manifest.json: $(ART)/$(1)/gen/L$(2)/utility/real/model/manifest.json \
  $(ART)/$(1)/gen/L$(2)/utility/valid-windows/manifest.json $(ART)/$(1)/gen/L$(2)/utility/config/evaluate-utility.json \
  $(DEPS.evaluate-utility) | $(INSTALLED)
	$$(RUN) experiments evaluate-utility --config $(ART)/$(1)/gen/L$(2)/utility/config/evaluate-utility.json \
	  --model $(ART)/$(1)/gen/L$(2)/utility/real/model --prepared $(ART)/$(1)/gen/L$(2)/utility/valid-windows --out $$(@D)

$(ART)/$(1)/gen/L$(2)/utility/real/train/manifest.json: $(ART)/$(1)/gen/L$(2)/rsvq/model/manifest.json $(DEPS.utility-data) | $(INSTALLED)
	$$(RUN) experiments utility-data --kind real-train --like-test --prepared $(ART)/$(1)/prepared \
	  --generator $(ART)/$(1)/gen/L$(2)/rsvq/model --out $$(@D)

$(ART)/$(1)/gen/L$(2)/utility/%/train/manifest.json: $(ART)/$(1)/gen/L$(2)/%/samples/manifest.json $(DEPS.utility-data) | $(INSTALLED)
	$$(RUN) experiments utility-data --kind samples --prepared $(ART)/$(1)/prepared --samples $(ART)/$(1)/gen/L$(2)/$$*/samples --out $$(@D)

$(ART)/$(1)/gen/L$(2)/utility/%/model/manifest.json: $(ART)/$(1)/gen/L$(2)/utility/%/train/manifest.json \
  $(ART)/$(1)/gen/L$(2)/utility/config/finetune.sasrec_id.json $(DEPS.finetune) | $(INSTALLED)
	$$(RUN) textcode finetune --config $(ART)/$(1)/gen/L$(2)/utility/config/finetune.sasrec_id.json \
	  --prepared $(ART)/$(1)/gen/L$(2)/utility/$$*/train --out $$(@D)

$(ART)/$(1)/gen/L$(2)/utility/%/eval/manifest.json: $(ART)/$(1)/gen/L$(2)/utility/%/model/manifest.json \
  $(ART)/$(1)/gen/L$(2)/utility/test-windows/manifest.json $(ART)/$(1)/gen/L$(2)/utility/config/evaluate-utility.json \
  $(DEPS.evaluate-utility) | $(INSTALLED)
	$$(RUN) experiments evaluate-utility --config $(ART)/$(1)/gen/L$(2)/utility/config/evaluate-utility.json \
	  --model $(ART)/$(1)/gen/L$(2)/utility/$$*/model --prepared $(ART)/$(1)/gen/L$(2)/utility/test-windows --out $$(@D)
endef
$(foreach d,$(sort $(GEN_DOMAINS) $(GEN_DOMAIN) demo-movielens),$(foreach l,$(sort $(GEN_LENGTHS) $(GEN_L)),\
  $(eval $(call GEN_UTILITY_RULES,$(d),$(l)))))

gen-utility: $(foreach r,real $(GEN_SAMPLERS),$(ART)/$(GEN_DOMAIN)/gen/L$(GEN_L)/utility/$(r)/eval/manifest.json)

# ---------------------------------------------------------------- sampling temperature sweep
# Per cell of SWEEP_CELLS (<domain>/<L>), each sampler at each temperature: samples, their metrics
# (evaluate-generation), and a SASRec-ID trained on them (the utility config) scored on the generator's
# validation windows, which choose each sampler's temperature, and on its test windows, which report it.
#   $(ART)/<domain>/gen/L<L>/sweep/<run>@<T>/{config,samples,eval,train,model,valid,test}/
SWEEP_CELLS ?= movielens-1m/20 movielens-1m/100
SWEEP_TEMPERATURES ?= 1.0 0.8 0.7 0.6
# RSVQ-AE only by default: under the former utility settings (30 epochs, patience 3) the VAE and VQ-VAE
# stayed at or below 16% and 30% of train-on-real at every temperature, with popularity JS >= .06 (README
# of commit 60762d3); SWEEP_SAMPLERS="rsvq vae vqvae" sweeps them too
SWEEP_SAMPLERS ?= rsvq
SWEEP_REPORT ?= reports/sampling_sweep
# Per-level temperatures (make results/level_temperature.json): RSVQ-AE's prior sharpened at its finest
# level only, beside uniform T=0.8 (the sweep's point within the popularity target), scored like the sweep
LEVEL_T_CELLS ?= movielens-1m/20
LEVEL_T_SETTINGS ?= 0.8 0.8-1.0-1.0 0.7-1.0-1.0 0.6-1.0-1.0
LEVEL_T_REPORT ?= reports/level_temperature

# A point's sampling setting: a temperature (0.8), or one per code level, finest first, joined by "-"
# (0.6-1.0-1.0: generate.level_temperatures, code priors only)
comma := ,
_sampling_sets = $(if $(findstring -,$(1)),--set 'generate.level_temperatures=[$(subst -,$(comma),$(1))]',--set generate.temperature=$(1))

# SWEEP_RULES(domain, L, run, sampling setting)
define SWEEP_RULES
$(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/config/generate.json $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/config/evaluate-generation.json: $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/config/.resolve ;
$(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/config/.resolve: FORCE | $(INSTALLED)
	@$$(RESOLVE) --domain $(1) --configs $(CONFIGS) --outdir $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/config \
	  --stages generate evaluate-generation --set windows.length=$(2) $(call _sampling_sets,$(4)) \
	  $(foreach s,$(GEN_SET_$(1)),--set $(s)) $$(SETS)

$(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/samples/manifest.json: $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/config/generate.json \
  $(ART)/$(1)/gen/L$(2)/$(3)/model/manifest.json $(if $(filter $(3),$(GEN_PRIOR_RUNS)),$(ART)/$(1)/gen/L$(2)/$(3)/prior/manifest.json) \
  $(DEPS.generate) | $(INSTALLED)
	$$(RUN) textcode generate --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/$(3)/model \
	  $(if $(filter $(3),$(GEN_PRIOR_RUNS)),--prior $(ART)/$(1)/gen/L$(2)/$(3)/prior) --out $$(@D)

$(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/eval/manifest.json: $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/config/evaluate-generation.json \
  $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/samples/manifest.json $(DEPS.evaluate-generation) | $(INSTALLED)
	$$(RUN) textcode evaluate-generation --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/$(3)/model \
	  --samples $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/samples --out $$(@D)

$(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/train/manifest.json: $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/samples/manifest.json $(DEPS.utility-data) | $(INSTALLED)
	$$(RUN) experiments utility-data --kind samples --prepared $(ART)/$(1)/prepared --samples $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/samples --out $$(@D)

$(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/model/manifest.json: $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/train/manifest.json \
  $(ART)/$(1)/gen/L$(2)/utility/config/finetune.sasrec_id.json $(DEPS.finetune) | $(INSTALLED)
	$$(RUN) textcode finetune --config $(ART)/$(1)/gen/L$(2)/utility/config/finetune.sasrec_id.json \
	  --prepared $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/train --out $$(@D)

$(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/valid/manifest.json $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/test/manifest.json: $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/%/manifest.json: \
  $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/model/manifest.json $(ART)/$(1)/gen/L$(2)/utility/%-windows/manifest.json \
  $(ART)/$(1)/gen/L$(2)/utility/config/evaluate-utility.json $(DEPS.evaluate-utility) | $(INSTALLED)
	$$(RUN) experiments evaluate-utility --config $(ART)/$(1)/gen/L$(2)/utility/config/evaluate-utility.json \
	  --model $(ART)/$(1)/gen/L$(2)/sweep/$(3)@$(4)/model --prepared $(ART)/$(1)/gen/L$(2)/utility/$$*-windows --out $$(@D)
endef
_sweep_domain = $(word 1,$(subst /, ,$(1)))
_sweep_length = $(word 2,$(subst /, ,$(1)))
# <domain>/L<L>/<run>@<T> for every point, and its folder
_sweep_points = $(foreach c,$(1),$(foreach r,$(2),$(foreach t,$(3),$(call _sweep_domain,$(c))/L$(call _sweep_length,$(c))/$(r)@$(t))))
SWEEP_POINTS := $(call _sweep_points,$(SWEEP_CELLS),$(SWEEP_SAMPLERS),$(SWEEP_TEMPERATURES))
LEVEL_T_POINTS := $(call _sweep_points,$(LEVEL_T_CELLS),rsvq,$(LEVEL_T_SETTINGS))
# the rules of every point of the sweep and of the per-level comparison, once each (a point of both: one set)
_point_part = $(word $(2),$(subst /, ,$(subst @, ,$(1))))
$(foreach p,$(sort $(SWEEP_POINTS) $(LEVEL_T_POINTS)),$(eval $(call SWEEP_RULES,$(call _point_part,$(p),1),$(patsubst L%,%,$(call _point_part,$(p),2)),$(call _point_part,$(p),3),$(call _point_part,$(p),4))))
_sweep_dir = $(ART)/$(subst /L,/gen/L,$(dir $(1)))sweep/$(notdir $(1))
_sweep_cell_dir = $(ART)/$(call _sweep_domain,$(1))/gen/L$(call _sweep_length,$(1))
# _sweep_report_inputs(points, cells): the manifests report-sweep reads; _sweep_report_args(same): its arguments
_sweep_report_inputs = $(foreach p,$(1),$(foreach s,eval valid test,$(call _sweep_dir,$(p))/$(s)/manifest.json)) \
  $(foreach c,$(2),$(foreach s,eval-valid eval,$(call _sweep_cell_dir,$(c))/utility/real/$(s)/manifest.json))
_sweep_report_args = $(foreach p,$(1),--point $(p)=$(call _sweep_dir,$(p))) \
  $(foreach c,$(2),--real $(call _sweep_domain,$(c))/L$(call _sweep_length,$(c))=$(call _sweep_cell_dir,$(c))/utility/real)
results/sampling_sweep.json: $(call _sweep_report_inputs,$(SWEEP_POINTS),$(SWEEP_CELLS)) $(DEPS.report-sweep) | $(INSTALLED)
	$(RUN) experiments report-sweep $(call _sweep_report_args,$(SWEEP_POINTS),$(SWEEP_CELLS)) --out $(SWEEP_REPORT) --results $@

results/level_temperature.json: $(call _sweep_report_inputs,$(LEVEL_T_POINTS),$(LEVEL_T_CELLS)) $(DEPS.report-sweep) | $(INSTALLED)
	$(RUN) experiments report-sweep $(call _sweep_report_args,$(LEVEL_T_POINTS),$(LEVEL_T_CELLS)) --out $(LEVEL_T_REPORT) --results $@

# ---------------------------------------------------------------- synthetic volume
# Does more generated data close the gap? Per VOLUME_CELLS (<domain>/<L>), a SASRec-ID (the utility
# config) on k times the 1x size of the utility test (as many windows as the held-out test windows) of
# RSVQ-AE windows sampled at VOLUME_TEMPERATURE (k in VOLUME_FACTORS) and, for scale, of real training
# windows (VOLUME_REAL_CELLS, k in VOLUME_REAL_FACTORS: real ones run out, at 7.7x for MovieLens-1M L=20), each scored
# on the test windows. The 1x points are the utility test's real model and the sweep's point at
# VOLUME_TEMPERATURE (which SWEEP_TEMPERATURES must hold).
#   $(ART)/<domain>/gen/L<L>/volume/x<k>/rsvq/{config,samples,eval,train,model,test}/
#   $(ART)/<domain>/gen/L<L>/volume/x<k>/real/{train,model,eval}/
# Real windows only at L=20 and 2x by default: real-data models train the longest (the 1x L=20 one 86
# epochs), the 4x L=20 one was still improving after 32 epochs and over an hour here when it was
# stopped (its checkpoint resumes: VOLUME_REAL_FACTORS="2 4"), and L=100's were left out to fit the
# session that made the results (VOLUME_REAL_CELLS="movielens-1m/20 movielens-1m/100")
VOLUME_CELLS ?= movielens-1m/20 movielens-1m/100
VOLUME_TEMPERATURE ?= 0.8
VOLUME_FACTORS ?= 2 4
VOLUME_REAL_CELLS ?= movielens-1m/20
VOLUME_REAL_FACTORS ?= 2
VOLUME_REPORT ?= reports/synthetic_volume
# shell: k times the 1x window count of a cell (the size of its train-on-real set) -> $$n
_volume_n = n=$$$$(( $(2) * $$$$($(PY) -c 'import json, sys; print(json.load(open(sys.argv[1]))["summary"]["users"])' \
  $(ART)/$(1)/utility/real/train/manifest.json) ))

# VOLUME_MODEL_RULES(domain, L, factor, kind, test-scores subfolder): a SASRec-ID on volume/x<k>/<kind>/train
# and its test-window scores (rsvq/test: rsvq/eval holds the samples' metrics, as in the sweep; real/eval,
# as utility/real)
define VOLUME_MODEL_RULES
$(ART)/$(1)/gen/L$(2)/volume/x$(3)/$(4)/model/manifest.json: $(ART)/$(1)/gen/L$(2)/volume/x$(3)/$(4)/train/manifest.json \
  $(ART)/$(1)/gen/L$(2)/utility/config/finetune.sasrec_id.json $(DEPS.finetune) | $(INSTALLED)
	$$(RUN) textcode finetune --config $(ART)/$(1)/gen/L$(2)/utility/config/finetune.sasrec_id.json \
	  --prepared $(ART)/$(1)/gen/L$(2)/volume/x$(3)/$(4)/train --out $$(@D)

$(ART)/$(1)/gen/L$(2)/volume/x$(3)/$(4)/$(5)/manifest.json: $(ART)/$(1)/gen/L$(2)/volume/x$(3)/$(4)/model/manifest.json \
  $(ART)/$(1)/gen/L$(2)/utility/test-windows/manifest.json $(ART)/$(1)/gen/L$(2)/utility/config/evaluate-utility.json \
  $(DEPS.evaluate-utility) | $(INSTALLED)
	$$(RUN) experiments evaluate-utility --config $(ART)/$(1)/gen/L$(2)/utility/config/evaluate-utility.json \
	  --model $(ART)/$(1)/gen/L$(2)/volume/x$(3)/$(4)/model --prepared $(ART)/$(1)/gen/L$(2)/utility/test-windows --out $$(@D)
endef

# VOLUME_RSVQ_RULES(domain, L, factor)
define VOLUME_RSVQ_RULES
$(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/config/generate.json $(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/config/evaluate-generation.json: $(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/config/.resolve ;
$(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/config/.resolve: $(ART)/$(1)/gen/L$(2)/utility/real/train/manifest.json FORCE | $(INSTALLED)
	@$(call _volume_n,$(1)/gen/L$(2),$(3)) && $$(RESOLVE) --domain $(1) --configs $(CONFIGS) \
	  --outdir $(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/config --stages generate evaluate-generation \
	  --set windows.length=$(2) --set generate.temperature=$(VOLUME_TEMPERATURE) --set generate.n_sequences=$$$$n \
	  $(foreach s,$(GEN_SET_$(1)),--set $(s)) $$(SETS)

$(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/samples/manifest.json: $(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/config/generate.json \
  $(ART)/$(1)/gen/L$(2)/rsvq/model/manifest.json $(ART)/$(1)/gen/L$(2)/rsvq/prior/manifest.json $(DEPS.generate) | $(INSTALLED)
	$$(RUN) textcode generate --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/rsvq/model \
	  --prior $(ART)/$(1)/gen/L$(2)/rsvq/prior --out $$(@D)

$(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/eval/manifest.json: $(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/config/evaluate-generation.json \
  $(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/samples/manifest.json $(DEPS.evaluate-generation) | $(INSTALLED)
	$$(RUN) textcode evaluate-generation --config $$< --prepared $(ART)/$(1)/prepared --generator $(ART)/$(1)/gen/L$(2)/rsvq/model \
	  --samples $(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/samples --out $$(@D)

$(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/train/manifest.json: $(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/samples/manifest.json $(DEPS.utility-data) | $(INSTALLED)
	$$(RUN) experiments utility-data --kind samples --prepared $(ART)/$(1)/prepared --samples $(ART)/$(1)/gen/L$(2)/volume/x$(3)/rsvq/samples --out $$(@D)
$(call VOLUME_MODEL_RULES,$(1),$(2),$(3),rsvq,test)
endef

# VOLUME_REAL_RULES(domain, L, factor)
define VOLUME_REAL_RULES
$(ART)/$(1)/gen/L$(2)/volume/x$(3)/real/train/manifest.json: $(ART)/$(1)/gen/L$(2)/utility/real/train/manifest.json $(DEPS.utility-data) | $(INSTALLED)
	@$(call _volume_n,$(1)/gen/L$(2),$(3)) && $$(RUN) experiments utility-data --kind real-train --n $$$$n --prepared $(ART)/$(1)/prepared \
	  --generator $(ART)/$(1)/gen/L$(2)/rsvq/model --out $$(@D)
$(call VOLUME_MODEL_RULES,$(1),$(2),$(3),real,eval)
endef
$(foreach c,$(sort $(VOLUME_CELLS) $(VOLUME_8X_CELLS)),$(foreach k,$(sort $(VOLUME_FACTORS) 8),\
  $(eval $(call VOLUME_RSVQ_RULES,$(call _sweep_domain,$(c)),$(call _sweep_length,$(c)),$(k)))))
$(foreach c,$(VOLUME_REAL_CELLS),$(foreach k,$(VOLUME_REAL_FACTORS),\
  $(eval $(call VOLUME_REAL_RULES,$(call _sweep_domain,$(c)),$(call _sweep_length,$(c)),$(k)))))

# _volume_args(domain, L, RSVQ-AE factors, real factors): --real/--rsvq <cell>x<k>=<folder> for the 1x
# points and every factor; _volume_inputs(same): the manifests they read
_volume_args = --real $(1)/L$(2)x1=$(ART)/$(1)/gen/L$(2)/utility/real \
  --rsvq $(1)/L$(2)x1=$(ART)/$(1)/gen/L$(2)/sweep/rsvq@$(VOLUME_TEMPERATURE) \
  $(foreach k,$(4),--real $(1)/L$(2)x$(k)=$(ART)/$(1)/gen/L$(2)/volume/x$(k)/real) \
  $(foreach k,$(3),--rsvq $(1)/L$(2)x$(k)=$(ART)/$(1)/gen/L$(2)/volume/x$(k)/rsvq)
_volume_inputs = $(ART)/$(1)/gen/L$(2)/utility/real/eval/manifest.json $(ART)/$(1)/gen/L$(2)/utility/real/train/manifest.json \
  $(foreach s,eval test train,$(ART)/$(1)/gen/L$(2)/sweep/rsvq@$(VOLUME_TEMPERATURE)/$(s)/manifest.json) \
  $(foreach k,$(4),$(foreach s,train eval,$(ART)/$(1)/gen/L$(2)/volume/x$(k)/real/$(s)/manifest.json)) \
  $(foreach k,$(3),$(foreach s,eval train test,$(ART)/$(1)/gen/L$(2)/volume/x$(k)/rsvq/$(s)/manifest.json))
# the real factors of a cell <domain>/<L>
_volume_real = $(if $(filter $(1),$(VOLUME_REAL_CELLS)),$(VOLUME_REAL_FACTORS))
results/synthetic_volume.json: $(foreach c,$(VOLUME_CELLS),$(call _volume_inputs,$(call _sweep_domain,$(c)),$(call _sweep_length,$(c)),$(VOLUME_FACTORS),$(call _volume_real,$(c)))) \
  $(DEPS.report-volume) | $(INSTALLED)
	$(RUN) experiments report-volume $(foreach c,$(VOLUME_CELLS),$(call _volume_args,$(call _sweep_domain,$(c)),$(call _sweep_length,$(c)),$(VOLUME_FACTORS),$(call _volume_real,$(c)))) \
	  --out $(VOLUME_REPORT) --results $@

# 8x the utility test's size for VOLUME_8X_CELLS, beside the 1x points: the follow-up for the cell that
# 4x left short of the 70% target. Its own target and report, so results/synthetic_volume.json does not
# wait for its SASRec-ID (43k windows at L=20: 37 epochs of about 4 minutes each on two threads here)
VOLUME_8X_CELLS ?= movielens-1m/20
VOLUME_8X_REPORT ?= reports/synthetic_volume_8x
results/synthetic_volume_8x.json: $(foreach c,$(VOLUME_8X_CELLS),$(call _volume_inputs,$(call _sweep_domain,$(c)),$(call _sweep_length,$(c)),8,)) \
  $(DEPS.report-volume) | $(INSTALLED)
	$(RUN) experiments report-volume $(foreach c,$(VOLUME_8X_CELLS),$(call _volume_args,$(call _sweep_domain,$(c)),$(call _sweep_length,$(c)),8,)) \
	  --out $(VOLUME_8X_REPORT) --results $@

# ---------------------------------------------------------------- augmentation: Scientific + generated windows
# SASRec-ID on Scientific alone vs on Scientific + RSVQ-AE windows (generator: Scientific, L=20, rsvq),
# both tested on Scientific's leave-one-out test split by the same stage.
AUG := $(ART)/Scientific/augment
$(AUG)/config/finetune.sasrec_id.json $(AUG)/config/evaluate-utility.json: $(AUG)/config/.resolve ;
$(AUG)/config/.resolve: FORCE | $(INSTALLED)
	@$(RESOLVE) --domain Scientific --configs $(CONFIGS) --outdir $(AUG)/config \
	  --stages finetune.sasrec_id evaluate-utility $(foreach s,$(GEN_UTILITY_SET),--set $(s)) $(SETS)

$(AUG)/augmented/train/manifest.json: $(ART)/Scientific/gen/L20/rsvq/samples/manifest.json $(DEPS.utility-data) | $(INSTALLED)
	$(RUN) experiments utility-data --kind augmented --prepared $(ART)/Scientific/prepared --samples $(ART)/Scientific/gen/L20/rsvq/samples --out $(@D)

$(AUG)/%/model/manifest.json: $(AUG)/config/finetune.sasrec_id.json $$(if $$(filter real,$$*),$(ART)/Scientific/prepared/manifest.json,$(AUG)/$$*/train/manifest.json) \
  $(DEPS.finetune) | $(INSTALLED)
	$(RUN) textcode finetune --config $< --prepared $(if $(filter real,$*),$(ART)/Scientific/prepared,$(AUG)/$*/train) --out $(@D)

$(AUG)/%/eval/manifest.json: $(AUG)/%/model/manifest.json $(AUG)/config/evaluate-utility.json $(ART)/Scientific/prepared/manifest.json \
  $(DEPS.evaluate-utility) | $(INSTALLED)
	$(RUN) experiments evaluate-utility --config $(AUG)/config/evaluate-utility.json --model $(AUG)/$*/model \
	  --prepared $(ART)/Scientific/prepared --out $(@D)

gen-augment: $(AUG)/real/eval/manifest.json $(AUG)/augmented/eval/manifest.json

# ---------------------------------------------------------------- the full experiment and its report
GEN_EVALS := $(foreach d,$(GEN_DOMAINS),$(foreach l,$(GEN_LENGTHS),$(foreach r,$(GEN_RUNS),$(d)/L$(l)/$(r))))

GEN_UTILITY := $(foreach d,$(GEN_DOMAINS),$(foreach l,$(GEN_LENGTHS),$(foreach r,real $(GEN_SAMPLERS),$(d)/L$(l)/$(r))))
GEN_AUGMENT := Scientific/real Scientific/augmented

results/rsvqae.json: $(foreach e,$(GEN_EVALS),$(ART)/$(subst /L,/gen/L,$(e))/eval/manifest.json) \
  $(foreach u,$(GEN_UTILITY),$(ART)/$(subst /L,/gen/L,$(dir $(u)))utility/$(notdir $(u))/eval/manifest.json) \
  $(foreach a,$(GEN_AUGMENT),$(AUG)/$(notdir $(a))/eval/manifest.json) \
  $(DEPS.report-generation) $(CONFIGS)/published.yaml | $(INSTALLED)
	$(RUN) experiments report-generation $(foreach e,$(GEN_EVALS),--eval $(e)=$(ART)/$(subst /L,/gen/L,$(e))/eval) \
	  $(foreach u,$(GEN_UTILITY),--utility $(u)=$(ART)/$(subst /L,/gen/L,$(dir $(u)))utility/$(notdir $(u))/eval) \
	  $(foreach a,$(GEN_AUGMENT),--augment $(a)=$(AUG)/$(notdir $(a))/eval) --out $(GEN_REPORTS) --results $@

