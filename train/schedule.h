// Learning-rate schedules, evaluated per epoch (with per_step, at a fractional position inside it):
//   warm-up:    lr = base * (e + 1) / warmup_epochs         for e < warmup_epochs (LDAM-DRW style), or with
//               warmup_from f > 0: lr = base * (f + (1 - f) e / warmup_epochs), from f * base (BALMS's
//               CosineAnnealingLRWarmup: f = 0.5); with per_step, per step from f * base (0 by default):
//               lr = base * (f + (1 - f) (e + s/S) / warmup_epochs) at step s of S in epoch e; with f = 0 that is
//               base * g / (W S) at global step g from 0 (the class-balanced loss's and logit adjustment's TF warm-up)
//   multistep:  lr = base * factor_k after milestone k (factors default to gamma^k)
//   cosine:     lr = min + (base - min) * (1 + cos(pi * t / T)) / 2 over the post-warm-up epochs, t counted
//               from 0: the first epoch trains at base, the last at base (1 + cos(pi (T-1) / T)) / 2 > 0
//               (GCL's and MiSLAS's convention; classifier-balancing's and BALMS's CosineAnnealingLR stepped
//               at each epoch's start gives, under PyTorch >= 1.1, epoch e = 1..T the lr of t = e: one epoch
//               later, the last at 0. Set per_step or more epochs to come closer; the runs here use t from 0)
//   constant
#pragma once
#include <string>
#include <vector>

namespace tailor {

enum class ScheduleKind { MultiStep, Cosine, Constant };
ScheduleKind parse_schedule_kind(const std::string& s);  // "multistep" | "cosine" | "constant"
const char* schedule_kind_name(ScheduleKind k);

struct LrSchedule {
  ScheduleKind kind = ScheduleKind::MultiStep;
  float base_lr = 0.1f;
  int warmup_epochs = 0;
  float warmup_from = 0.f;         // > 0: the warm-up starts at warmup_from * base_lr
  std::vector<int> milestones;     // 0-based epochs at which the factor changes
  float gamma = 0.1f;
  std::vector<float> factors;      // optional explicit multipliers, one per milestone
  int total_epochs = 200;
  float min_lr = 0.f;
  bool per_step = false;           // the warm-up and the cosine advance inside an epoch (epoch + fraction);
                                   // multistep milestones stay at epoch boundaries

  float lr_at(int epoch, double fraction = 0.0) const;
  void validate() const;           // throws naming the bad field
};

}  // namespace tailor
