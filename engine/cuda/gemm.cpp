// GEMM through cuBLAS, row-major like cpu::gemm. cuBLAS is column-major, and a row-major [M,N]
// matrix is a column-major [N,M] one, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T:
// the operands swap places and the leading dimensions stay as given.
//
// cuBLAS is opened here, when the CUDA backend starts (open_cublas), not linked: loading libcublas and the
// libcublasLt it needs costs every process ~0.4 s and ~210 MB before main, CPU-only commands included.
#include <dlfcn.h>

#include <cublas_v2.h>

#include "engine/cuda/kernels.h"
#include "engine/cuda/runtime.h"
#include "engine/tensor.h"

namespace tailor::cuda {

// The cuBLAS entry points tailor calls. cublas_v2.h maps cublasCreate to cublasCreate_v2 and so on: the
// exported names are those after the macros (TAILOR_CUBLAS_NAME), the types those of the declarations.
#define TAILOR_CUBLAS_STR(x) #x
#define TAILOR_CUBLAS_NAME(f) TAILOR_CUBLAS_STR(f)
struct Cublas {
  decltype(&cublasCreate) create;
  decltype(&cublasSetStream) set_stream;
  decltype(&cublasSetWorkspace) set_workspace;
  decltype(&cublasSetMathMode) set_math_mode;
  decltype(&cublasSgemm) sgemm;
  decltype(&cublasSscal) sscal;
  decltype(&cublasGetStatusName) status_name;
  decltype(&cublasGetStatusString) status_string;
};

// By its soname (the loader's path: LD_LIBRARY_PATH, the program's RUNPATH, ld.so.cache), else the file the
// build found (TAILOR_CUBLAS_PATH).
static const Cublas& cublas() {
  static const Cublas api = [] {
    void* lib = dlopen(TAILOR_CUBLAS_SONAME, RTLD_NOW | RTLD_LOCAL);
    std::string why = lib ? "" : dlerror();
    if (!lib) lib = dlopen(TAILOR_CUBLAS_PATH, RTLD_NOW | RTLD_LOCAL);
    if (!lib)
      fail(std::string("CUDA: cannot load cuBLAS (") + why + "; " + dlerror() + "): put the folder holding " +
           TAILOR_CUBLAS_SONAME + " (and libcublasLt) on LD_LIBRARY_PATH");
    auto symbol = [&](const char* name) {
      void* f = dlsym(lib, name);
      if (!f) fail(std::string("CUDA: cuBLAS (") + TAILOR_CUBLAS_SONAME + ") has no " + name + ": another version?");
      return f;
    };
    Cublas c;
    c.create = (decltype(c.create))symbol(TAILOR_CUBLAS_NAME(cublasCreate));
    c.set_stream = (decltype(c.set_stream))symbol(TAILOR_CUBLAS_NAME(cublasSetStream));
    c.set_workspace = (decltype(c.set_workspace))symbol(TAILOR_CUBLAS_NAME(cublasSetWorkspace));
    c.set_math_mode = (decltype(c.set_math_mode))symbol(TAILOR_CUBLAS_NAME(cublasSetMathMode));
    c.sgemm = (decltype(c.sgemm))symbol(TAILOR_CUBLAS_NAME(cublasSgemm));
    c.sscal = (decltype(c.sscal))symbol(TAILOR_CUBLAS_NAME(cublasSscal));
    c.status_name = (decltype(c.status_name))symbol(TAILOR_CUBLAS_NAME(cublasGetStatusName));
    c.status_string = (decltype(c.status_string))symbol(TAILOR_CUBLAS_NAME(cublasGetStatusString));
    return c;
  }();
  return api;
}

void open_cublas() { cublas(); }

static void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    fail(std::string("cuBLAS error in ") + what + ": " + cublas().status_name(s) + " (" + cublas().status_string(s) +
         ")");
}

static cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t hh;
    check_cublas(cublas().create(&hh), "cublasCreate");
    check_cublas(cublas().set_stream(hh, stream()), "cublasSetStream");
    // a workspace of its own, for ever: cuBLAS then allocates nothing inside a captured CUDA graph
    const size_t ws_bytes = 32u << 20;
    void* ws = nullptr;
    TAILOR_CUDA_CHECK(cudaMalloc(&ws, ws_bytes));
    check_cublas(cublas().set_workspace(hh, ws, ws_bytes), "cublasSetWorkspace");
    return hh;
  }();
  return h;
}

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  cublasHandle_t h = handle();
  // TF32 only when asked (PyTorch's default keeps matmuls in full fp32: CUBLAS_DEFAULT_MATH with fp32 compute
  // never converts to TF32); deterministic either way
  check_cublas(cublas().set_math_mode(h, allow_tf32_matmul() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
               "cublasSetMathMode");
  if (K == 0) {  // an empty sum: C = beta * C (C not read when beta is 0), without cuBLAS (which refuses the
                 // leading dimension 0 of a row-major operand K wide)
    if (beta == 0.f) {
      TAILOR_CUDA_CHECK(cudaMemset2DAsync(C, (size_t)ldc * sizeof(float), 0, (size_t)N * sizeof(float), (size_t)M,
                                          stream()));
    } else {
      const bool dense = ldc == N;  // one scaling of the whole block, else one per row
      for (int64_t i = 0; i < (dense ? 1 : M); ++i)
        check_cublas(cublas().sscal(h, (int)(dense ? M * N : N), &beta, C + i * ldc, 1), "cublasSscal");
    }
    return;
  }
  check_cublas(cublas().sgemm(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N,
                              (int)M, (int)K, &alpha, B, (int)ldb, A, (int)lda, &beta, C, (int)ldc),
               "cublasSgemm");
}

}  // namespace tailor::cuda
