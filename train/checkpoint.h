// Checkpoints.
//
// Model weights: safetensors with PyTorch state-dict names. BatchNorm's num_batches_tracked is stored as
// I64 like PyTorch, so the file loads with load_state_dict(strict=True) into the equivalent torchvision /
// LDAM-DRW model. The metadata carries "crc32" of the data section (zlib CRC-32 of every tensor's bytes in
// name order); a reader verifies it, so a truncated or bit-flipped file is rejected with a clear message.
//
// Training state (train_state.safetensors of a run directory): everything an exact resume needs in ONE
// file — model tensors ("model.<name>"), SGD momentum buffers ("momentum.<param name>") and a JSON
// document in the metadata key "state" (stage, epoch, sampler cursor, step counters, RNG states, best
// score, log-file lengths, config hash; see train/trainer.cpp).
// Every write is atomic: path.tmp, fsync, rename, fsync of the directory — an interrupted write leaves
// the previous file intact.
#pragma once
#include <map>
#include <string>
#include <vector>

#include "layers/module.h"

namespace tailor {

void save_weights(const std::string& path, const Module& model,
                  const std::map<std::string, std::string>& metadata = {});
// Whose file is read: tailor's own (a training state, a run's checkpoints) must carry its crc32, so a
// damaged header cannot switch the check off; a file from elsewhere (PyTorch weights) is checked when it
// carries one, or when its metadata shows it is tailor's (arch / head / stage keys).
enum class CrcCheck { Required, IfPresent };
// Reads every tensor of the file (F32, I32 and I64 — the latter narrowed to I32 with a range check) and
// verifies the crc32 metadata. `metadata` (optional) receives the file's metadata.
std::map<std::string, Tensor> read_weights(const std::string& path, std::map<std::string, std::string>* metadata = nullptr,
                                           CrcCheck crc = CrcCheck::Required);
// Weights from PyTorch for `model`, as its load_state_dict(strict=True) takes them (CrcCheck::IfPresent):
// F16 / BF16 / F64 tensors cast to F32, the "module." prefix of a DataParallel / DDP state dict dropped, a
// BatchNorm num_batches_tracked the file lacks (PyTorch < 0.4.1) set to 0. `notes` gets a line per change.
std::map<std::string, Tensor> read_foreign_weights(const std::string& path, const Module& model,
                                                   std::vector<std::string>* notes);
// model.init_from: read_foreign_weights + Module::load_state_dict; strict unless allow_partial, and a partial
// load must match at least one tensor. Errors (ConfigError) name the file; the report carries the notes.
Module::LoadReport load_weights(const std::string& path, Module& model, bool allow_partial = false);

// Tensors + metadata, with the crc32 written and checked like the weights files.
void save_tensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata);

// Tensors written as their rows arrive, none of the streamed ones held in memory (extract-features: the logits
// of iNaturalist 2018's training split are [437513, 8142] F32, 14 GB). Each streamed F32 tensor's rows go to an
// unnamed temporary file in `path`'s folder (opened, then unlinked: nothing is left behind, even by a crash);
// finish() writes `path` as save_tensors would write the same tensors (byte for byte, crc32 included), atomically
// (path.tmp, fsync, rename). The folder holds the streamed bytes twice while finish() runs.
class StreamedTensorsWriter {
 public:
  // streamed: name -> the values of one row (features: F); throws naming `path` when its folder takes no file
  StreamedTensorsWriter(const std::string& path, const std::map<std::string, int64_t>& streamed);
  ~StreamedTensorsWriter();
  StreamedTensorsWriter(const StreamedTensorsWriter&) = delete;
  StreamedTensorsWriter& operator=(const StreamedTensorsWriter&) = delete;
  // Whole rows of a streamed tensor, appended.
  void append(const std::string& name, const float* values, size_t count);
  // The file: the streamed tensors ([rows, row size] each, F32) and `tensors`, with `metadata`.
  void finish(const std::map<std::string, Tensor>& tensors, const std::map<std::string, std::string>& metadata);

 private:
  struct Part {
    int fd = -1;
    int64_t row = 0, rows = 0;
    uint64_t bytes = 0;
    unsigned long crc = 0;  // zlib crc32 of its bytes so far
  };
  std::string path_;
  std::map<std::string, Part> parts_;
};

}  // namespace tailor
