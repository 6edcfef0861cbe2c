// Inputs a training step draws on the host every step (GCL's noise cloud, GCLAng's margin tables, EQL's
// gate), made replayable for CUDA graphs (train/step_graph.h).
//
// A captured CUDA graph replays a step's kernels without running the step's host code, so a value the host
// draws anew every step must reach the kernels through a device buffer at a fixed address, rewritten before
// each replay. step_input(d, draw) is how a loss asks for such a value: draw() returns a host tensor, and
// step_input returns it on device d.
//   * no recorder (the usual eager step): draw() now, uploaded (host -> device: no read, no wait);
//   * a recorder recording (the step being captured, or its eager twin): draw() now, its result uploaded into
//     a device buffer allocated now, which is returned (while a CUDA capture runs, the upload waits for
//     upload_pending() after the capture: the captured kernels read the buffer at replay); the draw itself
//     is kept, in call order;
//   * before each replay, StepInputRecorder::redraw() runs the kept draws again, in the same order (so the
//     random streams advance exactly as in eager steps), and uploads each result into its buffer;
//   * a recorder replaying without a graph (emulate(): the CPU test of all this): the step's host code runs,
//     and its k-th step_input returns the k-th buffer as redraw() filled it, without calling its draw;
//   * a recorder redoing a step whose capture failed (Mode::Redo, after upload_pending()): the draws the
//     failed capture made are returned from their buffers, any later one is drawn now, so the random streams
//     advance once for the step.
// A draw may keep pointers to its loss (it lives as long as the stage, and the recorder is reset with it).
#pragma once
#include <functional>
#include <vector>

#include "engine/tensor.h"

namespace tailor {

using StepDraw = std::function<Tensor()>;  // a host (CPU) tensor, the same shape at every call

Tensor step_input(const Device& d, const StepDraw& draw);

class StepInputRecorder {
 public:
  enum class Mode { Record, Replay, Redo };
  // Makes this recorder the current one of this thread (step_input answers to it) until the guard ends.
  struct Active {
    explicit Active(StepInputRecorder& r, Mode m);
    ~Active();
    StepInputRecorder* previous;
  };
  void clear() { entries_.clear(); }
  bool empty() const { return entries_.empty(); }
  // After a captured step: its draws' uploads, which could not happen during the capture.
  void upload_pending();
  // Before a replay: every kept draw again, in order, each uploaded into its buffer.
  void redraw();
  Tensor input(const Device& d, const StepDraw& draw);  // step_input while this recorder is active

 private:
  struct Entry {
    StepDraw draw;
    Tensor buffer;   // on the step's device, fixed for the recorder's life
    Tensor pending;  // a host result not yet uploaded
  };
  std::vector<Entry> entries_;
  Mode mode_ = Mode::Record;
  size_t next_ = 0;  // Replay: the next entry a step_input call takes
};

}  // namespace tailor
