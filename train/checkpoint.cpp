#include "train/checkpoint.h"

#include <fcntl.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <limits>
#include <set>

#include "engine/atomic_file.h"
#include "engine/precision.h"  // bf16_to_float
#include "engine/safetensors.h"
#include "data/dataset.h"  // first_few
#include "layers/resnet.h"
#include "train/config.h"  // ConfigError

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
  if (c.dtype() == DType::F32) {  // straight from the tensor's memory: one copy of a large tensor, not two
    SafeTensor s;
    s.dtype = "F32";
    s.shape = c.shape();
    s.bytes.resize((size_t)c.numel() * sizeof(float));
    if (!s.bytes.empty()) std::memcpy(s.bytes.data(), c.raw_data(), s.bytes.size());
    return s;
  }
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

StreamedTensorsWriter::StreamedTensorsWriter(const std::string& path, const std::map<std::string, int64_t>& streamed)
    : path_(path) {
  for (const auto& [name, row] : streamed) {
    const std::string part = path + "." + name + ".part";
    Part p;
    p.row = row;
    p.crc = crc32(0L, Z_NULL, 0);
    p.fd = ::open(part.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    const int err = errno;
    if (p.fd >= 0) parts_[name] = p;  // (closed by the destructor, or below when this constructor throws)
    // the open file stays until closed, and goes with the process
    if (p.fd < 0 || ::unlink(part.c_str()) != 0) {
      const std::string why = std::strerror(p.fd < 0 ? err : errno);
      for (auto& [n, q] : parts_) ::close(q.fd);
      fail(part + ": cannot " + (p.fd < 0 ? "create" : "remove its name") + " (" + why + ")");
    }
  }
}

StreamedTensorsWriter::~StreamedTensorsWriter() {
  for (auto& [name, p] : parts_)
    if (p.fd >= 0) ::close(p.fd);
}

void StreamedTensorsWriter::append(const std::string& name, const float* values, size_t count) {
  Part& p = parts_.at(name);
  if (p.row <= 0 || count % (size_t)p.row != 0)
    fail(path_ + ": '" + name + "' takes rows of " + std::to_string(p.row) + " values, got " + std::to_string(count));
  const uint8_t* bytes = reinterpret_cast<const uint8_t*>(values);
  size_t n = count * sizeof(float);
  p.crc = crc32_z(p.crc, bytes, n);
  p.bytes += n;
  p.rows += (int64_t)(count / (size_t)p.row);
  while (n > 0) {
    const ssize_t w = ::write(p.fd, bytes, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) fail(path_ + ": cannot write '" + name + "' to its temporary file (" + std::strerror(errno) + ")");
    bytes += w;
    n -= (size_t)w;
  }
}

void StreamedTensorsWriter::finish(const std::map<std::string, Tensor>& tensors,
                                   const std::map<std::string, std::string>& metadata) {
  std::map<std::string, SafeTensor> small;  // (dtype, shape and bytes as save_tensors writes them)
  for (const auto& [name, t] : tensors) {
    if (parts_.count(name)) fail(path_ + ": '" + name + "' is streamed and given whole");
    small[name] = to_safetensor(name, t);
  }
  std::map<std::string, SafeTensorLayout> layout;
  for (const auto& [name, t] : small) layout[name] = {t.dtype, t.shape};
  for (const auto& [name, p] : parts_) layout[name] = {"F32", {p.rows, p.row}};
  uLong crc = crc32(0L, Z_NULL, 0);  // data_crc32's: every tensor's bytes in name order
  for (const auto& [name, l] : layout) {
    const auto part = parts_.find(name);
    if (part != parts_.end()) crc = crc32_combine(crc, part->second.crc, (z_off_t)part->second.bytes);
    else crc = crc32_z(crc, small[name].bytes.data(), small[name].bytes.size());
  }
  std::map<std::string, std::string> meta = metadata;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08lx", (unsigned long)crc);
  meta["crc32"] = hex;
  const std::vector<uint8_t> header = safetensors_header(layout, meta, path_);
  write_file_atomic_with(path_, [&](const WriteBytes& write) {
    write(header.data(), header.size());
    std::vector<uint8_t> buf(8 << 20);
    for (const auto& [name, l] : layout) {
      const auto part = parts_.find(name);
      if (part == parts_.end()) {
        write(small[name].bytes.data(), small[name].bytes.size());
        continue;
      }
      for (uint64_t at = 0; at < part->second.bytes;) {  // the temporary file's bytes, read back in 8 MB pieces
        const ssize_t r = ::pread(part->second.fd, buf.data(), std::min<uint64_t>(buf.size(), part->second.bytes - at),
                                  (off_t)at);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) fail(path_ + ": cannot read back '" + name + "' from its temporary file (" +
                         (r < 0 ? std::strerror(errno) : "it is shorter than written") + ")");
        write(buf.data(), (size_t)r);
        at += (uint64_t)r;
      }
    }
  });
}

void save_weights(const std::string& path, const Module& model, const std::map<std::string, std::string>& metadata) {
  SafeTensorFile f;
  f.metadata = metadata;
  for (auto& [name, t] : model.state_dict()) f.tensors[name] = to_safetensor(name, t);
  write_with_crc(path, f);
}

namespace {

float half_to_float(uint16_t h) {  // IEEE binary16: sign, 5-bit exponent (bias 15), 10-bit fraction
  const uint32_t sign = (uint32_t)(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, frac = h & 0x3ff;
  uint32_t bits;
  if (exp == 0 && frac == 0) bits = sign;
  else if (exp == 0) {  // subnormal: renormalise
    int e = -1;
    uint32_t f = frac;
    do {
      ++e;
      f <<= 1;
    } while ((f & 0x400) == 0);
    bits = sign | (uint32_t)(127 - 15 - e) << 23 | (f & 0x3ff) << 13;
  } else if (exp == 31) bits = sign | 0x7f800000u | frac << 13;  // inf, NaN
  else bits = sign | (exp + 127 - 15) << 23 | frac << 13;
  float out;
  std::memcpy(&out, &bits, 4);
  return out;
}

// F16 / BF16 / F64 values of a tensor as float32 (a cast PyTorch's load_state_dict makes when it copies).
// safetensors is little-endian, as the hosts tailor runs on.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "safetensors' bytes are read as the host's");
std::vector<float> as_f32(const SafeTensor& st) {
  const size_t n = (size_t)st.numel();
  std::vector<float> v(n);
  if (st.dtype == "F64") {
    // round to nearest as a cast does: up to half a unit beyond FLT_MAX (2^103) rounds to it, farther to
    // infinity (a double-to-float cast outside float's range is undefined in C++)
    const float max = std::numeric_limits<float>::max();
    const double inf_from = (double)max + std::ldexp(1.0, 103);
    for (size_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, st.bytes.data() + 8 * i, 8);
      const float sign = d > 0 ? 1.f : -1.f;
      v[i] = std::fabs(d) >= inf_from ? sign * INFINITY : std::fabs(d) > (double)max ? sign * max : (float)d;
    }
    return v;
  }
  const bool half = st.dtype == "F16";
  for (size_t i = 0; i < n; ++i) {
    uint16_t h;
    std::memcpy(&h, st.bytes.data() + 2 * i, 2);
    v[i] = half ? half_to_float(h) : bf16_to_float(h);  // (BF16: the upper half of a float32, engine/precision.h)
  }
  return v;
}

std::map<std::string, Tensor> read_weights_cast(const std::string& path, std::map<std::string, std::string>* metadata,
                                                CrcCheck check, std::map<std::string, int>* cast) {
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
           "): the file is corrupted, or its tensors were changed by another program that kept tailor's metadata "
           "(drop the crc32 key when saving it); else use another copy of it (a model: another of the run's "
           "checkpoints, e.g. stage<k>_best / _last.safetensors)");
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
    } else if (cast && (st.dtype == "F16" || st.dtype == "BF16" || st.dtype == "F64")) {
      out[name] = Tensor::from_vector(as_f32(st), shape);
      ++(*cast)[st.dtype];
    } else {
      fail(path + ": tensor " + name + " has unsupported dtype " + st.dtype + " (expected F32, I32 or I64" +
           (cast ? ", or F16, BF16, F64 cast to F32)" : ")"));
    }
  }
  return out;
}

}  // namespace

std::map<std::string, Tensor> read_weights(const std::string& path, std::map<std::string, std::string>* metadata,
                                           CrcCheck check) {
  return read_weights_cast(path, metadata, check, nullptr);
}

std::map<std::string, Tensor> read_foreign_weights(const std::string& path, const Module& model,
                                                   std::vector<std::string>* notes) {
  std::map<std::string, int> cast;
  std::map<std::string, Tensor> sd = read_weights_cast(path, nullptr, CrcCheck::IfPresent, &cast);
  for (auto& [dtype, n] : cast)
    notes->push_back(std::to_string(n) + " " + dtype + " tensor" + (n == 1 ? "" : "s") + " cast to F32" +
                     (dtype == "F64" ? " (rounded)" : ""));
  std::map<std::string, Tensor> mine;
  for (auto& [n, t] : model.state_dict()) mine[n] = t;
  // nn.DataParallel / DistributedDataParallel save their module's names under "module."
  bool prefixed = !sd.empty() && !mine.count(sd.begin()->first);
  for (auto& [n, t] : sd) prefixed = prefixed && n.rfind("module.", 0) == 0;
  if (prefixed) {
    std::map<std::string, Tensor> bare;
    for (auto& [n, t] : sd) bare[n.substr(7)] = t;
    sd = std::move(bare);
    notes->push_back("the prefix 'module.' of every name dropped (a DataParallel / DistributedDataParallel state dict)");
  }
  // an integer buffer (BatchNorm's num_batches_tracked) saved as floating point, e.g. a state dict cast whole
  // with .half(): PyTorch's load_state_dict copies it into the integer buffer (truncating, as copy_ does)
  int floats = 0;
  for (auto& [n, t] : mine) {
    auto it = sd.find(n);
    if (it == sd.end() || t.dtype() != DType::I32 || it->second.dtype() != DType::F32 || it->second.shape() != t.shape())
      continue;
    std::vector<int32_t> v;
    for (float x : it->second.to_vector()) {
      if (!(std::fabs(x) < 2147483648.f))
        fail(path + ": tensor " + n + " holds " + std::to_string(x) + ", not an integer count");
      v.push_back((int32_t)x);
    }
    it->second = Tensor::from_vector_i32(v, t.shape());
    ++floats;
  }
  if (floats > 0)
    notes->push_back(std::to_string(floats) + " integer tensor" + (floats == 1 ? "" : "s") + " (BatchNorm "
                     "num_batches_tracked) stored as floating point: converted, as PyTorch's load_state_dict does");
  // BatchNorm's num_batches_tracked appeared in PyTorch 0.4.1; its load_state_dict sets a missing one to 0
  int counters = 0;
  for (auto& [n, t] : mine) {
    const std::string suffix = ".num_batches_tracked";
    if (sd.count(n) || n.size() < suffix.size() || n.compare(n.size() - suffix.size(), suffix.size(), suffix) != 0)
      continue;
    const std::string mean = n.substr(0, n.size() - suffix.size()) + ".running_mean";
    if (!sd.count(mean) || !mine.count(mean) || sd.at(mean).shape() != mine.at(mean).shape())
      continue;  // that BatchNorm is not in the file (or not this one): nothing to complete
    sd[n] = Tensor::zeros(t.shape(), t.dtype());
    ++counters;
  }
  if (counters > 0)
    notes->push_back(std::to_string(counters) + " BatchNorm num_batches_tracked absent from the file (PyTorch < 0.4.1): "
                     "0, as PyTorch's load_state_dict sets them");
  return sd;
}

// The first component of a tensor name ("layer2" of "layer2.0.conv1.weight").
static std::string top_module(const std::string& name) { return name.substr(0, name.find('.')); }

// What differs between the file and a ResNet's backbone (every module but the classifier): its tensors the file
// lacks or holds in another shape or type, and the file's tensors under a backbone module the model lacks (a
// deeper network of the family), from the load's report. Empty for another kind of model, or when only the
// classifier differs.
static std::vector<std::string> backbone_differences(const Module::LoadReport& rep, const Module& model) {
  std::vector<std::string> out;
  auto* net = dynamic_cast<const ResNet*>(&model);
  if (!net) return out;
  std::set<std::string> backbone;
  for (auto& [n, t] : model.state_dict())
    if (top_module(n) != net->head_name()) backbone.insert(top_module(n));
  auto in_backbone = [&](const std::string& entry) { return backbone.count(top_module(entry)) > 0; };
  for (const std::string& m : rep.mismatched)  // ("name f32[...] vs model f32[...]"; the most telling, first)
    if (in_backbone(m)) out.push_back(m);
  for (const std::string& m : rep.missing)
    if (in_backbone(m)) out.push_back(m + " missing from the file");
  for (const std::string& m : rep.unexpected)
    if (in_backbone(m)) out.push_back(m + " not in the model");
  return out;
}

Module::LoadReport load_weights(const std::string& path, Module& model, bool allow_partial) {
  std::vector<std::string> notes;
  auto sd = read_foreign_weights(path, model, &notes);
  const Module::LoadReport found = model.compare_state_dict(sd);
  if (!sd.empty() && found.total > 0 && found.missing.size() == found.total)  // (another framework's prefix, ...)
    throw ConfigError(path + ": no tensor of the file matches the model (no name in common: the file's " +
                      sd.begin()->first + ", ..., the model's " + found.missing.front() + ", ...)");
  // init_allow_partial takes a file whose classifier differs (other classes, another head, none), never a
  // backbone of another architecture: PyTorch's non-strict load raises on its shapes too
  if (const std::vector<std::string> wrong = backbone_differences(found, model); !wrong.empty()) {
    auto* net = dynamic_cast<const ResNet*>(&model);
    const std::string first_conv = "conv1.weight";  // the stem (both ResNet families)
    const std::string list = data::first_few(wrong, 4);
    // the first convolution of another input channel count: images of another kind, not another architecture
    const auto c1 = sd.find(first_conv);
    const bool channels = wrong.size() == 1 && c1 != sd.end() && c1->second.dim() == 4 &&
                          c1->second.shape()[1] != net->config().in_channels;
    throw ConfigError(path + ": the file's backbone is not the model's " + net->config().arch + " (" + list + "): " +
                      (channels ? "its " + first_conv + " takes " + std::to_string(c1->second.shape()[1]) +
                                      "-channel images, the data has " + std::to_string(net->config().in_channels) +
                                      " channels"
                                : std::string("another architecture (set model.arch to the file's)")) +
                      (allow_partial ? "; model.init_allow_partial takes a file whose classifier (" + net->head_name() +
                                           ".*) differs, not its backbone"
                                     : ""));
  }
  Module::LoadReport rep;
  try {
    rep = model.load_state_dict(sd, allow_partial);
  } catch (const std::exception& e) {  // the names or shapes differ: the model the config describes
    throw ConfigError(path + ": " + e.what() + " (model.init_allow_partial true takes the tensors that match, e.g. "
                      "the backbone's of a model with another classifier; the others keep their fresh initialisation)");
  }
  if (rep.loaded == 0)  // a partial load that found nothing: a fresh model trained under a misleading log
    throw ConfigError(path + ": no tensor of the file matches the model (" + rep.str() + ")");
  rep.notes = notes;
  return rep;
}

}  // namespace tailor
