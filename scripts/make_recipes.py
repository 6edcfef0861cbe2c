#!/usr/bin/env python3
"""Writes the shipped recipes (recipes/**/*.json) from the consolidated tables of the LT literature.

Each recipe is a tailor config (train/config.h): each stage's method, and otherwise only the keys that differ
from the defaults, are written. Run from the repository root: python3 scripts/make_recipes.py. Every recipe is checked by
tests/test_config.cpp (it must resolve against the schema).
"""
import copy
import json
import os

# CIFAR-LT (LDAM-DRW generation, exp profile, seed 0), ResNet-32 option A.
LDAM_SCHED = {"kind": "multistep", "warmup_epochs": 5, "milestones": [160, 180], "gamma": 0.01}
STEP_SCHED = {"kind": "multistep", "warmup_epochs": 5, "milestones": [160, 180], "gamma": 0.1}
SGD_2E4 = {"lr": 0.1, "momentum": 0.9, "weight_decay": 2e-4}


def cifar_base(dataset, rho=100):
    return {
        "data": {"dataset": dataset, "root": f"data/{dataset}", "imbalance": {"profile": "exp", "ratio": rho, "seed": 0},
                 "augment": "cifar", "workers": 4},
        "model": {"arch": "resnet32", "head": "linear"},
        "stage1": {"epochs": 200, "batch_size": 128, "loss": {"name": "ce"}, "sampler": {"name": "instance"},
                   "optim": dict(SGD_2E4), "schedule": dict(LDAM_SCHED)},
        "eval": {"every_epochs": 1, "select": "test"},
    }


# Balanced Softmax's stage 1 as the BALMS repository runs it (config/CIFAR*_LT/*_imba200.yaml): batch 512, an
# iteration budget turned into epochs as its code does (num_epochs = ceil(iters / ceil(N/512)), every epoch cut at
# floor(N/512) steps, so fewer iterations run than the budget names), lr warm-up 0.05 -> 0.1 over ceil(800 /
# ceil(N/512)) epochs then cosine, AutoAugment + Cutout.
def bs_stage1(dataset, rho=200, loss="balanced_softmax"):
    b = cifar_base(dataset, rho=rho)
    n = {("cifar10", 200): 11203, ("cifar100", 200): 9502,
         ("cifar10", 100): 12406, ("cifar100", 100): 10847}[(dataset, rho)]  # the LT subset's size
    steps, batches = n // 512, -(-n // 512)
    b["data"]["augment"] = "cifar_autoaugment"
    b["stage1"].update({"epochs": -(-13000 // batches), "batch_size": 512, "max_steps_per_epoch": steps,
                        "loss": {"name": loss},
                        "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
                        "schedule": {"kind": "cosine", "warmup_epochs": -(-800 // batches) - 1,
                                     "warmup_from": 0.5}})
    return b, n, steps, batches


def cifar_recipes(dataset):
    c100 = dataset == "cifar100"
    r = {}
    b = cifar_base(dataset)
    b["description"] = ("Cross-entropy baseline of the LDAM-DRW repository: Linear head, batch 128, lr 0.1 with 5 warm-up "
                        "epochs, x0.01 at 160 and 180, wd 2e-4, 200 epochs; best test top-1 over epochs.")
    r["ce"] = b

    b = cifar_base(dataset)
    b["description"] = "Focal loss (gamma 1, gradient through (1-p)^gamma as in the LDAM-DRW repository), LDAM schedule."
    b["stage1"]["loss"] = {"name": "focal", "gamma": 1.0, "detach_p": False}
    r["focal"] = b

    b = cifar_base(dataset)
    b["description"] = ("Class-balanced focal loss (Cui et al. 2019): effective-number weights beta 0.9999, gamma 1; "
                        "the TF recipe's schedule (warm-up 5, x0.01 at 160, x1e-4 at 180, wd 2e-4, batch 128) and "
                        "its sigmoid head: every class's bias starts at the prior 1/C (-log(C - 1)) and takes no "
                        "weight decay. Deviation: the warm-up rises per epoch (lr (e+1)/5), the reference's per step "
                        "from 0.")
    b["model"]["head_bias_prior"] = 0.01 if c100 else 0.1
    b["stage1"]["loss"] = {"name": "cb_focal", "beta": 0.9999, "gamma": 1.0}
    b["stage1"]["optim"]["decay_head_bias"] = False
    r["cb_focal"] = b

    b = cifar_base(dataset)
    b["description"] = ("LDAM-DRW (Cao et al. 2019): NormedLinear head, LDAM s 30 max_m 0.5, deferred re-weighting "
                        "(effective number, beta 0.9999) from epoch 160, LDAM schedule.")
    b["model"]["head"] = "normed"
    b["stage1"]["loss"] = {"name": "ldam", "s": 30, "max_m": 0.5, "train_rule": "DRW", "drw_epoch": 160, "beta": 0.9999}
    r["ldam_drw"] = b

    b = cifar_base(dataset)
    b["description"] = ("Logit-adjusted loss (Menon et al. 2021), tau 1. Assumption: the LDAM schedule (200 epochs) "
                        "instead of the paper's 1241-epoch Keras schedule.")
    b["stage1"]["loss"] = {"name": "logit_adjust", "tau": 1.0}
    r["logit_adjust"] = b

    b = cifar_base(dataset)
    b["description"] = ("Cross-entropy (the ce recipe), then post-hoc logit adjustment (Menon et al. 2021): the last "
                        "stage-1 classifier predicts argmax z_j - log(pi_j^tau + 1e-12), no training. CIFAR has no val "
                        "split: tau 1 (the paper's) is kept and every tau of 0, 0.1, ..., 2 is reported on test "
                        "(logit_adjust_sweep.json); --set stage2.choose_tau_on_test=true selects on test instead. "
                        "Assumption: the LDAM schedule instead of the paper's 1241-epoch Keras schedule.")
    b["stage2"] = {"method": "logit_adjust_posthoc", "load": "last", "tau": 1.0}
    r["ce_posthoc_la"] = b

    b, n, steps, batches = bs_stage1(dataset, rho=100)
    b["description"] = (f"Balanced Softmax end to end (the BALMS repository's CIFAR recipe, here at rho 100): batch 512, "
                        f"wd 5e-4, AutoAugment + Cutout; the repository's 13k-iteration budget counted as it counts it: "
                        f"{b['stage1']['epochs']} epochs = ceil(13000 / ceil(N/512)), each cut at floor(N/512) = {steps} "
                        f"steps, i.e. {b['stage1']['epochs'] * steps} iterations (N = {n}); lr 0.05 -> 0.1 over the "
                        f"first {b['stage1']['schedule']['warmup_epochs'] + 1} epochs (ceil(800 / ceil(N/512))), then "
                        f"cosine to 0.")
    r["balanced_softmax"] = b

    b = cifar_base(dataset)
    b["description"] = ("CE + mixup (alpha 1) representation, then cRT (Kang et al. 2020): classifier re-initialised and "
                        "trained 10 epochs on class-aware batches (4 per class), frozen backbone in eval mode, cosine "
                        "lr 0.1, batch 128. Stage-1 schedule x0.1 at 160 and 180 (MiSLAS).")
    b["stage1"]["mixup_alpha"] = 1.0
    b["stage1"]["schedule"] = dict(STEP_SCHED)
    b["stage2"] = {"method": "crt", "epochs": 10, "batch_size": 128, "load": "best", "bn_mode": "eval",
                   "loss": {"name": "ce"}, "sampler": {"name": "class_aware", "samples_per_class": 4},
                   "optim": dict(SGD_2E4), "schedule": {"kind": "cosine"}}
    r["ce_mixup_crt"] = b

    b = cifar_base(dataset)
    # MiSLAS config/cifar*_im100.yaml: smooth_head, smooth_tail, shift_bn, lr_factor
    smooth = (0.4, 0.1, "train", 0.2) if c100 else (0.3, 0.0, "eval", 0.5)
    b["description"] = ("MiSLAS (Zhong et al. 2021): CE + mixup (alpha 1) stage 1, then stage 2 on the frozen "
                        "backbone: the stage-1 classifier fine-tuned at lr_factor x lr with learnable per-class scales "
                        "(at lr), label-aware smoothing, class-aware batches (4 per class), 10 epochs, cosine from 0.1; "
                        "shifted BN (bn_mode train) for CIFAR-100. wd 5e-4 in both stages (the repository README's "
                        "advice for CIFAR-LT; its configs say 2e-4). Deviation: an epoch is floor(N / B) full "
                        "class-aware batches (cRT's rule), the reference's ceil(N / B) + 1.")
    b["stage1"]["mixup_alpha"] = 1.0
    b["stage1"]["schedule"] = dict(STEP_SCHED)
    b["stage1"]["optim"]["weight_decay"] = 5e-4
    b["stage2"] = {"method": "mislas", "epochs": 10, "batch_size": 128, "load": "best", "bn_mode": smooth[2],
                   "mislas": {"lr_factor": smooth[3]},
                   "loss": {"name": "las", "smooth_head": smooth[0], "smooth_tail": smooth[1]},
                   "sampler": {"name": "class_aware", "samples_per_class": 4},
                   "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}, "schedule": {"kind": "cosine"}}
    r["mislas"] = b

    b = cifar_base(dataset)
    b["description"] = ("GCL two-stage (Li et al. CVPR 2022), the repository's CIFAR recipe: stage 1 NormedLinear, GCL "
                        "s 30 m 0 nu 0.5 with mixup alpha 1, batch 64, lr 0.1 warm-up 5, x0.1 at 160, x0.01 at 180, "
                        "wd 2e-4, 200 epochs, best test checkpoint; stage 2 loads it, freezes the backbone (eval "
                        "mode), retrains the cosine classifier with GCL s 20 m 0.1 nu 0.5 + focal (gamma 1, detached "
                        "p), CBEN sampler, mixup 1, 30 epochs, lr 0.01 lr_max (1 + cos(pi e / 30)) = cosine from 0.002.")
    b["model"]["head"] = "normed"
    b["stage1"].update({"batch_size": 64, "mixup_alpha": 1.0,
                        "loss": {"name": "gcl", "s": 30, "m": 0.0, "noise_mul": 0.5},
                        "schedule": dict(STEP_SCHED)})
    b["stage2"] = {"method": "gcl_retrain", "epochs": 30, "batch_size": 64, "load": "best", "bn_mode": "eval",
                   "mixup_alpha": 1.0,
                   "loss": {"name": "gcl", "s": 20, "m": 0.1, "noise_mul": 0.5, "train_cls": True, "gamma": 1.0},
                   "sampler": {"name": "cben"}, "optim": {"lr": 0.002, "momentum": 0.9, "weight_decay": 2e-4},
                   "schedule": {"kind": "cosine"}}
    r["gcl"] = b

    # Balanced Meta-Softmax (BALMS repository, config/CIFAR*_LT/*_imba200.yaml): rho 200; stage 1 the repository's
    # base model (softmax_imba200.yaml: bs_stage1's schedule with plain softmax cross-entropy; decouple_balanced_softmax
    # and balms load it through model_dir: resnet32_softmax_imba200); stage 2 on the frozen backbone (BN in train
    # mode), 2000 iterations counted as the repository does, lr 0.1 cosine, the classifier re-initialised.
    b, n, steps, batches = bs_stage1(dataset, loss="ce")
    e1, w1 = b["stage1"]["epochs"], b["stage1"]["schedule"]["warmup_epochs"] + 1
    stage1_text = (f"the repository's base model (softmax_imba200.yaml), end-to-end softmax cross-entropy (not Balanced "
                   f"Softmax: both decoupled recipes load this model), batch 512, the repository's 13k-iteration budget counted as it counts "
                   f"it: {e1} epochs = ceil(13000 / ceil(N/512)), each cut at floor(N/512) = {steps} steps, i.e. "
                   f"{e1 * steps} iterations (N = {n}); lr 0.05 -> 0.1 over the first {w1} epochs (ceil(800 / "
                   f"ceil(N/512))) then cosine, wd 5e-4, AutoAugment + Cutout")
    e2 = -(-2000 // batches)
    b["description"] = (f"Decoupled Balanced Softmax (Ren et al. 2020, the BALMS repository's recipe, rho 200): stage 1 "
                        f"{stage1_text}; stage 2 a re-initialised classifier on the frozen backbone (BN in train mode), "
                        f"Balanced Softmax, instance sampling, the repository's 2000 iterations as {e2} epochs of {steps} "
                        f"steps = {e2 * steps}, lr 0.1 cosine. Repository 81.8 (CIFAR-10), 47.2 (CIFAR-100).")
    b["stage2"] = {"method": "crt", "epochs": e2, "batch_size": 512, "max_steps_per_epoch": steps,
                   "load": "last", "bn_mode": "train", "loss": {"name": "balanced_softmax"},
                   "sampler": {"name": "instance"}, "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4},
                   "schedule": {"kind": "cosine"}}
    r["decoupled_balanced_softmax"] = b

    b, n, steps, batches = bs_stage1(dataset, loss="ce")
    e2 = -(-2000 // steps)
    b["description"] = (f"BALMS (Ren et al. 2020, the repository's recipe, rho 200): stage 1 {stage1_text}; stage 2 the "
                        f"Meta Sampler: per-class rates learned by a one-step look-ahead of the classifier (Adam lr 0.01, "
                        f"init_pow 0, meta batches from the training split), Balanced Softmax, the repository's 2000 "
                        f"iterations as {e2} epochs of the sampler's floor(N/512) = {steps} batches = {e2 * steps}, lr "
                        f"0.1 cosine, BN in train mode. Repository 82.2 / paper 81.5 (CIFAR-10); repository 48.0 / "
                        f"paper 45.5 (CIFAR-100).")
    b["stage2"] = {"method": "balms", "epochs": e2, "batch_size": 512, "load": "last",
                   "bn_mode": "train", "loss": {"name": "balanced_softmax"},
                   "balms": {"meta_lr": 0.01, "init_pow": 0.0, "meta_set": "train"},
                   "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}, "schedule": {"kind": "cosine"}}
    r["balms"] = b
    return r


def large_scale():
    r = {}
    inet = {"dataset": "list", "root": "data/imagenet", "train_list": "ImageNet_LT_train.txt",
            "val_list": "ImageNet_LT_val.txt", "test_list": "ImageNet_LT_test.txt",
            "imbalance": {"profile": "none"}, "augment": "imagenet", "workers": 8}
    places = dict(inet, root="data/places365", train_list="Places_LT_train.txt", val_list="Places_LT_val.txt",
                  test_list="Places_LT_test.txt")
    inat = {"dataset": "inat", "root": "data/inat2018", "train_list": "train2018.json", "val_list": "",
            "test_list": "val2018.json", "imbalance": {"profile": "none"}, "augment": "inat", "workers": 8}

    def decoupling(data, arch, lr, wd, epochs, batch, s2_epochs, s2_lr, s2_batch, desc, init=""):
        return {
            "description": desc, "data": copy.deepcopy(data),
            # an ImageNet-pretrained file has ImageNet's 1000-class classifier: only its backbone is loaded
            "model": dict({"arch": arch, "head": "linear", "init_from": init},
                          **({"init_allow_partial": True} if init else {})),
            "stage1": {"epochs": epochs, "batch_size": batch, "loss": {"name": "ce"}, "sampler": {"name": "instance"},
                       "optim": {"lr": lr, "momentum": 0.9, "weight_decay": wd}, "schedule": {"kind": "cosine"}},
            "stage2": {"method": "crt", "epochs": s2_epochs, "batch_size": s2_batch, "load": "best", "bn_mode": "train",
                       "loss": {"name": "ce"}, "sampler": {"name": "class_aware", "samples_per_class": 4},
                       "optim": {"lr": s2_lr, "momentum": 0.9, "weight_decay": wd}, "schedule": {"kind": "cosine"}},
            "eval": {"every_epochs": 5, "select": "val" if data.get("val_list") else "test"},
        }

    r["imagenet_lt/decoupling_crt"] = decoupling(
        inet, "resnet50", 0.2, 5e-4, 90, 512, 10, 0.2, 512,
        "Decoupling (Kang et al. 2020) on ImageNet-LT: ResNet-50, CE 90 epochs batch 512 lr 0.2 cosine wd 5e-4; cRT 10 "
        "epochs lr 0.2 class-aware(4), backbone BN in train mode as the reference code does; selection on val. "
        "Other variants: --set stage2.method=lws --set stage2.epochs=5, or the post-hoc "
        "--set 'stage2={\"method\": \"tau_norm\"}' (or ncm).")
    r["inat2018/decoupling_crt"] = decoupling(
        inat, "resnet50", 0.2, 1e-4, 90, 512, 30, 0.2, 512,
        "Decoupling on iNaturalist 2018: ResNet-50, CE 90 epochs (200 for the long schedule) batch 512 lr 0.2 wd 1e-4; "
        "cRT 30 epochs lr 0.2. iNat has no separate val split: the official val2018 is the test set.")
    r["places_lt/decoupling_crt"] = decoupling(
        places, "resnet152", 0.1, 5e-4, 30, 256, 10, 0.1, 256,
        "Decoupling on Places-LT: ImageNet-pretrained ResNet-152 (model.init_from: torchvision weights converted to "
        "safetensors), cRT 10 epochs lr 0.1 batch 256. Assumption: the stage-1 fine-tuning protocol (OLTR) is not "
        "shipped by the reference; 30 epochs lr 0.1 here.", init="pretrained/resnet152_imagenet.safetensors")

    def balms(data, arch, s1_epochs, s2_epochs, s2_lr, batch, meta_batch, init_pow, desc, init="", s1_lr=0.2,
              s1_loss="ce"):
        b = decoupling(data, arch, s1_lr, 5e-4, s1_epochs, batch, s2_epochs, s2_lr, batch, desc, init)
        b["stage1"]["loss"] = {"name": s1_loss}
        b["stage2"] = {"method": "balms", "epochs": s2_epochs, "batch_size": batch, "load": "best", "bn_mode": "train",
                       "loss": {"name": "balanced_softmax"},
                       "balms": {"meta_lr": 1e-3, "init_pow": init_pow, "meta_batch_size": meta_batch, "meta_set": "val"},
                       "optim": {"lr": s2_lr, "momentum": 0.9, "weight_decay": 5e-4}, "schedule": {"kind": "cosine"}}
        return b

    r["imagenet_lt/balms"] = balms(
        inet, "resnet10", 90, 20, 0.5, 512, 1024, 0.1,
        "BALMS on ImageNet-LT (the repository's config/ImageNet_LT/balms_resnet10.yaml): ResNet-10, stage 1 the model "
        "it loads (model_dir resnet10_uniform_e90 = feat_uniform_resnet10.yaml: plain softmax cross-entropy, instance "
        "sampling) 90 epochs batch 512 lr 0.2 cosine wd 5e-4; stage 2 the Meta Sampler on the frozen backbone "
        "(BN in train mode): 20 epochs, classifier lr 0.5, meta batches of 1024 from the validation split, init_pow "
        "0.1, Adam lr 1e-3. Repository 41.6 / paper 41.8.")
    r["places_lt/balms"] = balms(
        places, "resnet152", 30, 10, 0.02, 256, 512, 0.3,
        "BALMS on Places-LT (config/Places_LT/balms.yaml): ImageNet-pretrained ResNet-152 (model.init_from), stage 1 "
        "= places_lt/decoupling_crt's stage 1 (plain CE, instance sampling, 30 epochs lr 0.1: the reference loads "
        "classifier-balancing's stage-1 model, logs/Places_LT/models/resnet152_uniform); stage 2 the Meta Sampler: "
        "10 epochs, classifier lr 0.02, batch 256, meta batches of 512 from the validation split, init_pow 0.3, Adam "
        "lr 1e-3. Repository 38.3 / paper 38.7. Assumption: that stage-1 model's fine-tuning protocol (OLTR's) is "
        "not shipped; ours is decoupling_crt's.",
        init="pretrained/resnet152_imagenet.safetensors", s1_lr=0.1)

    def gcl(data, arch, lr, wd, epochs, batch, mixup, s1_nu, s2_s, desc, init="", milestones=None):
        sched = {"kind": "multistep", "warmup_epochs": 5, "milestones": milestones, "gamma": 0.1} if milestones \
            else {"kind": "cosine"}
        return {
            "description": desc, "data": copy.deepcopy(data),
            "model": {"arch": arch, "head": "normed", "init_from": init, "init_allow_partial": bool(init)},
            "stage1": {"epochs": epochs, "batch_size": batch, "mixup_alpha": mixup,
                       "loss": {"name": "gcl", "s": 30, "m": 0.0, "noise_mul": s1_nu}, "sampler": {"name": "instance"},
                       "optim": {"lr": lr, "momentum": 0.9, "weight_decay": wd}, "schedule": sched},
            "stage2": {"method": "gcl_retrain", "epochs": 30, "batch_size": batch, "load": "best", "bn_mode": "eval",
                       "mixup_alpha": 1.0,
                       "loss": {"name": "gcl", "s": s2_s, "m": 0.1, "noise_mul": s1_nu, "train_cls": True, "gamma": 1.0},
                       "sampler": {"name": "balanced_rs"}, "optim": {"lr": 0.002, "momentum": 0.9,
                                                                      "weight_decay": wd},
                       "schedule": {"kind": "cosine"}},
            "eval": {"every_epochs": 5, "select": "val" if data.get("val_list") else "test"},
        }

    r["places_lt/gcl"] = gcl(
        places, "resnet152", 0.2, 5e-4, 90, 512, 0.2, 1.0, 15,
        "GCL on Places-LT (repository scripts): ImageNet-pretrained ResNet-152, GCL s 30 m 0 nu 1, mixup 0.2, lr 0.2, "
        "batch 512, warm-up 5, x0.1 at 60 and 80, 90 epochs; stage 2 GCL s 15 m 0.1 focal, BalancedRS, 30 epochs, "
        "lr 0.01 lr_max (1 + cos(pi e / 30)) with lr_max 0.1 = cosine from 0.002. Deviations: the reference trains "
        "only a new last bottleneck on a frozen backbone; here the whole network is fine-tuned. Its stage-2 script "
        "forwards the un-mixed images while the loss mixes the labels (a quirk: label mixing only); here stage 2 "
        "mixes the images too, as its CIFAR script does.", init="pretrained/resnet152_imagenet.safetensors", milestones=[60, 80])
    r["imagenet_lt/gcl"] = gcl(
        inet, "resnet50", 0.1, 5e-4, 180, 256, 0.2, 1.0, 15,
        "GCL on ImageNet-LT. Assumption (configs not released): MiSLAS's large-scale settings (ResNet-50, 180 epochs, "
        "batch 256, lr 0.1 cosine, wd 5e-4, mixup 0.2) with the GCL loss, stage 2 as on Places-LT.")
    r["inat2018/gcl"] = gcl(
        inat, "resnet50", 0.1, 1e-4, 200, 256, 0.2, 1.0, 15,
        "GCL on iNaturalist 2018. Assumption (configs not released): MiSLAS's settings (ResNet-50, 200 epochs, batch 256, "
        "lr 0.1 cosine, wd 1e-4, mixup 0.2) with the GCL loss, stage 2 as on Places-LT.")
    return r


def distillation_recipes():
    """CBD (google-research class_balanced_distillation) and SSD (MCG-NJU/SSD-LT), as the codes run them, and
    tailor's ResNet-32 adaptations for CIFAR-LT (no CIFAR settings were released)."""
    r = {}

    def cosine_sched():
        return {"kind": "cosine", "per_step": True}  # CBD: cosine decay per step, no warm-up

    def teacher(epochs, lr, wd, batch, **extra):
        return {"method": "joint", "epochs": epochs, "batch_size": batch, "loss": {"name": "ce"},
                "sampler": {"name": "instance"}, "optim": {"lr": lr, "momentum": 0.9, "weight_decay": wd},
                "schedule": cosine_sched(), **extra}

    def student(epochs, lr, wd, batch, teachers):
        return {"method": "cbd", "epochs": epochs, "batch_size": batch, "load": "fresh", "loss": {"name": "ce"},
                "sampler": {"name": "resample"},
                "cbd": {"teachers": teachers, "alpha": 0.4, "beta": 100.0, "sigma": 20.0},
                "optim": {"lr": lr, "momentum": 0.9, "weight_decay": wd}, "schedule": cosine_sched()}

    def cbd(data, arch, epochs, lr, wd, teachers_aug, jitter, desc, every=5, select="val"):
        doc = {"description": desc, "data": copy.deepcopy(data), "model": {"arch": arch, "head": "cosine",
                                                                            "cosine_scale": 20.0}}
        refs = []
        for k, aug in enumerate(teachers_aug, start=1):
            extra = {} if k == 1 else {"load": "fresh"}
            if aug:
                extra["augment"] = jitter
            doc[f"stage{k}"] = teacher(epochs, lr, wd, 128, **extra)
            refs.append(f"stage{k}")
        doc[f"stage{len(refs) + 1}"] = student(epochs, lr, wd, 128, refs)
        doc["eval"] = {"every_epochs": every, "select": select}
        return doc

    def ssd(data, arch, key_aug, queue, e13, batch, lws_epochs, lws_batch, desc, select):
        return {
            "description": desc, "data": copy.deepcopy(data), "model": {"arch": arch, "head": "linear"},
            "stage1": {"method": "ssd_contrastive", "epochs": e13, "batch_size": batch, "loss": {"name": "ce"},
                       "sampler": {"name": "instance"},
                       "moco": {"key_augment": key_aug, "queue_size": queue, "dim": 128, "momentum": 0.999,
                                "temperature": 0.2, "weight": 1.0},
                       "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}, "schedule": {"kind": "cosine"}},
            "stage2": {"method": "lws", "epochs": lws_epochs, "batch_size": lws_batch, "load": "last",
                       "bn_mode": "train", "loss": {"name": "ce"},
                       "sampler": {"name": "class_aware", "samples_per_class": 2},
                       "optim": {"lr": 0.2, "momentum": 0.9, "weight_decay": 5e-4}, "schedule": {"kind": "cosine"}},
            "stage3": {"method": "ssd_distill", "epochs": e13, "batch_size": batch, "load": "fresh",
                       "loss": {"name": "ce"}, "sampler": {"name": "instance"},
                       "ssd": {"teacher": "stage2", "temperature": 2.0, "kd_weight": 1.0, "eval_head": "soft",
                               "teacher_bn": "train"},
                       "optim": {"lr": 0.1, "momentum": 0.9, "weight_decay": 5e-4}, "schedule": {"kind": "cosine"}},
            "eval": {"every_epochs": 5, "select": select},
        }

    for ds, folder, name in (("cifar10", "cifar10_lt", "CIFAR-10-LT"), ("cifar100", "cifar100_lt", "CIFAR-100-LT")):
        data = cifar_base(ds)["data"]
        adapt = ("tailor's adaptation to ResNet-32, not a setting of the paper (it has no CIFAR experiments); "
                 "both stages 200 epochs, batch 128, lr 0.1 (CIFAR's usual ResNet-32 value; the code's rule 0.1 x batch / 256 "
                 "would give 0.05) with the code's cosine decay per step, no warm-up, wd 2e-4 "
                 "(CIFAR's usual PyTorch value; the code's wd * 0.5 * l2_loss equals PyTorch wd / 2 on every variable)")
        r[f"{folder}/cbd"] = cbd(
            data, "resnet32", 200, 0.1, 2e-4, [False], "cifar_simclr",
            f"Class-Balanced Distillation (Iscen et al., BMVC 2021) on {name} rho 100, {adapt}. Stage 1: one "
            "instance-balanced teacher, CE on the cosine classifier (sigma 20, L2-normalised features). Stage 2: a fresh "
            "student on class-balanced over/under-sampling (sampler resample), projection to 64-d + ReLU + L2 norm, "
            "cosine classifier, (1 - 0.4) CE + 0.4 * 100 * (1 - cos) to the teacher's features.", select="test")
        r[f"{folder}/cbd_ens"] = cbd(
            data, "resnet32", 200, 0.1, 2e-4, [False, False, True, True], "cifar_simclr",
            f"CBD_ENS on {name} rho 100, {adapt}. Four teachers as the code's configs: two seeds without colour "
            "augmentation (stages 1-2; stage 2 a fresh model), two with colour distortion (stages 3-4, cifar_simclr: "
            "jitter 0.4/0.4/0.4/0.1 p 0.8 + grayscale 0.2, SimCLR's CIFAR strength), then a student distilling their "
            "concatenated features (projection to 4 x 64 = 256-d).", select="test")
        r[f"{folder}/ssd"] = ssd(
            data, "resnet32", "cifar_moco", 4096, 200, 128, 10, 128,
            f"SSD (Li, Wang, Wu, ICCV 2021) on {name} rho 100 — tailor's adaptation to ResNet-32 (no CIFAR setting was "
            "released): stage I CE + label-masked MoCo (query view: the CIFAR crop + flip; key view cifar_moco: crop + "
            "flip + colour jitter 0.4/0.4/0.4/0.1 p 0.8 + grayscale 0.2; 64-64-128 MLP, queue 4096, m 0.999, T 0.2), "
            "200 epochs, batch 128, lr 0.1 cosine, wd 5e-4; stage II LWS on the frozen backbone (BatchNorm on batch "
            "statistics), class-aware 2 per class, 10 epochs (the code's 5 are ImageNet-LT's; tailor's choice for CIFAR's "
            "short epochs), lr 0.2; stage III a fresh ResNet-32 with hard (CE) and "
            "soft (KD, tau 2) heads, 200 epochs; the soft head is evaluated.", select="test")

    inet = {"dataset": "list", "root": "data/imagenet", "train_list": "ImageNet_LT_train.txt",
            "val_list": "ImageNet_LT_val.txt", "test_list": "ImageNet_LT_test.txt",
            "imbalance": {"profile": "none"}, "augment": "imagenet_nojitter", "workers": 8}
    inat = {"dataset": "inat", "root": "data/inat2018", "train_list": "train2018.json", "val_list": "",
            "test_list": "val2018.json", "imbalance": {"profile": "none"}, "augment": "inat", "workers": 8}
    code = ("Differences from the code: it crops with area in [0.05, 1] and feeds [0, 1] pixels without mean/std; here "
            "RandomResizedCrop's (0.08, 1) and the dataset's normalisation. Reported for CBD_ENS with ResNet-50 (from "
            "a listing of the paper, not read in the paper here; the repository reports none): 55.6 top-1 on "
            "ImageNet-LT (many / medium / few 68.5 / 52.7 / 29.2), 73.6 on iNaturalist 2018; none found for one teacher.")
    r["imagenet_lt/cbd"] = cbd(
        inet, "resnet50", 90, 0.05, 2.5e-4, [False], "simclr",
        "CBD on ImageNet-LT (google-research class_balanced_distillation configs stage_one_vanilla_seed1 + stage_two_cbd "
        "with one teacher): ResNet-50, cosine classifier sigma 20 on L2-normalised features; stage 1 an "
        "instance-balanced CE teacher; stage 2 a fresh student on class-balanced over/under-sampling, projection 2048 + "
        "ReLU, (1 - 0.4) CE + 0.4 * 100 * cosine distance; both 90 epochs, batch 128, lr 0.1 x 128/256 = 0.05, cosine "
        "per step, no warm-up, weight decay 5e-4 in the code's form wd * 0.5 * l2_loss = PyTorch 2.5e-4 on every "
        "variable. " + code)
    r["imagenet_lt/cbd_ens"] = cbd(
        inet, "resnet50", 90, 0.05, 2.5e-4, [False, False, True, True], "simclr",
        "CBD_ENS on ImageNet-LT (configs stage_one_{vanilla,data_aug}_seed{1,2} + stage_two_cbd_ens): four ResNet-50 "
        "teachers — stages 1-2 without colour augmentation, stages 3-4 with SimCLR's colour distortion of strength 1 "
        "(the simclr preset: ColorJitter 0.8/0.8/0.8/0.2 p 0.8 + grayscale p 0.2; the code uses SimCLR v2's TF "
        "jitter) — and a student distilling their concatenated features (projection 4 x 2048 = 8192). Schedules as "
        "cbd.json. " + code)
    r["inat2018/cbd"] = cbd(
        inat, "resnet50", 200, 0.05, 1e-4, [False], "simclr",
        "CBD on iNaturalist 2018 (the code's inaturalist18 settings): ResNet-50 with the cosine classifier; teacher and "
        "student 200 epochs, batch 128, lr 0.05 cosine per step, weight decay 2e-4 in the code's form = PyTorch 1e-4; "
        "the official validation set is the test set. " + code, every=10, select="test")
    r["inat2018/cbd_ens"] = cbd(
        dict(inat, augment="imagenet_nojitter"), "resnet50", 200, 0.05, 1e-4, [False, False, True, True], "simclr",
        "CBD_ENS on iNaturalist 2018 (configs stage_one_{vanilla,data_aug}_seed{1,2} + stage_two_cbd_ens with the "
        "code's inaturalist18 settings): four ResNet-50 teachers — stages 1-2 without colour augmentation, stages 3-4 "
        "with SimCLR's colour distortion of strength 1 (the simclr preset) — and a student distilling their "
        "concatenated features (projection 4 x 2048 = 8192); schedules as cbd.json (200 epochs). Every stage "
        "normalises with ImageNet's mean / std (imagenet_nojitter, not inat's), as the simclr teachers do: the "
        "student feeds all four teachers its own batch. " + code, every=10, select="test")
    r["imagenet_lt/ssd"] = ssd(
        dict(inet, augment="imagenet"), "resnext50_32x4d", "moco_v2", 115712, 135, 256, 5, 512,
        "SSD on ImageNet-LT (MCG-NJU/SSD-LT ssd_stage_i/ii/iii.py with --cos): ResNeXt-50 32x4d. Stage I: CE + "
        "label-masked MoCo (query view RandomResizedCrop + ColorJitter(0.4, 0.4, 0.4, 0) + flip, the imagenet preset; "
        "key view MoCo v2's, moco_v2: RandomResizedCrop scale (0.2, 1) + jitter (0.4, 0.4, 0.4, 0.1) p 0.8 + grayscale "
        "0.2 + Gaussian blur p 0.5 + flip; 2048-2048-128 MLP, queue 115712, m 0.999, T 0.2), 135 epochs, batch 256, lr "
        "0.1 cosine per epoch, wd 5e-4. Stage II: LWS on the frozen encoder (BatchNorm in train mode, as the code's "
        "model.train()), class-aware 2 per class, 5 epochs, batch 512, lr 0.2 cosine. Stage III: a fresh ResNeXt-50 "
        "with hard and soft heads, CE + KD (tau 2) from stage II, 135 epochs, batch 256, lr 0.1 cosine; the soft head "
        "is evaluated. Repository README: soft head 55.4 (many 67.3, medium 53.1, few 30.0), hard head 51.6. The code "
        "shuffles the key batch across GPUs for BatchNorm (a no-op on one device).", select="val")
    return r


def camc_recipes():
    """CAMC (Zhang et al. 2021): no official code, so these run tailor's reconstruction (layers/camc.h) with its
    untuned defaults s 16, T 0.5, lambda 1; the schedules are the plain CE ones of each dataset."""
    r = {}
    camc_model = {"head": "camc", "camc_scale": 16.0, "camc_temperature": 0.5, "camc_lambda": 1.0}
    note = ("CAMC has no public code: this is tailor's reconstruction from the paper's text (calibrated pooling "
            "GAP + lambda * CAM-attended feature, a normalised classifier with a fixed scale s), with untuned knobs "
            "s 16, T 0.5, lambda 1, the attention in training from the predicted class's map (stage1.camc.attend "
            "predicted, as in evaluation; the true class's map, camc.attend label, leaks the label into training and "
            "lost 27 points on CIFAR-10-LT: benchmarks/README.md, CAMC's ablation); no number of the paper is claimed "
            "for it. --set model.camc_lambda=0 gives the plain normalised classifier (the ablation's baseline).")
    for ds, folder in (("cifar10", "cifar10_lt"), ("cifar100", "cifar100_lt")):
        b = cifar_base(ds)
        b["model"].update(camc_model)
        b["stage1"]["method"] = "camc"
        b["stage1"]["camc"] = {"attend": "predicted"}
        b["description"] = ("CAMC on " + folder.replace("_lt", "").upper().replace("CIFAR", "CIFAR-") + "-LT rho 100 "
                            "with ResNet-32 (8x8 final map), the CE schedule of the LDAM-DRW repository. " + note)
        r[f"{folder}/camc"] = b
    lt = large_scale()
    for rel, arch, epochs, batch, lr in (("imagenet_lt", "resnet50", 90, 512, 0.2), ("places_lt", "resnet152", 30, 256, 0.1)):
        b = copy.deepcopy(lt[f"{rel}/decoupling_crt"])
        del b["stage2"]
        b["model"].update(camc_model)
        if rel == "places_lt":
            b["model"]["init_allow_partial"] = True  # the ImageNet classifier is not CAMC's
        b["stage1"]["method"] = "camc"
        b["stage1"]["camc"] = {"attend": "predicted"}
        b["description"] = (f"CAMC on {'ImageNet-LT' if rel == 'imagenet_lt' else 'Places-LT'}: {arch}"
                            f"{' (ImageNet-pretrained, model.init_from)' if rel == 'places_lt' else ''}, CE {epochs} "
                            f"epochs batch {batch} lr {lr} cosine wd 5e-4 (the decoupling recipe's stage 1). " + note)
        r[f"{rel}/camc"] = b
    return r


def breadcrumb_recipes():
    """Breadcrumb / EMANATE (BoLiu-SVCL/Breadcrumbs train.py): one stage, F + g_r instance-balanced, g_c on
    class-aware batches then EMANATE features, both SGD lr 0.2 momentum 0.9 wd 5e-4 cosine per epoch."""
    r = {}
    lt = large_scale()

    def stage(epochs, batch, lr, wd):
        return {"method": "breadcrumb", "epochs": epochs, "batch_size": batch, "loss": {"name": "ce"},
                "sampler": {"name": "instance"}, "breadcrumb": {"samples_per_class": 4},
                "optim": {"lr": lr, "momentum": 0.9, "weight_decay": wd}, "schedule": {"kind": "cosine"}}

    b = copy.deepcopy(lt["imagenet_lt/decoupling_crt"])
    del b["stage2"]
    b["model"] = {"arch": "resnet10", "head": "linear"}
    b["stage1"] = stage(200, 512, 0.2, 5e-4)
    b["description"] = ("Breadcrumb / EMANATE on ImageNet-LT as the official train.py: ResNet-10, 200 epochs, batch 512, "
                        "SGD lr 0.2 momentum 0.9 wd 5e-4 for F + g_r and for g_c (its own optimiser), cosine per epoch "
                        "to 0; RandomResizedCrop 224 + flip + ColorJitter(0.4, 0.4, 0.4, 0); g_c on class-aware batches "
                        "(4 per class turn) until every class's FIFO of ceil(n_b / n_c) epochs is full, then on "
                        "EMANATE features; g_c is evaluated. The code selects nothing on val; here the best val epoch "
                        "is kept as for the other ImageNet-LT recipes.")
    r["imagenet_lt/breadcrumb"] = b
    b = copy.deepcopy(lt["places_lt/decoupling_crt"])
    del b["stage2"]
    b["stage1"] = stage(30, 256, 0.1, 5e-4)
    b["description"] = ("Breadcrumb on Places-LT, tailor's assumption (the official code ships ImageNet-LT only): "
                        "ImageNet-pretrained ResNet-152 (model.init_from), the decoupling recipe's 30 epochs, batch "
                        "256, lr 0.1 cosine, wd 5e-4, with Breadcrumb's two heads and EMANATE.")
    r["places_lt/breadcrumb"] = b
    for ds, folder in (("cifar10", "cifar10_lt"), ("cifar100", "cifar100_lt")):
        b = cifar_base(ds)
        b["stage1"] = stage(200, 128, 0.1, 2e-4)
        b["description"] = ("Breadcrumb on " + ("CIFAR-10" if ds == "cifar10" else "CIFAR-100") + "-LT rho 100, "
                            "tailor's adaptation to ResNet-32 (the paper has no CIFAR setting): 200 epochs, batch "
                            "128, lr 0.1 cosine per epoch, wd 2e-4 (CIFAR's usual value), class-aware 4 per class "
                            "turn for g_c until the FIFOs are full (the rarest class needs ceil(n_b / n_c) epochs: "
                            "about N / (C n_c)), then EMANATE.")
        r[f"{folder}/breadcrumb"] = b
    return r


def main():
    out = {}
    for ds, folder in (("cifar10", "cifar10_lt"), ("cifar100", "cifar100_lt")):
        for name, cfg in cifar_recipes(ds).items():
            out[f"{folder}/{name}"] = cfg
    out.update(large_scale())
    out.update(distillation_recipes())
    out.update(camc_recipes())
    out.update(breadcrumb_recipes())
    for rel, cfg in out.items():
        cfg["stage1"] = {"method": "joint", **cfg["stage1"]}  # named, so a reader sees what each stage does
        path = os.path.join("recipes", rel + ".json")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            json.dump(cfg, f, indent=2)
            f.write("\n")
    print(f"{len(out)} recipes written")


if __name__ == "__main__":
    main()
