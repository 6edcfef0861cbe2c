// safetensors reader/writer (format of huggingface/safetensors), independent of
// the engine's Tensor type.
//
// Layout: u64 little-endian N | N bytes of UTF-8 JSON header | raw data.
// Header: {"name": {"dtype": "F32", "shape": [2, 3], "data_offsets": [b, e]}, ...,
//          "__metadata__": {"key": "value", ...}}   (metadata optional)
// data_offsets are relative to the start of the data section; tensors are stored
// row-major, little-endian, back to back, and together cover the data exactly.
//
// read_safetensors validates strictly and throws std::runtime_error whose message
// starts with the file path. write_safetensors writes tensors sorted by name,
// pads the header with spaces so the data starts 8-byte aligned, and replaces the
// file atomically (path.tmp, fsync, rename, fsync of the directory).
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tailor {

struct SafeTensor {
  std::string dtype;            // "F32", "F64", "I32", "I64", "U8" (also F16, BF16, I8, I16, BOOL)
  std::vector<int64_t> shape;   // empty = scalar
  std::vector<uint8_t> bytes;   // little-endian, row-major

  int64_t numel() const;
};

struct SafeTensorFile {
  std::map<std::string, SafeTensor> tensors;
  std::map<std::string, std::string> metadata;
};

// Size in bytes of one element of `dtype`; 0 when the dtype is unknown.
size_t safetensors_dtype_size(const std::string& dtype);

SafeTensorFile read_safetensors(const std::string& path);
// Only the header's __metadata__ (the 8-byte length and the JSON header are read and checked as above; the
// tensors are not read): what a file is, without reading a 240 MB checkpoint's weights.
std::map<std::string, std::string> read_safetensors_metadata(const std::string& path);
// Parses an in-memory file image; `name` is used in error messages.
SafeTensorFile parse_safetensors(const std::vector<uint8_t>& file, const std::string& name);

void write_safetensors(const std::string& path, const SafeTensorFile& f);
// The first bytes of a file holding tensors of these dtypes and shapes (their bytes in name order follow): the
// 8-byte length and the header, padded so that the data starts 8-byte aligned. For a file written in pieces.
struct SafeTensorLayout {
  std::string dtype;
  std::vector<int64_t> shape;
};
std::vector<uint8_t> safetensors_header(const std::map<std::string, SafeTensorLayout>& tensors,
                                        const std::map<std::string, std::string>& metadata, const std::string& name);
// Serialises to an in-memory file image (what write_safetensors writes).
std::vector<uint8_t> serialize_safetensors(const SafeTensorFile& f, const std::string& name);

// Convenience for typed data (host is little-endian, checked at compile time in
// the .cpp). make_* copy the values; as_* check dtype and return a copy.
SafeTensor make_safetensor_f32(const std::vector<int64_t>& shape, const std::vector<float>& v);
SafeTensor make_safetensor_f64(const std::vector<int64_t>& shape, const std::vector<double>& v);
SafeTensor make_safetensor_i32(const std::vector<int64_t>& shape, const std::vector<int32_t>& v);
SafeTensor make_safetensor_i64(const std::vector<int64_t>& shape, const std::vector<int64_t>& v);
std::vector<float> safetensor_as_f32(const SafeTensor& t);
std::vector<double> safetensor_as_f64(const SafeTensor& t);
std::vector<int32_t> safetensor_as_i32(const SafeTensor& t);
std::vector<int64_t> safetensor_as_i64(const SafeTensor& t);

}  // namespace tailor
