// Which tailor built a run: the checkout's commit (git describe, "-dirty" with uncommitted changes; "unknown"
// outside a git checkout) and the build's options. `tailor --version` prints them, and every run's summary.json
// records them (engine_version, engine_build), so a number can be traced to the code that produced it.
#pragma once
#include <string>

namespace tailor {

const char* version_commit();  // "812c2ca4e0f1", "812c2ca4e0f1-dirty" or "unknown" (generated: cmake/version.cmake)
const char* version_date();    // the commit's date, "2026-12-06" ("" when unknown)
// "CUDA on, MPI on, NCCL on, native": the backends compiled in and whether the kernels were compiled for the
// build machine's CPU (-march=native) or portably
std::string version_build();
// "tailor 812c2ca4e0f1 (2026-12-06; CUDA on, MPI on, NCCL on, native)"
std::string version_line();

}  // namespace tailor
