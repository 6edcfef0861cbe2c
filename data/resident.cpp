#include "data/resident.h"

#include <stdexcept>

namespace tailor::data {

std::string resident_transform_problem(const TransformConfig& cfg, int h, int w) {
  if (cfg.crop != CropMode::None && cfg.crop != CropMode::RandomCrop)
    return "only RandomCrop (or no crop) runs on the device, not a resized or centre crop";
  if (cfg.crop == CropMode::None && h != w) return "a non-square image without a crop";
  if (cfg.crop == CropMode::RandomCrop && (h + 2 * cfg.padding < cfg.size || w + 2 * cfg.padding < cfg.size))
    return "RandomCrop: padded image smaller than the crop size";
  if (((cfg.brightness > 0 || cfg.contrast > 0 || cfg.saturation > 0 || cfg.hue > 0) && cfg.color_jitter_p > 0) ||
      cfg.grayscale_p > 0 || cfg.blur_p > 0)
    return "colour jitter, grayscale and blur run on the host only";
  if (cfg.autoaugment_cifar) return "AutoAugment runs on the host only";
  if (cfg.cutout_holes > 0) return "Cutout runs on the host only";
  return "";
}

std::vector<int32_t> crop_flip_plan(const Sampler& sampler, int64_t epoch, uint64_t seed, const TransformConfig& cfg,
                                    int h, int w) {
  const std::string problem = resident_transform_problem(cfg, h, w);
  if (!problem.empty()) throw std::runtime_error("device-resident data: " + problem);
  const std::vector<int64_t> shard = sampler.epoch_indices(epoch);
  std::vector<int32_t> plan(shard.size() * 4);
  for (size_t k = 0; k < shard.size(); ++k) {
    // the Loader's stream for this sample, and apply_transform's draws in its order (data/augment.h)
    CounterRng rng = make_rng(seed, epoch, sampler.global_position((int64_t)k), 0);
    int top = 0, left = 0;
    if (cfg.crop == CropMode::RandomCrop) {
      const int p = cfg.padding, S = cfg.size;
      top = (int)rng.below(h + 2 * p - S + 1) - p;
      left = (int)rng.below(w + 2 * p - S + 1) - p;
    }
    const bool flip = cfg.hflip && rng.bernoulli(0.5);
    int32_t* row = &plan[k * 4];
    row[0] = (int32_t)shard[k], row[1] = top, row[2] = left, row[3] = flip ? 1 : 0;
  }
  return plan;
}

}  // namespace tailor::data
