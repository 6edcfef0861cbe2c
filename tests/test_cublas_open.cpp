// cuBLAS is opened when the CUDA backend starts, not linked (engine/cuda/gemm.cpp): a process that never uses
// the GPU does not pay libcublasLt's ~0.4 s and ~210 MB at start. Checked without a device: before
// open_cublas() no cuBLAS library is mapped into this process (the test links what tailor links), after it
// both are, and every entry point tailor calls was found. Exits 77 (SKIPPED) in a CPU-only build.
#include <doctest/doctest.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

#ifdef TAILOR_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace {

bool mapped(const std::string& library) {  // a file of that name in this process's memory map
  std::ifstream maps("/proc/self/maps");
  std::string line;
  while (std::getline(maps, line))
    if (line.find("/" + library) != std::string::npos) return true;
  return false;
}

}  // namespace

#ifdef TAILOR_CUDA
TEST_CASE("cuBLAS is mapped only once the CUDA backend opens it, with every entry point found") {
  CHECK(mapped("libcudart.so"));  // (linked: the check reads this process's map at all)
  CHECK_FALSE(mapped("libcublas.so"));
  CHECK_FALSE(mapped("libcublasLt.so"));
  tailor::cuda::open_cublas();  // dlopen + dlsym of the 8 functions: no device needed
  CHECK(mapped("libcublas.so"));
  CHECK(mapped("libcublasLt.so"));
  tailor::cuda::open_cublas();  // once per process
}
#else
static const bool kSkip = [] {
  std::printf("test_cublas_open: a CPU-only build: SKIPPED\n");
  std::fflush(stdout);
  std::_Exit(77);
  return true;
}();
#endif
