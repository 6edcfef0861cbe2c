// CUDA graphs for code outside engine/ (train/step_graph.h): capture the stream's work once, replay it with
// one launch. The memory rules are engine/cuda/runtime.h's. CPU-only builds: cuda_capturing() is false and
// a CudaGraph cannot begin.
#pragma once

namespace tailor {

bool cuda_capturing();  // a capture of the CUDA stream is under way (allocations go to its graph's pool)

class CudaGraph {
 public:
  CudaGraph() = default;
  CudaGraph(const CudaGraph&) = delete;
  CudaGraph& operator=(const CudaGraph&) = delete;
  ~CudaGraph() { reset(); }
  void begin_capture();  // from now on the stream's work is recorded, not run
  void end_capture();    // instantiates what was recorded (an error names what broke the capture)
  void abort_capture();  // after an error inside the capture: nothing kept
  void launch();         // runs the recorded work once more
  bool ready() const;    // captured and instantiated
  void reset();          // destroyed (its memory returns to the allocator's cache)

 private:
  void* graph_ = nullptr;  // cuda::Graph
  bool ready_ = false;
};

}  // namespace tailor
