// A small training set resident on the device (CIFAR, MNIST-sized): the images stay there as u8, and each
// batch is gathered, cropped, flipped and normalised by one kernel (crop_flip_normalize, engine/ops.h) from
// a plan the host draws here, so no pixels cross the bus during training.
//
// The plan row of shard position k of this rank's epoch is (index, top, left, flip): index = the sampler's
// k-th index, and the draws are those data/augment.cpp makes for that sample, from the same stream
// make_rng(seed, epoch, global position, view 0) the Loader uses. So a batch gathered through the plan is
// bit for bit the Loader's batch (tests/test_resident_data.cpp), and a run can switch between the two.
// Supported transforms: RandomCrop (zero padding) or no crop of a square image, optional flip, normalise;
// anything else (colour, AutoAugment, Cutout, resized crops) is refused with the op's name.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/samplers.h"

namespace tailor::data {

// Why `cfg` cannot run as the device kernel ("" when it can), for images of h x w.
std::string resident_transform_problem(const TransformConfig& cfg, int h, int w);

// The plan of this rank's epoch (the sampler's shard): 4 int32 per shard position, (index, top, left, flip),
// for images of h x w. Throws with resident_transform_problem's reason for an unsupported transform.
std::vector<int32_t> crop_flip_plan(const Sampler& sampler, int64_t epoch, uint64_t seed, const TransformConfig& cfg,
                                    int h, int w);

}  // namespace tailor::data
