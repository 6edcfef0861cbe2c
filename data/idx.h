// IDX files (MNIST, Fashion-MNIST), plain or gzip-compressed (zlib; detected by content).
// Header: 0x00 0x00 <type> <ndim>, then ndim big-endian uint32 sizes, then the data. Type 0x08 = uint8
// (the only one the dataset loader accepts); 0x09 i8, 0x0B i16, 0x0C i32, 0x0D f32, 0x0E f64 are parsed.
// The payload must be exactly prod(dims) * element size bytes: short files and trailing bytes are errors.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/dataset.h"

namespace tailor::data {

struct IdxArray {
  uint8_t type = 0;
  std::vector<int64_t> dims;
  std::vector<uint8_t> data;  // raw payload, big-endian for multi-byte types
};

// Reads and validates an IDX file (".gz" or plain; gzip is recognised by its magic).
IdxArray read_idx(const std::string& path);
// Parses IDX bytes already in memory (decompressed); `name` is used in errors.
IdxArray parse_idx(const uint8_t* bytes, size_t n, const std::string& name);
// Decompresses gzip bytes (errors on corrupt/truncated streams), or returns them unchanged if not gzip.
std::vector<uint8_t> maybe_gunzip(const std::vector<uint8_t>& bytes, const std::string& name);

// Loads <root>/{train,t10k}-images-idx3-ubyte[.gz] and -labels-idx1-ubyte[.gz] (split "train" or "test").
// Images become HxWx1 uint8. Labels must lie in [0, num_classes) (opts.num_classes, default 10).
// Class names: Fashion-MNIST's when the root path contains "fashion", else "0".."9".
Dataset load_idx_dataset(const std::string& root, const std::string& split, const LoadOptions& opts = {});

constexpr const char* kFashionMnistRoot = "/usr/share/datasets/fashion-mnist";

}  // namespace tailor::data
