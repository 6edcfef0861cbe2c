// GEMM through oneDNN's dnnl_sgemm (row-major, AVX-512 JIT), the same library as our convolutions.
#include <oneapi/dnnl/dnnl.h>

#include <stdexcept>
#include <string>

#include "engine/cpu/kernels.h"

namespace tailor::cpu {

void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, float alpha, const float* A, int64_t lda,
          const float* B, int64_t ldb, float beta, float* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  if (K == 0) {  // an empty sum: C = beta * C (C not read when beta is 0); oneDNN would leave C as it was
    for (int64_t i = 0; i < M; ++i)
      for (int64_t j = 0; j < N; ++j) C[i * ldc + j] = beta == 0.f ? 0.f : beta * C[i * ldc + j];
    return;
  }
  dnnl_status_t st =
      dnnl_sgemm(trans_a ? 'T' : 'N', trans_b ? 'T' : 'N', M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
  if (st != dnnl_success) throw std::runtime_error("dnnl_sgemm failed with status " + std::to_string((int)st));
}

}  // namespace tailor::cpu
