#include "engine/version.h"

namespace tailor {

std::string version_build() {
  std::string s;
#ifdef TAILOR_CUDA
  s += "CUDA on";
#else
  s += "CUDA off";
#endif
#ifdef TAILOR_MPI
  s += ", MPI on";
#else
  s += ", MPI off";
#endif
#ifdef TAILOR_NCCL
  s += ", NCCL on";
#else
  s += ", NCCL off";
#endif
#ifdef TAILOR_NATIVE_BUILD
  s += ", native";
#else
  s += ", portable";
#endif
  return s;
}

std::string version_line() {
  const std::string date = version_date();
  return std::string("tailor ") + version_commit() + " (" + (date.empty() ? "" : date + "; ") + version_build() + ")";
}

}  // namespace tailor
