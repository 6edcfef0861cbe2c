#include "engine/step_inputs.h"

#include "engine/cuda_graph.h"

namespace tailor {

namespace {
thread_local StepInputRecorder* g_current = nullptr;
}

Tensor step_input(const Device& d, const StepDraw& draw) {
  if (g_current) return g_current->input(d, draw);
  Tensor h = draw();
  return h.device() == d ? h : h.to(d);
}

StepInputRecorder::Active::Active(StepInputRecorder& r, Mode m) : previous(g_current) {
  r.mode_ = m;
  r.next_ = 0;
  g_current = &r;
}
StepInputRecorder::Active::~Active() { g_current = previous; }

Tensor StepInputRecorder::input(const Device& d, const StepDraw& draw) {
  if (mode_ == Mode::Replay || (mode_ == Mode::Redo && next_ < entries_.size())) {
    TAILOR_CHECK(next_ < entries_.size(), "step inputs: a replayed step asked for input ", next_ + 1, " of ",
                 entries_.size(), " recorded (the step's host code must draw the same inputs every step)");
    const Entry& e = entries_[next_++];
    TAILOR_CHECK(e.buffer.device() == d, "step inputs: input ", next_, " was recorded on ", e.buffer.device().str(),
                 ", asked for on ", d.str());
    return e.buffer;
  }
  Tensor h = draw();
  TAILOR_CHECK(h.device().is_cpu(), "step inputs: a draw must return a host tensor, got ", h.desc());
  Entry e{draw, Tensor::empty(h.shape(), h.dtype(), d), h.contiguous()};
  if (!cuda_capturing()) {  // an eager recorded step reads it at once; a captured one after the capture
    e.buffer.copy_from(e.pending);
    e.pending = Tensor();
  }
  entries_.push_back(e);
  next_ = entries_.size();
  return e.buffer;
}

void StepInputRecorder::upload_pending() {
  for (Entry& e : entries_)
    if (e.pending.defined()) {
      e.buffer.copy_from(e.pending);
      e.pending = Tensor();
    }
}

void StepInputRecorder::redraw() {
  for (Entry& e : entries_) {
    Tensor h = e.draw();
    TAILOR_CHECK(h.device().is_cpu() && h.shape() == e.buffer.shape() && h.dtype() == e.buffer.dtype(),
                 "step inputs: a draw returned ", h.desc(), ", recorded as ", e.buffer.desc());
    e.buffer.copy_from(h);
  }
}

}  // namespace tailor
