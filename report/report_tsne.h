// The report's t-SNE section (GCL Fig. 1 / 3): 2-D t-SNE maps of a run's penultimate features, train and
// test side by side, coloured by class, with the few-shot classes drawn larger and ringed. `tailor report
// --tsne` extracts the features from the run's final checkpoint and calls write_tsne; the report page
// shows the section whenever DIR/tsne.json exists.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "data/shots.h"
#include "report/plot.h"
#include "report/tsne.h"

namespace tailor {

struct TsneSplit {
  std::string name;             // "train", "test"
  std::vector<float> features;  // [n, dim] row-major
  int64_t dim = 0;
  std::vector<int32_t> labels;  // [n]
};

// For each split: a stratified sample of at most `max_points` (report/tsne.h; with more than max_points / 5
// classes, over a subset of max_points / 5 classes evenly spaced by training count), t-SNE with `opt`, then one
// panel per split in run_dir/plots/tsne.png and the numbers (points per class, final KL, options, the
// checkpoint) in run_dir/tsne.json. Files are written atomically.
void write_tsne(const std::string& run_dir, const std::vector<TsneSplit>& splits,
                const std::vector<int64_t>& train_counts, const data::ShotRule& rule,
                const std::vector<std::string>& class_names, int64_t max_points, const TsneOptions& opt,
                const std::string& checkpoint, std::ostream* log = nullptr);

// The colour of class c of C in the feature maps (the categorical ten, viridis steps beyond 10 classes).
plot::Color class_color(int c, int C);

// The report.html section for run_dir/tsne.json; "" when the run has no t-SNE.
std::string tsne_section_html(const std::string& run_dir);

}  // namespace tailor
