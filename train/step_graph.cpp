#include "train/step_graph.h"


namespace tailor {

StepGraph::StepGraph(Device dev, Kind kind)
    : dev_(dev),
      kind_(kind),
      loss_(Tensor::zeros({1}, DType::F32, dev)),
      code_(Tensor::zeros({1}, DType::I32, dev)) {
  TAILOR_CHECK(kind == Kind::Emulate || dev.is_cuda(), "cuda_graphs: needs device cuda, got ", dev.str());
}

std::string StepGraph::shapes(const StepBatch& b) {
  auto shape = [](const Tensor& t) {  // not the device: a step's inputs may still be on the host
    return t.defined() ? std::string(dtype_name(t.dtype())) + shape_str(t.shape()) : std::string("-");
  };
  return shape(b.images) + " " + shape(b.images2) + " " + shape(b.labels_b);
}

std::string StepGraph::key(int epoch, const StepBatch& b) const { return std::to_string(epoch) + " " + shapes(b); }

StepGraph::Action StepGraph::plan(int epoch, int64_t steps_here, const StepBatch& b, bool settled) {
  Action a = Action::Eager;  // the epoch's warm-up step (steps_here 0), another shape, state still being made
  if (steps_here > 0 && !key_.empty())
    a = key(epoch, b) == key_ ? Action::Replay : Action::Eager;
  else if (steps_here > 0 && settled && eager_shapes_.count(shapes(b)))  // cuDNN has searched this shape already
    a = Action::Capture;
  if (a == Action::Eager) eager_shapes_.insert(shapes(b));
  return a;
}

// dst <- src (host -> device or device -> device), dst (re)made when the shape changes
static void into(Tensor& dst, Tensor& src, Device dev) {
  if (!src.defined()) return;
  if (!dst.defined() || dst.shape() != src.shape() || dst.dtype() != src.dtype())
    dst = Tensor::empty(src.shape(), src.dtype(), dev);
  dst.copy_from(src);
  src = dst;
}

void StepGraph::set_inputs(StepBatch& b) {
  into(images_, b.images, dev_);
  into(images2_, b.images2, dev_);
  into(labels_, b.labels, dev_);
  into(labels_b_, b.labels_b, dev_);
  into(mix_, b.mix, dev_);
}

void StepGraph::invalidate() {
  key_.clear();
  graph_.reset();
  inputs_.clear();
}

void StepGraph::run(Action a, int epoch, const StepBatch& b, const std::function<void()>& body) {
  TAILOR_CHECK(a != Action::Eager, "StepGraph::run: an eager step runs without the graph");
  if (a == Action::Replay) {
    inputs_.redraw();  // this step's host draws, in the recorded order, into their buffers
    if (kind_ == Kind::Emulate) {
      StepInputRecorder::Active on(inputs_, StepInputRecorder::Mode::Replay);
      body();
    } else {
      graph_.launch();
    }
    return;
  }
  invalidate();
  try {
    if (kind_ == Kind::Capture) graph_.begin_capture();
    {
      StepInputRecorder::Active on(inputs_, StepInputRecorder::Mode::Record);
      body();
    }
    if (kind_ == Kind::Capture) graph_.end_capture();
  } catch (const std::exception& e) {
    // Nothing of the step ran on the device (a capture only records). The step again, eagerly, with the draws
    // the capture made; the stage goes on without a graph (failure(): the loop says why in the log).
    if (kind_ == Kind::Capture) graph_.abort_capture();
    graph_.reset();
    failure_ = e.what();
    inputs_.upload_pending();
    {
      StepInputRecorder::Active on(inputs_, StepInputRecorder::Mode::Redo);
      body();  // a step that fails eagerly too: its error, as without graphs
    }
    inputs_.clear();
    return;
  }
  if (kind_ == Kind::Capture) {
    inputs_.upload_pending();
    graph_.launch();  // the captured step itself runs now
  }
  key_ = key(epoch, b);
}

}  // namespace tailor
