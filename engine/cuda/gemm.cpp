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
  // TF32 only when asked (PyTorch's default keeps matmuls in full fp32); deterministic either way
  check_cublas(cublasSetMathMode(h, allow_tf32_matmul() ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_PEDANTIC_MATH),
               "cublasSetMathMode");
  if (K == 0) {  // C = beta * C: cuBLAS handles it, but keep the contract explicit
    alpha = 0.f;
    K = 1;
  }
  check_cublas(cublasSgemm(h, trans_b ? CUBLAS_OP_T : CUBLAS_OP_N, trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, (int)N, (int)M,
                           (int)K, &alpha, B, (int)ldb, A, (int)lda, &beta, C, (int)ldc),
               "cublasSgemm");
}

}  // namespace tailor::cuda
