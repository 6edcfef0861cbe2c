#include "train/checkpoint.h"

#include <cstring>
#include <limits>

#include "engine/safetensors.h"

namespace tailor {

void save_weights(const std::string& path, const Module& model, const std::map<std::string, std::string>& metadata) {
  SafeTensorFile f;
  f.metadata = metadata;
  for (auto& [name, t] : model.state_dict()) {
    Tensor c = t.contiguous().cpu();
    if (c.dtype() == DType::F32) {
      f.tensors[name] = make_safetensor_f32(c.shape(), c.to_vector());
    } else if (c.dtype() == DType::I32) {
      std::vector<int64_t> v;
      for (int32_t x : c.to_vector_i32()) v.push_back(x);
      f.tensors[name] = make_safetensor_i64(c.shape(), v);  // PyTorch keeps counters as int64
    } else {
      fail("save_weights: unsupported dtype for " + name);
    }
  }
  write_safetensors(path, f);
}

std::map<std::string, Tensor> read_weights(const std::string& path) {
  SafeTensorFile f = read_safetensors(path);
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
  auto sd = read_weights(path);
  try {
    return model.load_state_dict(sd, allow_partial);
  } catch (const std::exception& e) {
    fail(path + ": " + e.what());
  }
}

}  // namespace tailor
