// Helpers of the data-reader tests: a temporary folder, files written from bytes, synthetic CIFAR records and IDX
// arrays, PNG / JPEG encoding of a test pattern.
#pragma once
#include <doctest/doctest.h>

#include <stb_image_write.h>
#include <zlib.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/decode.h"

namespace data_files {

namespace fs = std::filesystem;
using tailor::data::read_file;

inline doctest::Contains has(const std::string& s) { return doctest::Contains(s.c_str()); }

struct TempDir {
  fs::path path;
  TempDir() {
    char tmpl[] = "/tmp/tailor_data_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& s) const { return (path / s).string(); }
};

inline void write_bytes(const std::string& p, const std::vector<uint8_t>& b) {
  fs::create_directories(fs::path(p).parent_path());
  std::ofstream f(p, std::ios::binary);
  f.write((const char*)b.data(), (std::streamsize)b.size());
}

inline void write_text(const std::string& p, const std::string& s) { write_bytes(p, std::vector<uint8_t>(s.begin(), s.end())); }

inline std::vector<uint8_t> read_bytes(const std::string& p) { return read_file(p); }

// CIFAR records: pixel (r, i) of channel c = (r * 7 + i * 3 + c * 11) % 256; label = labels(r)
inline std::vector<uint8_t> cifar_bytes(int n, bool c100, int label_mod) {
  std::vector<uint8_t> b;
  for (int r = 0; r < n; ++r) {
    if (c100) b.push_back((uint8_t)(r % 20));
    b.push_back((uint8_t)(r % label_mod));
    for (int c = 0; c < 3; ++c)
      for (int i = 0; i < 1024; ++i) b.push_back((uint8_t)((r * 7 + i * 3 + c * 11) % 256));
  }
  return b;
}

inline std::vector<uint8_t> idx_bytes(uint8_t type, const std::vector<uint32_t>& dims, size_t payload_fill_mod = 10) {
  std::vector<uint8_t> b = {0, 0, type, (uint8_t)dims.size()};
  size_t n = 1;
  for (uint32_t d : dims) {
    b.push_back((uint8_t)(d >> 24));
    b.push_back((uint8_t)(d >> 16));
    b.push_back((uint8_t)(d >> 8));
    b.push_back((uint8_t)d);
    n *= d;
  }
  for (size_t i = 0; i < n; ++i) b.push_back((uint8_t)(i % payload_fill_mod));
  return b;
}

inline void write_gz(const std::string& p, const std::vector<uint8_t>& b) {
  gzFile f = gzopen(p.c_str(), "wb");
  gzwrite(f, b.data(), (unsigned)b.size());
  gzclose(f);
}

inline std::vector<uint8_t> encode_png(int w, int h, int c, const std::vector<uint8_t>& px) {
  std::vector<uint8_t> out;
  stbi_write_png_to_func([](void* ctx, void* data, int size) {
    auto* o = (std::vector<uint8_t>*)ctx;
    o->insert(o->end(), (uint8_t*)data, (uint8_t*)data + size);
  }, &out, w, h, c, px.data(), w * c);
  return out;
}

inline std::vector<uint8_t> encode_jpg(int w, int h, int c, const std::vector<uint8_t>& px, int q = 90) {
  std::vector<uint8_t> out;
  stbi_write_jpg_to_func([](void* ctx, void* data, int size) {
    auto* o = (std::vector<uint8_t>*)ctx;
    o->insert(o->end(), (uint8_t*)data, (uint8_t*)data + size);
  }, &out, w, h, c, px.data(), q);
  return out;
}

inline std::vector<uint8_t> pattern(int w, int h, int c, int seed) {
  std::vector<uint8_t> p((size_t)w * h * c);
  for (size_t i = 0; i < p.size(); ++i) p[i] = (uint8_t)((i * 13 + (size_t)seed * 29 + (i / (size_t)(w * c)) * 5) % 256);
  return p;
}

inline std::vector<uint8_t> unhex(const std::string& s) {
  std::vector<uint8_t> out(s.size() / 2);
  for (size_t i = 0; i < out.size(); ++i) out[i] = (uint8_t)std::stoi(s.substr(2 * i, 2), nullptr, 16);
  return out;
}

}  // namespace data_files
