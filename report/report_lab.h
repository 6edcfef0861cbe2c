// The embedding lab's page (`tailor explore`): one figure per loss — training features per class, the
// classifier's class directions and decision regions — with the measured numbers beside them, and the
// papers' qualitative claims checked on these numbers (each marked holds / does not hold on this data).
#pragma once
#include <string>
#include <vector>

#include "train/lab.h"

namespace tailor {

struct LabClaim {
  std::string claim;     // what the papers say
  std::string measured;  // the numbers compared
  bool holds = false;
};

// The claims the variants present allow to check (a claim whose variants were not run is left out):
//   CE squeezes the tail: the few-shot classes' angular spread < the many-shot classes' (ce);
//   GCL's cloud enlarges it: few-shot spread of gcl > of gcl_no_cloud, and > of ce;
//   Balanced Softmax / logit adjustment move the boundaries toward the head: their few_to_many < ce's.
std::vector<LabClaim> lab_claims(const std::vector<LabResult>& results);

// Writes, under out_dir (atomically, file by file): plots/<variant>.png, features/<variant>_train.csv
// (x,y,label) and features/<variant>_test.csv (x,y,label,pred), lab.json (every number of the page) and
// explore.html. Returns the path of explore.html.
std::string write_lab_page(const std::string& out_dir, const LabSet& set, const std::vector<LabResult>& results,
                           const std::vector<int>& groups, const std::string& groups_desc, const LabOptions& opt);

}  // namespace tailor
