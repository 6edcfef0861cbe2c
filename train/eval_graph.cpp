#include "train/eval_graph.h"

#include <cstdlib>
#include <stdexcept>
#include <string>

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

Tensor EvalGraph::forward(ResNet& net, const Tensor& images) {
  auto& count = eval_graph_counters();
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
  if (mode_ == GraphMode::Emulate) {
    out_ = net.forward(in_);
  } else {
    graph_.begin_capture();
    try {
      out_ = net.forward(in_);
      graph_.end_capture();
    } catch (const std::exception& e) {
      graph_.abort_capture();
      out_ = Tensor();
      throw std::runtime_error(std::string("cuda_graphs: the evaluation forward could not be captured: ") + e.what());
    }
    graph_.launch();  // the captured batch itself runs now
  }
  ready_ = true;
  return out_;
}

}  // namespace tailor
