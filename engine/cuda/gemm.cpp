// GEMM through cuBLAS, row-major like cpu::gemm. cuBLAS is column-major, and a row-major [M,N]
// matrix is a column-major [N,M] one, so C = op(A) op(B) is computed as C^T = op(B)^T op(A)^T:
// the operands swap places and the leading dimensions stay as given.
#include <cublas_v2.h>

#include "engine/cuda/kernels.h"
#include "engine/cuda/runtime.h"
#include "engine/tensor.h"

namespace tailor::cuda {

static void check_cublas(cublasStatus_t s, const char* what) {
  if (s != CUBLAS_STATUS_SUCCESS)
    fail(std::string("cuBLAS error in ") + what + ": " + cublasGetStatusName(s) + " (" + cublasGetStatusString(s) +
         ")");
}

static cublasHandle_t handle() {
  static cublasHandle_t h = [] {
    cublasHandle_t hh;
    check_cublas(cublasCreate(&hh), "cublasCreate");
    check_cublas(cublasSetStream(hh, stream()), "cublasSetStream");
    // a workspace of its own, for ever: cuBLAS then allocates nothing inside a captured CUDA graph
    const size_t ws_bytes = 32u << 20;
    void* ws = nullptr;
    TAILOR_CUDA_CHECK(cudaMalloc(&ws, ws_bytes));
    check_cublas(cublasSetWorkspace(hh, ws, ws_bytes), "cublasSetWorkspace");
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
  check_cublas(cublasSetMathMode(h, allow_tf32_matmul() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH),
               "cublasSetMathMode");
  if (K == 0) {  // an empty sum: C = beta * C (C not read when beta is 0), without cuBLAS (which refuses the
                 // leading dimension 0 of a row-major operand K wide)
    if (beta == 0.f) {
      TAILOR_CUDA_CHECK(cudaMemset2DAsync(C, (size_t)ldc * sizeof(float), 0, (size_t)N * sizeof(float), (size_t)M,
                                          stream()));
    } else {
      const bool dense = ldc == N;  // one scaling of the whole block, else one per row
      for (int64_t i = 0; i < (dense ? 1 : M); ++i)
        check_cublas(cublasSscal(h, (int)(dense ? M * N : N), &beta, C + i * ldc, 1), "cublasSscal");
    }
    return;
  }
  check_cublas(cublasSgemm(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M,
                           (int)K, &alpha, B, (int)ldb, A, (int)lda, &beta, C, (int)ldc),
               "cublasSgemm");
}

}  // namespace tailor::cuda
