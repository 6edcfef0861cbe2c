#include "data/idx.h"

#include <zlib.h>

#include <cstdio>
#include <filesystem>
#include <stdexcept>

#include "data/decode.h"

namespace fs = std::filesystem;

namespace tailor::data {

std::vector<uint8_t> maybe_gunzip(const std::vector<uint8_t>& in, const std::string& name) {
  if (in.size() < 2 || in[0] != 0x1f || in[1] != 0x8b) return in;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) throw std::runtime_error(name + ": zlib init failed");
  std::vector<uint8_t> out;
  out.resize(std::max<size_t>(in.size() * 4, 1 << 16));
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = (uInt)in.size();
  int rc;
  for (;;) {
    if (zs.total_out == out.size()) {
      if (out.size() > ((size_t)1 << 33)) {
        inflateEnd(&zs);
        throw std::runtime_error(name + ": gzip payload larger than 8 GiB");
      }
      out.resize(out.size() * 2);
    }
    zs.next_out = out.data() + zs.total_out;
    zs.avail_out = (uInt)std::min<size_t>(out.size() - zs.total_out, 1u << 30);
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc == Z_STREAM_END) {
      if (zs.avail_in != 0) {
        inflateEnd(&zs);
        throw std::runtime_error(name + ": " + std::to_string(zs.avail_in) + " unexpected bytes after the gzip stream");
      }
      break;
    }
    if (rc == Z_BUF_ERROR && zs.avail_in == 0) {
      inflateEnd(&zs);
      throw std::runtime_error(name + ": truncated gzip stream");
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      std::string msg = zs.msg ? zs.msg : "error " + std::to_string(rc);
      inflateEnd(&zs);
      throw std::runtime_error(name + ": corrupt gzip stream (" + msg + ")");
    }
  }
  out.resize(zs.total_out);
  inflateEnd(&zs);
  return out;
}

static size_t idx_elem_size(uint8_t t) {
  switch (t) {
    case 0x08: case 0x09: return 1;
    case 0x0B: return 2;
    case 0x0C: case 0x0D: return 4;
    case 0x0E: return 8;
    default: return 0;
  }
}

IdxArray parse_idx(const uint8_t* p, size_t n, const std::string& name) {
  if (n < 4) throw std::runtime_error(name + ": short IDX file (" + std::to_string(n) + " bytes, no header)");
  if (p[0] != 0 || p[1] != 0)
    throw std::runtime_error(name + ": wrong IDX magic (first two bytes must be 0)");
  IdxArray a;
  a.type = p[2];
  size_t es = idx_elem_size(a.type);
  if (es == 0) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "0x%02X", a.type);
    throw std::runtime_error(name + ": unknown IDX element type " + buf + " (wrong magic)");
  }
  int nd = p[3];
  if (nd < 1 || nd > 4) throw std::runtime_error(name + ": IDX dimension count " + std::to_string(nd) + " not in [1, 4]");
  size_t hdr = 4 + 4 * (size_t)nd;
  if (n < hdr) throw std::runtime_error(name + ": short IDX file (header cut off)");
  unsigned __int128 total = es;
  for (int d = 0; d < nd; ++d) {
    const uint8_t* q = p + 4 + 4 * d;
    int64_t v = ((int64_t)q[0] << 24) | ((int64_t)q[1] << 16) | ((int64_t)q[2] << 8) | q[3];
    a.dims.push_back(v);
    total *= (unsigned __int128)v;
  }
  unsigned __int128 have = n - hdr;
  if (have < total)
    throw std::runtime_error(name + ": short IDX file (" + std::to_string((uint64_t)have) + " data bytes, header says " +
                             std::to_string((uint64_t)total) + ")");
  if (have > total)
    throw std::runtime_error(name + ": " + std::to_string((uint64_t)(have - total)) + " unexpected trailing bytes");
  a.data.assign(p + hdr, p + n);
  return a;
}

IdxArray read_idx(const std::string& path) {
  std::vector<uint8_t> raw = read_file(path);
  std::vector<uint8_t> b = maybe_gunzip(raw, path);
  return parse_idx(b.data(), b.size(), path);
}

// The IDX file `stem` or `stem.gz` under root. Both present (a `gunzip -k` leaves both): the .gz is read, and
// the plain file must hold the same bytes, or which one is meant is not guessed.
static std::string find_idx(const fs::path& root, const std::string& stem) {
  const fs::path gz = root / (stem + ".gz"), plain = root / stem;
  const bool has_gz = fs::exists(gz), has_plain = fs::exists(plain);
  if (has_gz && has_plain) {
    const std::vector<uint8_t> a = maybe_gunzip(read_file(gz.string()), gz.string()), b = read_file(plain.string());
    if (a != b)
      throw std::runtime_error(plain.string() + " and " + gz.string() + " differ (" + std::to_string(b.size()) + " and " +
                               std::to_string(a.size()) + " bytes unpacked): remove the one that is not the data");
  }
  if (has_gz) return gz.string();
  if (has_plain) return plain.string();
  throw std::runtime_error((root / stem).string() + "[.gz]: missing IDX file");
}

Dataset load_idx_dataset(const std::string& root, const std::string& split, const LoadOptions& opts) {
  std::string prefix;
  if (split == "train") prefix = "train";
  else if (split == "test" || split == "t10k") prefix = "t10k";
  else throw std::runtime_error("idx: unknown split '" + split + "' (expected train or test)");
  require_folder(root);
  std::string ip = find_idx(root, prefix + "-images-idx3-ubyte");
  std::string lp = find_idx(root, prefix + "-labels-idx1-ubyte");
  IdxArray im = read_idx(ip), lb = read_idx(lp);
  if (im.type != 0x08 || im.dims.size() != 3) throw std::runtime_error(ip + ": expected a 3-D uint8 IDX image array");
  if (lb.type != 0x08 || lb.dims.size() != 1) throw std::runtime_error(lp + ": expected a 1-D uint8 IDX label array");
  if (im.dims[0] != lb.dims[0])
    throw std::runtime_error(lp + ": " + std::to_string(lb.dims[0]) + " labels for " + std::to_string(im.dims[0]) +
                             " images in " + ip);
  const int num_classes = opts.num_classes > 0 ? opts.num_classes : 10;
  Dataset ds;
  ds.name = "idx " + split;
  ds.height = (int)im.dims[1];
  ds.width = (int)im.dims[2];
  ds.channels = 1;
  ds.num_classes = num_classes;
  ds.pixels = std::move(im.data);
  ds.labels.resize((size_t)lb.dims[0]);
  ds.paths.resize((size_t)lb.dims[0]);
  for (size_t i = 0; i < ds.labels.size(); ++i) {
    int y = lb.data[i];
    if (y >= num_classes)
      throw std::runtime_error(lp + ": record " + std::to_string(i) + ": label " + std::to_string(y) +
                               " out of range [0, " + std::to_string(num_classes) + ")");
    ds.labels[i] = y;
    ds.paths[i] = ip + "#" + std::to_string(i);
  }
  std::string lower = root;
  for (auto& ch : lower) ch = (char)std::tolower((unsigned char)ch);
  static const char* fashion[10] = {"T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                                    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"};
  for (int c = 0; c < num_classes; ++c)
    ds.class_names.push_back(lower.find("fashion") != std::string::npos && num_classes == 10 ? fashion[c]
                                                                                            : std::to_string(c));
  return ds;
}

}  // namespace tailor::data
