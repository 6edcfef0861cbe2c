// CUDA graphs of the training step (config key cuda_graphs): a batch-128 ResNet-32 step is ~200 tiny
// kernels, and launching them one by one costs more host time than the GPU needs to run them. A captured
// graph launches the whole step (forward, loss, backward, the non-finite guard, the optimiser, the BatchNorm
// restore) at once.
//
// What a replay needs, and where it comes from:
//   * the same kernels on the same addresses: the step's inputs are copied into fixed buffers (images,
//     second view, labels, mixup's partner labels and (lambda, 1 - lambda)), its outputs (loss, guard code)
//     written into fixed buffers the loop copies into its step queue; every block the captured step
//     allocates or frees stays the graph's (engine/cuda/runtime.h);
//   * values that change between steps read on the device: the learning rate (train/sgd.h), mixup's weights
//     (LossInput::mix), and what a loss draws on the host every step (GCL's cloud, GCLAng's tables, EQL's
//     gate) through step_input (engine/step_inputs.h), redrawn in the same order before every replay;
//   * nothing waits for the device or copies from the host inside the step: such a call during a capture
//     is an error naming it.
// When: every epoch's first step (of this process) runs eagerly, so that whatever a step does once
// (cuDNN's algorithm search, a momentum buffer's creation, a class-weight change at the epoch start) is done;
// the next step after one that created no momentum buffer is captured (and run by launching the graph) if an
// eager step of this process has had its batch shape: the second of the epoch, the third of a stage's first;
// every later step of the epoch with the same batch shape replays it; any other (a smaller last batch) runs
// eagerly. A new epoch captures anew.
// Not for: data parallel, dist.sync_bn, anomaly detection, and methods that read every step (balms,
// breadcrumb, ssd_contrastive): the loop says so in the log and runs those stages eagerly. A step that cannot
// be captured all the same runs eagerly instead, and so does the rest of its stage, which the log says.
//
// Kind::Emulate is the CPU test of everything above but the capture: the step's host code runs at every
// step, but from the second step of an epoch on its step inputs are those the recorder redrew before the
// step (step_input returns them without drawing), exactly what a replay reads (tests/test_step_graph.cpp).
#pragma once
#include <cstdint>
#include <functional>
#include <set>
#include <string>

#include "engine/cuda_graph.h"
#include "engine/step_inputs.h"
#include "train/method.h"

namespace tailor {

class StepGraph {
 public:
  enum class Kind { Capture, Emulate };
  StepGraph(Device dev, Kind kind);
  Kind kind() const { return kind_; }
  // What this step should do, from its place in the epoch (steps this process has run in it), its batch, and
  // whether the step before it created no optimiser state (`settled`: only then may a step be captured, or
  // the capture would re-create that state at every replay). A batch shape is captured only after a step of
  // that shape ran eagerly in this process (a resumed epoch's smaller last batch may come second). The step
  // must then run as planned: an Eager plan marks its batch shape as run.
  enum class Action { Eager, Capture, Replay };
  Action plan(int epoch, int64_t steps_here, const StepBatch& b, bool settled);
  // Copies the batch's tensors (on the host or the device) into the fixed input buffers; b then refers to them.
  void set_inputs(StepBatch& b);
  // Capture or Replay: runs `body`, which must write the step's loss into loss() and its guard code into
  // code(); afterwards the graph is kept for (epoch, batch shape). A step whose capture fails (something in
  // it waits for or reads from the device) runs again eagerly, with the same host draws, and failure() says
  // why: the caller runs the rest of the stage without the graph.
  void run(Action a, int epoch, const StepBatch& b, const std::function<void()>& body);
  const std::string& failure() const { return failure_; }
  Tensor& loss() { return loss_; }  // f32 [1]
  Tensor& code() { return code_; }  // i32 [1]
  void invalidate();                // the next step of the epoch captures anew (e.g. a momentum buffer dropped)

 private:
  static std::string shapes(const StepBatch& b);  // the batch's shapes and types
  std::string key(int epoch, const StepBatch& b) const;
  Device dev_;
  Kind kind_;
  Tensor images_, images2_, labels_, labels_b_, mix_, loss_, code_;
  StepInputRecorder inputs_;
  CudaGraph graph_;
  std::string key_;                     // of the captured step ("" = none)
  std::set<std::string> eager_shapes_;  // the batch shapes eager steps of this process ran
  std::string failure_;                 // why a capture failed ("" = none)
};

}  // namespace tailor
