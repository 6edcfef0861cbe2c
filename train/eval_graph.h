// CUDA graphs of the evaluation forward (config key cuda_graphs, with the training step's: train/step_graph.h).
// An evaluation is tens of batches of one shape whose forward (ResNet-32: ~100 kernels) costs more host time
// to launch kernel by kernel than the GPU needs to run it. Per evaluation and batch shape: the first batch
// runs eagerly (cuDNN's algorithm search for that shape, whatever is allocated once), the second is captured
// into a graph that reads a fixed input buffer and writes a fixed logits tensor (and is launched), and every
// later batch of that shape is copied into the buffer and replays the graph; a batch of another shape (the
// last, smaller one) runs eagerly. What the metrics do with the logits (a copy to the host per batch) happens
// outside the graph. The graph lives for one evaluation, so its memory is held only while it is used.
// Not for data-parallel evaluation (sharded, gathered through the host) or debug.anomaly (which reads every
// op's output on the host). A forward that cannot be captured (a head that computes on the host: NCM) runs
// eagerly for the rest of that evaluation, and the run's log says why (take_eval_graph_failure).
//
// GraphMode::Emulate is the CPU test of the buffer discipline: the forward runs at every batch, but from the
// second batch of a shape on it reads the fixed input buffer and its logits are handed out as a replay's
// would be (tests/test_step_graph.cpp); a forward that reads a tensor on the host (Tensor::host_reads) fails
// its emulated capture as a real one would.
#pragma once
#include <cstdint>
#include <string>

#include "engine/cuda_graph.h"
#include "engine/tensor.h"
#include "layers/resnet.h"

namespace tailor {

enum class GraphMode { Off, Capture, Emulate };
// The mode for a run's evaluations: Capture when cuda_graphs is on (on a CUDA device), Emulate when the
// environment says TAILOR_EMULATE_STEP_GRAPH=1 (tests), else Off.
GraphMode eval_graph_mode(bool cuda_graphs);

struct EvalGraphCounters {
  int64_t eager = 0, captures = 0, replays = 0;  // batches run each way, this process
  std::string failure;  // why the last capture failed (that evaluation then ran eagerly), "" = none since read
};
EvalGraphCounters& eval_graph_counters();
// The failure message of a capture since the last call ("" if none), for the run's log; clears it.
std::string take_eval_graph_failure();

class EvalGraph {
 public:
  explicit EvalGraph(GraphMode mode);
  // The logits of net.forward(images) (net in eval mode, no grad); valid until the next call.
  Tensor forward(ResNet& net, const Tensor& images);

 private:
  GraphMode mode_;
  Shape shape_;
  DType dtype_ = DType::F32;
  int64_t seen_ = 0;     // batches of this shape so far
  bool failed_ = false;  // a capture failed: every later batch runs eagerly
  Tensor in_, out_;
  CudaGraph graph_;
  bool ready_ = false;
};

}  // namespace tailor
