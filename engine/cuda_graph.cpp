#include "engine/cuda_graph.h"

#include "engine/tensor.h"
#ifdef TAILOR_CUDA
#include "engine/cuda/runtime.h"
#endif

namespace tailor {

#ifdef TAILOR_CUDA
bool cuda_capturing() { return cuda::device_count() > 0 && cuda::capturing(); }
void CudaGraph::begin_capture() {
  reset();
  graph_ = cuda::graph_begin_capture();
}
void CudaGraph::end_capture() {
  cuda::graph_end_capture((cuda::Graph*)graph_);
  ready_ = true;
}
void CudaGraph::abort_capture() {
  if (graph_) cuda::graph_abort_capture((cuda::Graph*)graph_);
  reset();
}
void CudaGraph::launch() { cuda::graph_launch((cuda::Graph*)graph_); }
void CudaGraph::reset() {
  if (graph_) cuda::graph_destroy((cuda::Graph*)graph_);
  graph_ = nullptr;
  ready_ = false;
}
#else
bool cuda_capturing() { return false; }
void CudaGraph::begin_capture() { fail("CUDA graphs: this tailor was built without CUDA"); }
void CudaGraph::end_capture() {}
void CudaGraph::abort_capture() {}
void CudaGraph::launch() {}
void CudaGraph::reset() {}
#endif
bool CudaGraph::ready() const { return ready_; }

}  // namespace tailor
