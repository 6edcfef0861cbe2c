#include "train/schedule.h"

#include <cmath>

#include "engine/tensor.h"

namespace tailor {

ScheduleKind parse_schedule_kind(const std::string& s) {
  if (s == "multistep") return ScheduleKind::MultiStep;
  if (s == "cosine") return ScheduleKind::Cosine;
  if (s == "constant") return ScheduleKind::Constant;
  fail("schedule.kind: expected multistep, cosine or constant, got '" + s + "'");
}

const char* schedule_kind_name(ScheduleKind k) {
  return k == ScheduleKind::MultiStep ? "multistep" : k == ScheduleKind::Cosine ? "cosine" : "constant";
}

void LrSchedule::validate() const {
  TAILOR_CHECK(base_lr >= 0, "schedule.base_lr must be >= 0");
  TAILOR_CHECK(warmup_from >= 0 && warmup_from <= 1, "schedule.warmup_from must be in [0, 1]");
  TAILOR_CHECK(warmup_epochs >= 0 && warmup_epochs <= total_epochs, "schedule.warmup_epochs out of range");
  TAILOR_CHECK(factors.empty() || factors.size() == milestones.size(),
               "schedule.factors must have one entry per milestone");
  for (size_t i = 1; i < milestones.size(); ++i)
    TAILOR_CHECK(milestones[i] > milestones[i - 1], "schedule.milestones must increase");
}

float LrSchedule::lr_at(int epoch, double fraction) const {
  if (epoch < warmup_epochs) {
    if (per_step) {  // the position in the warm-up, (epoch + fraction) / W, from 0 at its first step
      const double u = ((double)epoch + fraction) / (double)warmup_epochs;
      return (float)(base_lr * (warmup_from + (1.0 - warmup_from) * u));
    }
    if (warmup_from > 0) return base_lr * (warmup_from + (1.f - warmup_from) * (float)epoch / (float)warmup_epochs);
    return base_lr * (float)(epoch + 1) / (float)warmup_epochs;
  }
  if (kind == ScheduleKind::Constant) return base_lr;
  if (kind == ScheduleKind::MultiStep) {
    float f = 1.f;
    for (size_t k = 0; k < milestones.size(); ++k)
      if (epoch >= milestones[k]) f = factors.empty() ? std::pow(gamma, (float)(k + 1)) : factors[k];
    return base_lr * f;
  }
  double span = std::max(1, total_epochs - warmup_epochs);
  double t = (epoch - warmup_epochs) + (per_step ? fraction : 0.0);
  return (float)(min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(M_PI * std::min(t, span) / span)));
}

}  // namespace tailor
