// The class-activation-map page of a run whose head is CAMC's (model.head camc, layers/camc.h): test images of
// the most and the least frequent classes with the spatial attention the head pools with overlaid, written as
// run_dir/plots/cams.png and run_dir/cams.html (report.html links to it).
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "layers/resnet.h"

namespace tailor {

struct CamPageOptions {
  int classes_per_end = 3;   // the k most and the k least frequent classes (all classes when 2k >= C)
  int images_per_class = 6;  // the first images of each class in the split's order
  int64_t batch = 64;
  int workers = 2;
};

// True when the model's head is CAMC's (the page exists only for such runs).
bool has_cam_head(const ResNet& net);

// Runs the chosen images of `split` through `net` (eval transform, eval mode) and writes the figure and the
// page; returns the page's path. train_counts orders the classes. Throws when the head is not CAMC's.
std::string write_cam_page(const std::string& run_dir, ResNet& net, const data::Dataset& split,
                           const data::TransformConfig& eval_tf, const std::vector<int64_t>& train_counts,
                           const std::string& split_name, const CamPageOptions& opt = {}, std::ostream* log = nullptr);

}  // namespace tailor
