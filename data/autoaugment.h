// AutoAugment, CIFAR-10 policy (Cubuk et al. 2019), as the CIFAR10Policy class used by the BALMS recipes
// (from the DeepVoltaire AutoAugment code): one of 25 sub-policies chosen uniformly; each applies op 1
// with probability p1 then op 2 with probability p2; magnitudes from 10-step ranges; geometric ops fill
// with (128, 128, 128) and pick a random sign.
#pragma once
#include <cstdint>

#include "data/dataset.h"
#include "data/rng.h"

namespace tailor::data {

enum class AugOp {
  ShearX, ShearY, TranslateX, TranslateY, Rotate, Color, Posterize, Solarize, Contrast, Sharpness,
  Brightness, AutoContrast, Equalize, Invert
};

struct SubPolicy {
  double p1;
  AugOp op1;
  int mag1;
  double p2;
  AugOp op2;
  int mag2;
};

constexpr int kCifar10PolicyCount = 25;
extern const SubPolicy kCifar10Policy[kCifar10PolicyCount];

// Magnitude of op at level 0..9 (np.linspace ranges; posterize bits are rounded).
double autoaugment_magnitude(AugOp op, int level);
// Applies one op; `sign` (+1/-1) is used by the signed ops (shear, translate, rotate, colour enhancers).
void apply_aug_op(ImageU8& im, AugOp op, double magnitude, int sign);
// The whole policy: picks a sub-policy and applies it (randomness from rng).
void autoaugment_cifar10(ImageU8& im, CounterRng& rng);

}  // namespace tailor::data
