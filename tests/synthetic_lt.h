// A tiny long-tailed image set for the tests that train in process: 4 classes with 24 / 12 / 6 / 3 images
// (times `scale`), 8x8 grayscale, class c brighter in row band c, pixels from an LCG seeded by `seed`.
#pragma once
#include <algorithm>
#include <cstdint>
#include <string>

#include "data/dataset.h"

namespace tailor::test {

inline data::Dataset lt_synthetic(uint32_t seed = 12345, int scale = 1) {
  data::Dataset ds;
  ds.name = "synthetic-lt";
  ds.height = ds.width = 8;
  ds.channels = 1;
  ds.num_classes = 4;
  for (int c = 0; c < 4; ++c) ds.class_names.push_back("c" + std::to_string(c));
  const int counts[4] = {24, 12, 6, 3};
  uint32_t h = seed;
  for (int c = 0; c < 4; ++c)
    for (int i = 0; i < counts[c] * scale; ++i) {
      for (int p = 0; p < 64; ++p) {
        h = h * 1664525u + 1013904223u;
        ds.pixels.push_back((uint8_t)std::min((int)(h >> 26) + ((p / 8) / 2 == c ? 150 : 40), 255));
      }
      ds.labels.push_back(c);
    }
  return ds;
}

}  // namespace tailor::test
