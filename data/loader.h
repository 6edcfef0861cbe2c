// Batched, prefetching data loader.
//
// Worker threads decode (lazy datasets) and augment whole batches into a bounded ring of `prefetch`
// ready batches; next() returns them strictly in order. Sample k of this rank's epoch stream (global
// position g = rank + k * world) is augmented with make_rng(seed, epoch, g, view): the output depends only on
// (dataset, sampler, transforms, seed, epoch), never on the number of workers or on timing.
// Two views (LoaderConfig::second_view): Batch::images is view 0, apply_transform(transform, image,
// make_rng(seed, epoch, g, 0)) exactly as a one-view loader's images; Batch::images2 is view 1 of the same
// samples, apply_transform(*second_view, image, make_rng(seed, epoch, g, 1)): an independent stream, so the
// two views of a sample differ even under one transform, and adding the second view leaves the first as it was.
// Batch tensors are allocated on the calling thread; workers only write into them.
#pragma once
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include "data/augment.h"
#include "data/dataset.h"
#include "data/samplers.h"
#include "engine/tensor.h"

namespace tailor::data {

struct Batch {
  Tensor images;                 // f32 [N, H, W, C]
  Tensor images2;                // f32 [N, H2, W2, C]: the second view (LoaderConfig::second_view), else undefined
  Tensor labels;                 // i32 [N]
  std::vector<int64_t> indices;  // dataset indices of the N samples
};

// Moves a batch's images and labels to device d (no-op when already there); the model's device.
void to_device(Batch& b, Device d);

struct LoaderConfig {
  int64_t batch_size = 128;
  bool drop_last = false;  // true: drop the final partial batch; false: keep it (smaller N)
  int num_workers = 2;     // 0 = produce batches on the calling thread inside next()
  int prefetch = 4;        // ready-batch queue bound (>= 1)
  uint64_t seed = 0;       // augmentation seed
  BadImagePolicy on_bad_image = BadImagePolicy::Error;  // lazy datasets: a failing sample is dropped (Skip)
  std::optional<TransformConfig> second_view;  // set: Batch::images2 holds a second view of every sample
  // Set: the dataset (decoded in memory) lives on this device as u8, and next() gathers each batch there
  // from the epoch's plan (data/resident.h): the same batches bit for bit, no workers, no pixels moved per step.
  std::optional<Device> resident;
};

class Loader {
 public:
  // `ds` and `sampler` must outlive the loader. The loader advances sampler's state as batches are returned.
  Loader(const Dataset& ds, Sampler& sampler, const TransformConfig& tf, const LoaderConfig& cfg);
  ~Loader();
  Loader(const Loader&) = delete;
  Loader& operator=(const Loader&) = delete;

  // Starts `epoch` at shard position `cursor` (0, or a saved SamplerState's cursor to resume).
  void start_epoch(int64_t epoch, int64_t cursor = 0);
  void resume(const SamplerState& s) { start_epoch(s.epoch, s.cursor); }
  // The next batch of the epoch in order; false when the epoch is exhausted. Rethrows a worker's error.
  bool next(Batch& out);
  // A batch of the given dataset indices, assembled now on the calling thread (OpenMP over the samples when
  // num_workers > 0): sample k is augmented as the sampler's stream would augment position first_position +
  // k * position_step of `epoch` (position_step = world: a rank's share r, r + world, ... of a global batch).
  // For methods that choose their batches as they train (a learned sampler); such a loader is not also read
  // with next() (its workers stay idle until start_epoch).
  void load(const std::vector<int64_t>& indices, int64_t epoch, int64_t first_position, Batch& out,
            int64_t position_step = 1);

  int64_t batches_per_epoch() const;  // from cursor 0, on this rank
  bool resident() const { return cfg_.resident.has_value(); }  // batches gathered on a device (LoaderConfig::resident)
  int64_t skipped() const { return skipped_; }
  SamplerState state() const { return sampler_.state(); }  // resume point after the last returned batch
  int out_height() const { return out_h_; }
  int out_width() const { return out_w_; }
  int out_channels() const { return out_c_; }
  int out_height2() const { return out_h2_; }  // the second view's (0 without one)
  int out_width2() const { return out_w2_; }

 private:
  struct Slot {
    int64_t batch = -1;  // batch number inside the epoch; -1 = free
    enum State { Free, Assigned, Working, Ready } st = Free;
    Batch b;
    float* img = nullptr;
    float* img2 = nullptr;
    int32_t* lab = nullptr;
    int64_t begin = 0, count = 0;  // shard positions [begin, begin + count)
    int64_t valid = 0;             // samples written (< count when some were skipped)
    std::vector<int64_t> idx;
    std::exception_ptr err;
    uint64_t gen = 0;
  };
  void assign(Slot& s, int64_t batch);
  void fill(Slot& s);  // the worker's job: decode + augment the slot's samples
  bool sample_into(int64_t di, int64_t epoch, int64_t position, float* dst, float* dst2, TransformScratch& scratch,
                   ImageU8& decoded) const;
  void allocate(Batch& b, int64_t n) const;  // images (+ images2), labels of n samples
  int64_t row() const { return (int64_t)out_h_ * out_w_ * out_c_; }
  int64_t row2() const { return (int64_t)out_h2_ * out_w2_ * out_c_; }
  void worker_loop();
  void stop_workers();
  int64_t num_batches_from(int64_t cursor) const;
  void setup_resident();                 // uploads the images and the normalisation table
  bool next_resident(Batch& out);        // next() of a resident loader

  const Dataset& ds_;
  Sampler& sampler_;
  TransformConfig tf_;
  LoaderConfig cfg_;
  int out_h_ = 0, out_w_ = 0, out_c_ = 0;
  int out_h2_ = 0, out_w2_ = 0;

  std::vector<int64_t> shard_;  // this epoch's shard indices
  int64_t epoch_ = 0, cursor0_ = 0, nbatches_ = 0, next_batch_ = 0;
  uint64_t gen_ = 0;
  std::vector<Slot> slots_;
  std::mutex mu_;
  std::condition_variable cv_work_, cv_done_;
  bool stop_ = false;
  int working_ = 0;
  int64_t skipped_ = 0;
  std::vector<std::thread> workers_;
  // resident (LoaderConfig::resident): the images [N, H, W, C] u8, the table, this epoch's plan [len, 4]
  Tensor res_images_, res_lut_, res_plan_;
  std::vector<int32_t> res_plan_host_;
};

}  // namespace tailor::data
