#include "train/checkpoint.h"

#include <zlib.h>

#include <cstdio>
#include <cstring>
#include <limits>

#include "engine/safetensors.h"

namespace tailor {

namespace {

// CRC-32 of the data section: every tensor's bytes in name order (the order the writer lays them out).
std::string data_crc32(const SafeTensorFile& f) {
  uLong crc = crc32(0L, Z_NULL, 0);
  for (auto& [name, t] : f.tensors) {
    const uint8_t* p = t.bytes.data();
    size_t n = t.bytes.size();
    while (n > 0) {
      uInt chunk = (uInt)std::min<size_t>(n, 1u << 30);
      crc = crc32(crc, p, chunk);
      p += chunk;
      n -= chunk;
    }
  }
  char buf[9];
  std::snprintf(buf, sizeof buf, "%08lx", (unsigned long)crc);
  return buf;
}

SafeTensor to_safetensor(const std::string& name, const Tensor& t) {
  Tensor c = t.contiguous().cpu();
  if (c.dtype() == DType::F32) return make_safetensor_f32(c.shape(), c.to_vector());
  if (c.dtype() == DType::I32) {
    std::vector<int64_t> v;
    for (int32_t x : c.to_vector_i32()) v.push_back(x);
    return make_safetensor_i64(c.shape(), v);  // PyTorch keeps counters as int64
  }
  fail("checkpoint: unsupported dtype for " + name);
}

void write_with_crc(const std::string& path, SafeTensorFile& f) {
  f.metadata["crc32"] = data_crc32(f);
  write_safetensors(path, f);
}

}  // namespace

void save_tensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                  const std::map<std::string, std::string>& metadata) {
  SafeTensorFile f;
  f.metadata = metadata;
  for (auto& [name, t] : tensors) f.tensors[name] = to_safetensor(name, t);
  write_with_crc(path, f);
}

void save_weights(const std::string& path, const Module& model, const std::map<std::string, std::string>& metadata) {
  SafeTensorFile f;
  f.metadata = metadata;
  for (auto& [name, t] : model.state_dict()) f.tensors[name] = to_safetensor(name, t);
  write_with_crc(path, f);
}

std::map<std::string, Tensor> read_weights(const std::string& path, std::map<std::string, std::string>* metadata,
                                           CrcCheck check) {
  SafeTensorFile f = read_safetensors(path);
  auto it = f.metadata.find("crc32");
  bool tailors = check == CrcCheck::Required;
  for (const char* k : {"arch", "head", "num_classes", "stage", "state"}) tailors = tailors || f.metadata.count(k);
  if (it == f.metadata.end() && tailors)
    fail(path + ": no crc32 in the metadata, so the data cannot be checked: the header is damaged or the file was "
         "not written by tailor; use another checkpoint");
  if (it != f.metadata.end()) {
    std::string got = data_crc32(f);
    if (got != it->second)
      fail(path + ": checksum mismatch (crc32 of the data is " + got + ", the header says " + it->second +
           "): the file is corrupted; use another copy of it (a model: another of the run's checkpoints, e.g. "
           "stage<k>_best / _last.safetensors)");
  }
  if (metadata) *metadata = f.metadata;
  std::map<std::string, Tensor> out;
  for (auto& [name, st] : f.tensors) {
    Shape shape(st.shape.begin(), st.shape.end());
    if (st.dtype == "F32") {
      out[name] = Tensor::from_vector(safetensor_as_f32(st), shape);
    } else if (st.dtype == "I32") {
      out[name] = Tensor::from_vector_i32(safetensor_as_i32(st), shape);
    } else if (st.dtype == "I64") {
      std::vector<int32_t> v;
      for (int64_t x : safetensor_as_i64(st)) {
        TAILOR_CHECK(x >= std::numeric_limits<int32_t>::min() && x <= std::numeric_limits<int32_t>::max(), path,
                     ": tensor ", name, " has an int64 value out of int32 range");
        v.push_back((int32_t)x);
      }
      out[name] = Tensor::from_vector_i32(v, shape);
    } else {
      fail(path + ": tensor " + name + " has unsupported dtype " + st.dtype + " (expected F32, I32 or I64)");
    }
  }
  return out;
}

Module::LoadReport load_weights(const std::string& path, Module& model, bool allow_partial) {
  auto sd = read_weights(path, nullptr, CrcCheck::IfPresent);
  try {
    return model.load_state_dict(sd, allow_partial);
  } catch (const std::exception& e) {
    fail(path + ": " + e.what());
  }
}

}  // namespace tailor
