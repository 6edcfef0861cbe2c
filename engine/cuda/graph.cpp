// CUDA graphs: capture the stream's work once, replay it with one launch (engine/cuda/runtime.h).
#include "engine/cuda/runtime.h"
#include "engine/tensor.h"

namespace tailor::cuda {

struct Graph {
  cudaGraph_t graph = nullptr;
  cudaGraphExec_t exec = nullptr;
  int pool = 0;
  bool capturing = false;
};

bool capturing() {
  if (device_count() == 0) return false;
  cudaStreamCaptureStatus st = cudaStreamCaptureStatusNone;
  TAILOR_CUDA_CHECK(cudaStreamIsCapturing(stream(), &st));
  return st != cudaStreamCaptureStatusNone;
}

Graph* graph_begin_capture() {
  TAILOR_CHECK(!capturing(), "CUDA graphs: a capture is already under way");
  auto* g = new Graph();
  g->pool = pool_begin();
  cudaError_t e = cudaStreamBeginCapture(stream(), cudaStreamCaptureModeThreadLocal);
  if (e != cudaSuccess) {
    pool_end();
    pool_release(g->pool);
    delete g;
    check(e, "cudaStreamBeginCapture", __FILE__, __LINE__);
  }
  g->capturing = true;
  return g;
}

void graph_end_capture(Graph* g) {
  TAILOR_CHECK(g && g->capturing, "CUDA graphs: no capture to end");
  cudaError_t e = cudaStreamEndCapture(stream(), &g->graph);
  g->capturing = false;
  pool_end();
  check(e, "cudaStreamEndCapture (an operation inside the step cannot be captured)", __FILE__, __LINE__);
  size_t nodes = 0;
  TAILOR_CUDA_CHECK(cudaGraphGetNodes(g->graph, nullptr, &nodes));
  // work that ran elsewhere (on the host) while the stream was capturing: a replay would do nothing
  TAILOR_CHECK(nodes > 0, "CUDA graphs: the captured work has no GPU operation (did it run on the CPU?)");
  TAILOR_CUDA_CHECK(cudaGraphInstantiate(&g->exec, g->graph, 0));
}

void graph_abort_capture(Graph* g) {
  if (!g || !g->capturing) return;
  cudaGraph_t partial = nullptr;
  cudaStreamEndCapture(stream(), &partial);  // fails when the capture was invalidated: nothing to keep either way
  cudaGetLastError();
  if (partial) cudaGraphDestroy(partial);
  g->capturing = false;
  pool_end();
}

void graph_launch(Graph* g) {
  TAILOR_CHECK(g && g->exec, "CUDA graphs: launch of a graph that was not captured");
  TAILOR_CUDA_CHECK(cudaGraphLaunch(g->exec, stream()));
}

void graph_destroy(Graph* g) {
  if (!g) return;
  graph_abort_capture(g);
  // (under destructors: a failure is the device's error already, reported by the next checked call; cleared
  // so that it is not blamed on an unrelated launch)
  if (g->exec && cudaGraphExecDestroy(g->exec) != cudaSuccess) cudaGetLastError();
  if (g->graph && cudaGraphDestroy(g->graph) != cudaSuccess) cudaGetLastError();
  pool_release(g->pool);
  delete g;
}

}  // namespace tailor::cuda
