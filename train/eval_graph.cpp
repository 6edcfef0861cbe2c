#include "train/eval_graph.h"

#include <cstdlib>
#include <string>
#include <utility>

namespace tailor {

GraphMode eval_graph_mode(bool cuda_graphs) {
  const char* e = std::getenv("TAILOR_EMULATE_STEP_GRAPH");
  if (e && std::string(e) == "1") return GraphMode::Emulate;
  return cuda_graphs ? GraphMode::Capture : GraphMode::Off;
}

EvalGraphCounters& eval_graph_counters() {
  static EvalGraphCounters c;
  return c;
}

EvalGraph::EvalGraph(GraphMode mode) : mode_(mode) {
  TAILOR_CHECK(mode != GraphMode::Off, "EvalGraph: made with graphs off");
}

std::string take_eval_graph_failure() {
  std::string s;
  std::swap(s, eval_graph_counters().failure);
  return s;
}

Tensor EvalGraph::forward(ResNet& net, const Tensor& images) {
  auto& count = eval_graph_counters();
  if (failed_) {
    ++count.eager;
    return net.forward(images);
  }
  if (images.shape() != shape_ || images.dtype() != dtype_) {  // a new shape: start over with it
    shape_ = images.shape();
    dtype_ = images.dtype();
    seen_ = 0;
    ready_ = false;
    graph_.reset();
    out_ = Tensor();
  }
  if (seen_++ == 0) {
    ++count.eager;
    return net.forward(images);
  }
  if (!in_.defined() || in_.shape() != shape_ || in_.dtype() != dtype_ || in_.device() != net.device())
    in_ = Tensor::empty(shape_, dtype_, net.device());
  in_.copy_from(images);
  if (ready_) {
    ++count.replays;
    if (mode_ == GraphMode::Capture)
      graph_.launch();
    else
      out_ = net.forward(in_);
    return out_;
  }
  ++count.captures;
  TAILOR_CHECK(mode_ == GraphMode::Emulate || net.device().is_cuda(),
               "EvalGraph: a CUDA graph of a forward on ", net.device().str());
  if (mode_ == GraphMode::Emulate) {
    const int64_t reads0 = Tensor::host_reads();
    out_ = net.forward(in_);
    if (Tensor::host_reads() != reads0) {  // what a capture refuses (a host read): eager from now on, as there
      count.failure = "the forward reads a tensor on the host (emulated capture)";
      failed_ = true;
      ++count.eager;
      return net.forward(images);
    }
  } else {
    try {
      graph_.begin_capture();
      out_ = net.forward(in_);
      graph_.end_capture();
      graph_.launch();  // the captured batch itself runs now
    } catch (const std::exception& e) {
      // a forward that cannot be captured (a head computing on the host: NCM), or a graph that cannot start or
      // launch: the evaluation goes on eagerly, which changes no number (eval mode, no gradient, nothing written
      // but the logits)
      graph_.abort_capture();
      graph_.reset();
      count.failure = e.what();
      failed_ = true;
      ++count.eager;
      return net.forward(images);
    }
  }
  ready_ = true;
  return out_;
}

}  // namespace tailor
