// Model weights as safetensors with PyTorch state-dict names. BatchNorm's num_batches_tracked is
// stored as I64 like PyTorch, so the file loads with load_state_dict(strict=True) into the
// equivalent torchvision / LDAM-DRW model. Writes are atomic (tmp, fsync, rename).
#pragma once
#include <map>
#include <string>

#include "layers/module.h"

namespace tailor {

void save_weights(const std::string& path, const Module& model,
                  const std::map<std::string, std::string>& metadata = {});
// Reads every tensor of the file (F32, I32 and I64 — the latter narrowed to I32 with a range check).
std::map<std::string, Tensor> read_weights(const std::string& path);
// read_weights + Module::load_state_dict; strict unless allow_partial. The error names the file.
Module::LoadReport load_weights(const std::string& path, Module& model, bool allow_partial = false);

}  // namespace tailor
