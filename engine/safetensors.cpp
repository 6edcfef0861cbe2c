// safetensors reader/writer; see safetensors.h for the format and guarantees.
#include "engine/safetensors.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <stdexcept>
#include <tuple>

#include <nlohmann/json.hpp>

#include "engine/atomic_file.h"

#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.cpp assumes a little-endian host"
#endif

namespace tailor {
namespace {

using json = nlohmann::json;

constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;  // same cap as the reference

[[noreturn]] void fail(const std::string& file, const std::string& what) {
  throw std::runtime_error(file + ": " + what);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? "," : "") + std::to_string(s[i]);
  return r + "]";
}

// Product of dims times elem_size; false on negative dims or overflow.
bool byte_count(const std::vector<int64_t>& shape, size_t elem_size, uint64_t* out) {
  unsigned __int128 n = elem_size;
  for (int64_t d : shape) {
    if (d < 0) return false;
    n *= static_cast<uint64_t>(d);
    if (n > static_cast<unsigned __int128>(INT64_MAX)) return false;
  }
  *out = static_cast<uint64_t>(n);
  return true;
}

// Parses and checks one tensor entry of the header (range checks against the data
// section are done by the caller).
void parse_entry(const std::string& file, const std::string& name, const json& v,
                 SafeTensor* t, uint64_t* begin, uint64_t* end) {
  const std::string where = "tensor '" + name + "': ";
  if (!v.is_object()) fail(file, where + "header entry is not an object");
  for (auto it = v.begin(); it != v.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" && it.key() != "data_offsets")
      fail(file, where + "unexpected field '" + it.key() + "'");
  }
  for (const char* k : {"dtype", "shape", "data_offsets"})
    if (!v.contains(k)) fail(file, where + "missing field '" + k + "'");

  if (!v["dtype"].is_string()) fail(file, where + "dtype is not a string");
  t->dtype = v["dtype"].get<std::string>();
  const size_t esize = safetensors_dtype_size(t->dtype);
  if (esize == 0) fail(file, where + "unknown dtype '" + t->dtype + "'");

  const json& shape = v["shape"];
  if (!shape.is_array()) fail(file, where + "shape is not an array");
  for (const json& d : shape) {
    if (!d.is_number_unsigned() || d.get<uint64_t>() > static_cast<uint64_t>(INT64_MAX))
      fail(file, where + "shape entry " + d.dump() + " is not a non-negative integer");
    t->shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }

  const json& off = v["data_offsets"];
  if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
      !off[1].is_number_unsigned())
    fail(file, where + "data_offsets must be [begin, end] with non-negative integers, got " +
                   off.dump());
  *begin = off[0].get<uint64_t>();
  *end = off[1].get<uint64_t>();
  if (*end < *begin)
    fail(file, where + "data_offsets [" + std::to_string(*begin) + "," + std::to_string(*end) +
                   "] end before begin");
  uint64_t expect = 0;
  if (!byte_count(t->shape, esize, &expect))
    fail(file, where + "shape " + shape_str(t->shape) + " is too large");
  if (expect != *end - *begin)
    fail(file, where + "shape " + shape_str(t->shape) + " x " + t->dtype + " needs " +
                   std::to_string(expect) + " bytes but data_offsets span " +
                   std::to_string(*end - *begin));
}

template <typename T>
SafeTensor make_typed(const char* dtype, const std::vector<int64_t>& shape, const std::vector<T>& v) {
  SafeTensor t;
  t.dtype = dtype;
  t.shape = shape;
  if (static_cast<size_t>(t.numel()) != v.size())
    throw std::runtime_error("make_safetensor: shape " + shape_str(shape) + " has " +
                             std::to_string(t.numel()) + " elements but " +
                             std::to_string(v.size()) + " values were given");
  t.bytes.resize(v.size() * sizeof(T));
  if (!v.empty()) std::memcpy(t.bytes.data(), v.data(), t.bytes.size());
  return t;
}

template <typename T>
std::vector<T> as_typed(const SafeTensor& t, const char* dtype) {
  if (t.dtype != dtype)
    throw std::runtime_error("safetensor: expected dtype " + std::string(dtype) + ", got " + t.dtype);
  if (t.bytes.size() != static_cast<size_t>(t.numel()) * sizeof(T))
    throw std::runtime_error("safetensor: byte size does not match shape " + shape_str(t.shape));
  std::vector<T> v(t.bytes.size() / sizeof(T));
  if (!v.empty()) std::memcpy(v.data(), t.bytes.data(), t.bytes.size());
  return v;
}

}  // namespace

int64_t SafeTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

size_t safetensors_dtype_size(const std::string& d) {
  if (d == "F64" || d == "I64" || d == "U64") return 8;
  if (d == "F32" || d == "I32" || d == "U32") return 4;
  if (d == "F16" || d == "BF16" || d == "I16" || d == "U16") return 2;
  if (d == "U8" || d == "I8" || d == "BOOL") return 1;
  return 0;
}

namespace {

// The 8-byte header length of a file of `size` bytes whose first bytes are `first8`, checked.
uint64_t header_length(const uint8_t* first8, uint64_t size, const std::string& file) {
  if (size < 8)
    fail(file, "file too short (" + std::to_string(size) + " bytes; need at least 8 for the header length)");
  uint64_t n = 0;
  std::memcpy(&n, first8, 8);
  // torch.save's formats: a zip archive (PyTorch >= 1.6) or a pickle (protocol 2: 0x80 0x02); said as such
  if (n > size - 8 && (std::memcmp(first8, "PK\x03\x04", 4) == 0 || (first8[0] == 0x80 && first8[1] == 0x02)))
    fail(file, "a PyTorch torch.save file (a pickle), not safetensors: convert it in Python with "
               "`safetensors.torch.save_file(torch.load(F), OUT)` (its state_dict, when it holds more; a "
               "classifier-balancing / BALMS checkpoint holds {'state_dict': {'feat_model': ..., 'classifier': ...}}: "
               "merge the two dicts; docs/cli.md \"Checkpoints and exact resume\", --init-from)");
  if (n > kMaxHeaderBytes)
    fail(file, "header length " + std::to_string(n) + " exceeds the limit of " +
                   std::to_string(kMaxHeaderBytes) + " bytes");
  if (n > size - 8)
    fail(file, "header length " + std::to_string(n) + " is beyond the file size (" + std::to_string(size) +
                   " bytes)");
  return n;
}

// The JSON header (n bytes at hbegin): an object, no key twice (nlohmann would keep the last silently).
json parse_header(const char* hbegin, uint64_t n, const std::string& file) {
  if (n == 0 || hbegin[0] != '{') fail(file, "header does not start with '{'");
  std::vector<std::set<std::string>> keys;
  std::string dup;
  json::parser_callback_t cb = [&](int, json::parse_event_t ev, json& parsed) {
    if (ev == json::parse_event_t::object_start) keys.emplace_back();
    else if (ev == json::parse_event_t::object_end) keys.pop_back();
    else if (ev == json::parse_event_t::key && !keys.empty() &&
             !keys.back().insert(parsed.get<std::string>()).second && dup.empty())
      dup = parsed.get<std::string>();
    return true;
  };
  json header;
  try {
    header = json::parse(hbegin, hbegin + n, cb);
  } catch (const json::parse_error& e) {
    fail(file, "malformed JSON header at byte " + std::to_string(e.byte) + ": " + e.what());
  }
  if (!dup.empty()) fail(file, "duplicate key '" + dup + "' in header");
  if (!header.is_object()) fail(file, "header is not a JSON object");
  return header;
}

std::map<std::string, std::string> header_metadata(const json& header, const std::string& file) {
  std::map<std::string, std::string> out;
  auto it = header.find("__metadata__");
  if (it == header.end()) return out;
  if (!it->is_object()) fail(file, "__metadata__ is not an object");
  for (auto m = it->begin(); m != it->end(); ++m) {
    if (!m->is_string()) fail(file, "__metadata__ value for '" + m.key() + "' is not a string");
    out[m.key()] = m->get<std::string>();
  }
  return out;
}

void check_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0 && !S_ISREG(st.st_mode))
    fail(path, S_ISDIR(st.st_mode) ? "a folder, not a safetensors file" : "not a regular file");
}

}  // namespace

SafeTensorFile parse_safetensors(const std::vector<uint8_t>& buf, const std::string& file) {
  const uint64_t n = header_length(buf.data(), buf.size(), file);
  const json header = parse_header(reinterpret_cast<const char*>(buf.data()) + 8, n, file);

  const uint64_t data_size = buf.size() - 8 - n;
  const uint8_t* data = buf.data() + 8 + n;
  SafeTensorFile out;
  std::vector<std::tuple<uint64_t, uint64_t, std::string>> spans;
  out.metadata = header_metadata(header, file);
  for (auto it = header.begin(); it != header.end(); ++it) {
    if (it.key() == "__metadata__") continue;
    SafeTensor t;
    uint64_t b = 0, e = 0;
    parse_entry(file, it.key(), *it, &t, &b, &e);
    if (e > data_size)
      fail(file, "tensor '" + it.key() + "': data_offsets [" + std::to_string(b) + "," +
                     std::to_string(e) + "] out of range (data section is " +
                     std::to_string(data_size) + " bytes)");
    t.bytes.assign(data + b, data + e);
    spans.emplace_back(b, e, it.key());
    out.tensors.emplace(it.key(), std::move(t));
  }

  // Tensors must tile the data section exactly: no overlap, no gap, no trailing bytes.
  std::sort(spans.begin(), spans.end());
  uint64_t pos = 0;
  for (const auto& [b, e, name] : spans) {
    if (b < pos) fail(file, "tensor '" + name + "': data_offsets overlap a previous tensor");
    if (b > pos)
      fail(file, "gap in data section: bytes [" + std::to_string(pos) + "," + std::to_string(b) +
                     ") before tensor '" + name + "' are not covered by any tensor");
    pos = e;
  }
  if (pos != data_size)
    fail(file, "data_offsets do not cover the data section (" + std::to_string(pos) + " of " +
                   std::to_string(data_size) + " bytes used)");
  return out;
}

std::map<std::string, std::string> read_safetensors_metadata(const std::string& path) {
  check_regular_file(path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(path, std::string("cannot open for reading: ") + std::strerror(errno));
  const std::streamoff size = in.tellg();
  if (size < 0) fail(path, "cannot determine file size");
  uint8_t first8[8] = {};
  in.seekg(0);
  if (size >= 8 && !in.read(reinterpret_cast<char*>(first8), 8)) fail(path, "read failed");
  const uint64_t n = header_length(first8, (uint64_t)size, path);
  std::string h(n, '\0');
  if (n > 0 && !in.read(h.data(), (std::streamsize)n)) fail(path, "read failed");
  return header_metadata(parse_header(h.data(), n, path), path);
}

SafeTensorFile read_safetensors(const std::string& path) {
  check_regular_file(path);
  std::ifstream in(path, std::ios::binary | std::ios::ate);
  if (!in) fail(path, std::string("cannot open for reading: ") + std::strerror(errno));
  const std::streamoff size = in.tellg();
  if (size < 0) fail(path, "cannot determine file size");
  std::vector<uint8_t> buf(static_cast<size_t>(size));
  in.seekg(0);
  if (size > 0 && !in.read(reinterpret_cast<char*>(buf.data()), size))
    fail(path, "read failed");
  return parse_safetensors(buf, path);
}

std::vector<uint8_t> safetensors_header(const std::map<std::string, SafeTensorLayout>& tensors,
                                        const std::map<std::string, std::string>& metadata, const std::string& file) {
  json header = json::object();
  uint64_t pos = 0;
  for (const auto& [name, t] : tensors) {  // std::map: sorted by name
    if (name == "__metadata__") fail(file, "'__metadata__' is reserved and cannot name a tensor");
    const size_t esize = safetensors_dtype_size(t.dtype);
    if (esize == 0) fail(file, "tensor '" + name + "': unknown dtype '" + t.dtype + "'");
    uint64_t nbytes = 0;
    if (!byte_count(t.shape, esize, &nbytes))
      fail(file, "tensor '" + name + "': shape " + shape_str(t.shape) + " overflows");
    header[name] = {{"dtype", t.dtype}, {"shape", t.shape}, {"data_offsets", {pos, pos + nbytes}}};
    pos += nbytes;
  }
  if (!metadata.empty()) header["__metadata__"] = metadata;

  std::string h;
  try {
    h = header.dump();
  } catch (const json::exception& e) {
    fail(file, std::string("cannot encode header (names must be valid UTF-8): ") + e.what());
  }
  h.append((8 - (8 + h.size()) % 8) % 8, ' ');  // data starts 8-byte aligned

  std::vector<uint8_t> out(8 + h.size());
  const uint64_t n = h.size();
  std::memcpy(out.data(), &n, 8);
  std::memcpy(out.data() + 8, h.data(), h.size());
  return out;
}

std::vector<uint8_t> serialize_safetensors(const SafeTensorFile& f, const std::string& file) {
  std::map<std::string, SafeTensorLayout> layout;
  uint64_t pos = 0;
  for (const auto& [name, t] : f.tensors) {
    if (name == "__metadata__") fail(file, "'__metadata__' is reserved and cannot name a tensor");
    const size_t esize = safetensors_dtype_size(t.dtype);
    if (esize == 0) fail(file, "tensor '" + name + "': unknown dtype '" + t.dtype + "'");
    uint64_t nbytes = 0;
    if (!byte_count(t.shape, esize, &nbytes) || nbytes != t.bytes.size())
      fail(file, "tensor '" + name + "': shape " + shape_str(t.shape) + " x " + t.dtype +
                     " does not match its " + std::to_string(t.bytes.size()) + " bytes");
    layout[name] = {t.dtype, t.shape};
    pos += nbytes;
  }
  std::vector<uint8_t> out = safetensors_header(layout, f.metadata, file);
  out.reserve(out.size() + pos);
  for (const auto& kv : f.tensors) out.insert(out.end(), kv.second.bytes.begin(), kv.second.bytes.end());
  return out;
}

void write_safetensors(const std::string& path, const SafeTensorFile& f) {
  const std::vector<uint8_t> buf = serialize_safetensors(f, path);
  write_file_atomic(path, buf.data(), buf.size());
}

SafeTensor make_safetensor_f32(const std::vector<int64_t>& s, const std::vector<float>& v) {
  return make_typed("F32", s, v);
}
SafeTensor make_safetensor_f64(const std::vector<int64_t>& s, const std::vector<double>& v) {
  return make_typed("F64", s, v);
}
SafeTensor make_safetensor_i32(const std::vector<int64_t>& s, const std::vector<int32_t>& v) {
  return make_typed("I32", s, v);
}
SafeTensor make_safetensor_i64(const std::vector<int64_t>& s, const std::vector<int64_t>& v) {
  return make_typed("I64", s, v);
}
std::vector<float> safetensor_as_f32(const SafeTensor& t) { return as_typed<float>(t, "F32"); }
std::vector<double> safetensor_as_f64(const SafeTensor& t) { return as_typed<double>(t, "F64"); }
std::vector<int32_t> safetensor_as_i32(const SafeTensor& t) { return as_typed<int32_t>(t, "I32"); }
std::vector<int64_t> safetensor_as_i64(const SafeTensor& t) { return as_typed<int64_t>(t, "I64"); }

}  // namespace tailor
