// Tests for engine/safetensors.{h,cpp}: round trip, on-disk layout, strict
// rejection of malformed files (message must name the file), and reading files
// written by tests/make_fixtures.py (pure-Python writer).
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/atomic_file.h"
#include "engine/safetensors.h"

namespace fs = std::filesystem;
using namespace tailor;

namespace {

struct TempDir {
  fs::path dir;
  TempDir() {
    dir = fs::temp_directory_path() / ("tailor_safetensors_" + std::to_string(::getpid()));
    fs::create_directories(dir);
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(dir, ec);
  }
  std::string file(const std::string& name) const { return (dir / name).string(); }
};

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), {});
}

void dump(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// A file image: u64 header length, the header text, `data_bytes` zero bytes.
std::vector<uint8_t> image(const std::string& header, size_t data_bytes, uint64_t n_override = 0) {
  const uint64_t n = n_override ? n_override : header.size();
  std::vector<uint8_t> b(8);
  std::memcpy(b.data(), &n, 8);
  b.insert(b.end(), header.begin(), header.end());
  b.resize(b.size() + data_bytes, 0);
  return b;
}

// Writes `bytes` to `name` in `td` and checks that reading throws a message that
// contains both the path and `expect`.
void expect_rejected(const TempDir& td, const std::string& name, const std::vector<uint8_t>& bytes,
                     const std::string& expect) {
  const std::string path = td.file(name);
  dump(path, bytes);
  std::string msg;
  try {
    read_safetensors(path);
  } catch (const std::runtime_error& e) {
    msg = e.what();
  }
  INFO("case ", name, ": message was '", msg, "'");
  CHECK(!msg.empty());
  CHECK(msg.find(path) != std::string::npos);
  CHECK(msg.find(expect) != std::string::npos);
}

SafeTensorFile sample_file() {
  SafeTensorFile f;
  f.tensors["w"] = make_safetensor_f32({2, 3}, {1.f, -2.f, 3.5f, 0.f, 1e-8f, -7.25f});
  f.tensors["a.scalar"] = make_safetensor_f64({}, {2.718281828459045});
  f.tensors["idx"] = make_safetensor_i64({3}, {-1, 0, int64_t(1) << 50});
  f.tensors["lab"] = make_safetensor_i32({2, 2}, {7, -8, 9, 2147483647});
  f.tensors["empty"] = make_safetensor_f32({0, 4}, {});
  SafeTensor u8;
  u8.dtype = "U8";
  u8.shape = {5};
  u8.bytes = {0, 1, 2, 254, 255};
  f.tensors["bytes"] = u8;
  f.metadata["format"] = "pt";
  f.metadata["epoch"] = "12";
  return f;
}

}  // namespace

TEST_CASE("safetensors: round trip preserves tensors and metadata") {
  TempDir td;
  const std::string path = td.file("roundtrip.safetensors");
  const SafeTensorFile f = sample_file();
  write_safetensors(path, f);
  CHECK(!fs::exists(path + ".tmp"));
  CHECK(slurp(path) == serialize_safetensors(f, path));

  const SafeTensorFile g = read_safetensors(path);
  CHECK(g.metadata == f.metadata);
  REQUIRE(g.tensors.size() == f.tensors.size());
  for (const auto& [name, t] : f.tensors) {
    INFO("tensor ", name);
    REQUIRE(g.tensors.count(name) == 1);
    const SafeTensor& u = g.tensors.at(name);
    CHECK(u.dtype == t.dtype);
    CHECK(u.shape == t.shape);
    CHECK(u.bytes == t.bytes);
  }
  CHECK(safetensor_as_f32(g.tensors.at("w"))[5] == -7.25f);
  CHECK(safetensor_as_i64(g.tensors.at("idx"))[2] == (int64_t(1) << 50));
  CHECK(g.tensors.at("a.scalar").numel() == 1);
  CHECK(g.tensors.at("empty").numel() == 0);

  // Overwriting an existing file works and stays readable.
  SafeTensorFile h;
  h.tensors["only"] = make_safetensor_f32({1}, {4.f});
  write_safetensors(path, h);
  CHECK(read_safetensors(path).tensors.size() == 1);
  CHECK(read_safetensors(path).metadata.empty());
  CHECK(read_safetensors_metadata(path).empty());
  write_safetensors(path, f);
  CHECK(read_safetensors_metadata(path) == f.metadata);  // the header alone
}

TEST_CASE("safetensors: layout is 8-byte aligned with data in name order") {
  const SafeTensorFile f = sample_file();
  const std::vector<uint8_t> b = serialize_safetensors(f, "mem");
  uint64_t n = 0;
  std::memcpy(&n, b.data(), 8);
  CHECK((8 + n) % 8 == 0);
  CHECK(b[8] == '{');
  const std::string header(b.begin() + 8, b.begin() + 8 + static_cast<long>(n));
  CHECK(header[header.find_last_not_of(' ')] == '}');  // only space padding after the JSON
  // "a.scalar" < "bytes" < "empty" < "idx" < "lab" < "w": data starts with a.scalar.
  double first = 0;
  std::memcpy(&first, b.data() + 8 + n, 8);
  CHECK(first == 2.718281828459045);
  size_t total = 0;
  for (const auto& kv : f.tensors) total += kv.second.bytes.size();
  CHECK(b.size() == 8 + n + total);
  CHECK(header.find("\"data_offsets\":[0,8]") != std::string::npos);
}

TEST_CASE("safetensors: malformed files are rejected naming the file") {
  TempDir td;
  const std::string ok1 = R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})";
  // Sanity: the base case is accepted.
  dump(td.file("good.safetensors"), image(ok1, 8));
  CHECK(read_safetensors(td.file("good.safetensors")).tensors.at("t").shape ==
        std::vector<int64_t>{2});

  expect_rejected(td, "short.safetensors", {1, 2, 3, 4, 5}, "file too short");
  expect_rejected(td, "empty.safetensors", {}, "file too short");
  expect_rejected(td, "hlen.safetensors", image(ok1, 8, ok1.size() + 9), "beyond the file size");
  expect_rejected(td, "hhuge.safetensors", image(ok1, 8, uint64_t(1) << 62), "header length");
  expect_rejected(td, "json.safetensors",
                  image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]})", 8),
                  "malformed JSON header at byte");
  expect_rejected(td, "notobj.safetensors", image("[1,2]   ", 0), "does not start with '{'");
  expect_rejected(td, "dtype.safetensors",
                  image(R"({"t":{"dtype":"Q7","shape":[2],"data_offsets":[0,8]}})", 8),
                  "unknown dtype 'Q7'");
  expect_rejected(td, "range.safetensors",
                  image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[8,16]}})", 8),
                  "out of range");
  expect_rejected(td, "backwards.safetensors",
                  image(R"({"t":{"dtype":"F32","shape":[0],"data_offsets":[8,0]}})", 8),
                  "end before begin");
  expect_rejected(td, "overlap.safetensors",
                  image(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                        R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})", 12),
                  "overlap");
  expect_rejected(td, "gap.safetensors",
                  image(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", 12),
                  "gap in data section");
  expect_rejected(td, "trailing.safetensors", image(ok1, 12), "do not cover the data section");
  expect_rejected(td, "shape.safetensors",
                  image(R"({"t":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", 8),
                  "needs 12 bytes but data_offsets span 8");
  expect_rejected(td, "negdim.safetensors",
                  image(R"({"t":{"dtype":"F32","shape":[-2],"data_offsets":[0,8]}})", 8),
                  "not a non-negative integer");
  expect_rejected(td, "missing.safetensors", image(R"({"t":{"dtype":"F32","shape":[2]}})", 8),
                  "missing field 'data_offsets'");
  expect_rejected(td, "extra.safetensors",
                  image(R"({"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8],"x":1}})", 8),
                  "unexpected field 'x'");
  expect_rejected(td, "dup.safetensors",
                  image(R"({"t":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                        R"("t":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8),
                  "duplicate key 't'");
  expect_rejected(td, "meta.safetensors",
                  image(R"({"__metadata__":{"k":3},"t":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 8),
                  "__metadata__ value for 'k' is not a string");

  // The header alone: the same checks of the length and the JSON, naming the file; a damaged data section is
  // not read
  for (const auto& [name, why] : {std::pair<const char*, const char*>{"short.safetensors", "file too short"},
                                  {"empty.safetensors", "file too short"},
                                  {"hlen.safetensors", "beyond the file size"},
                                  {"hhuge.safetensors", "header length"},
                                  {"json.safetensors", "malformed JSON header at byte"},
                                  {"notobj.safetensors", "does not start with '{'"},
                                  {"dup.safetensors", "duplicate key 't'"},
                                  {"meta.safetensors", "__metadata__ value for 'k' is not a string"}}) {
    CAPTURE(name);
    CHECK_THROWS_WITH_AS(read_safetensors_metadata(td.file(name)), doctest::Contains(why), std::runtime_error);
    CHECK_THROWS_WITH_AS(read_safetensors_metadata(td.file(name)), doctest::Contains(td.file(name).c_str()),
                         std::runtime_error);
  }
  CHECK(read_safetensors_metadata(td.file("trailing.safetensors")).empty());
  CHECK_THROWS_WITH_AS(read_safetensors_metadata(td.dir.string()), doctest::Contains("a folder, not a safetensors file"),
                       std::runtime_error);

  // A missing file is reported with its path too.
  const std::string missing = td.file("does_not_exist.safetensors");
  CHECK_THROWS_WITH_AS(read_safetensors_metadata(missing), doctest::Contains(missing.c_str()), std::runtime_error);
  CHECK_THROWS_WITH_AS(read_safetensors(missing), doctest::Contains(missing.c_str()), std::runtime_error);
}

TEST_CASE("safetensors: writer rejects inconsistent tensors and leaves no file") {
  TempDir td;
  const std::string path = td.file("bad_write.safetensors");
  SafeTensorFile f;
  f.tensors["w"] = make_safetensor_f32({2}, {1.f, 2.f});
  f.tensors["w"].bytes.pop_back();
  CHECK_THROWS_WITH_AS(write_safetensors(path, f), doctest::Contains(path.c_str()), std::runtime_error);
  CHECK(!fs::exists(path));
  CHECK(!fs::exists(path + ".tmp"));

  SafeTensorFile g;
  g.tensors["w"] = make_safetensor_f32({1}, {1.f});
  g.tensors["w"].dtype = "F99";
  CHECK_THROWS_WITH_AS(write_safetensors(path, g), doctest::Contains("unknown dtype"),
                       std::runtime_error);
  CHECK_THROWS_AS(make_safetensor_f32({3}, {1.f}), std::runtime_error);
  CHECK_THROWS_AS(safetensor_as_f64(make_safetensor_f32({1}, {1.f})), std::runtime_error);
}

// A full disk (ENOSPC), seen through a .tmp that is a link to /dev/full: the write fails naming the file
// and the reason, the file written before stays whole and readable, and no .tmp is left behind.
TEST_CASE("atomic writes on a full disk: a clear error, the previous file intact, no .tmp left") {
  if (!fs::exists("/dev/full")) return;
  TempDir td;
  const std::string path = td.file("state.safetensors");
  SafeTensorFile f;
  f.tensors["w"] = make_safetensor_f32({2}, {1.f, 2.f});
  write_safetensors(path, f);
  fs::create_symlink("/dev/full", path + ".tmp");
  SafeTensorFile g;
  g.tensors["w"] = make_safetensor_f32({2}, {3.f, 4.f});
  CHECK_THROWS_WITH_AS(write_safetensors(path, g),
                       doctest::Contains((path + ".tmp: write failed (No space left on device)").c_str()),
                       std::runtime_error);
  CHECK(!fs::exists(fs::symlink_status(path + ".tmp")));
  CHECK(safetensor_as_f32(read_safetensors(path).tensors.at("w")) == std::vector<float>{1.f, 2.f});
  const std::string text = td.file("config.json");
  write_file_atomic(text, "{}\n", 3);
  fs::create_symlink("/dev/full", text + ".tmp");
  CHECK_THROWS_WITH_AS(write_file_atomic(text, "{\"a\": 1}\n", 9), doctest::Contains("No space left on device"),
                       std::runtime_error);
  CHECK(!fs::exists(fs::symlink_status(text + ".tmp")));
  std::ifstream in(text);
  std::string kept((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  CHECK(kept == "{}\n");
  // an appended log line that cannot be written is an error naming the log, never a silent loss
  CHECK_THROWS_WITH_AS(append_line_to("/dev/full", "{\"step\": 1}"),
                       doctest::Contains("/dev/full: write failed (No space left on device)"), std::runtime_error);
}

TEST_CASE("safetensors: reads the file written by tests/make_fixtures.py") {
  const std::string path = std::string(TAILOR_FIXTURES) + "/safetensors_small.safetensors";
  const SafeTensorFile f = read_safetensors(path);
  CHECK(f.metadata.at("format") == "pt");
  CHECK(f.metadata.at("generator") == "tests/make_fixtures.py");
  REQUIRE(f.tensors.size() == 6);

  const SafeTensor& alpha = f.tensors.at("alpha");
  CHECK(alpha.shape == std::vector<int64_t>{2, 3});
  CHECK(safetensor_as_f32(alpha) == std::vector<float>{0.f, 1.5f, -2.25f, 0.125f, 1024.f, -7.75f});
  CHECK(safetensor_as_i64(f.tensors.at("beta")) == std::vector<int64_t>{1, -2, int64_t(1) << 40});
  const SafeTensor& gamma = f.tensors.at("gamma");
  CHECK(gamma.dtype == "U8");
  CHECK(gamma.bytes == std::vector<uint8_t>{0, 1, 127, 255});
  const SafeTensor& delta = f.tensors.at("delta");
  CHECK(delta.shape.empty());
  CHECK(safetensor_as_f64(delta)[0] == 3.141592653589793);
  CHECK(safetensor_as_i32(f.tensors.at("epsilon")) ==
        std::vector<int32_t>{-1, 2, -2147483647 - 1, 2147483647});
  const SafeTensor& empty = f.tensors.at("empty");
  CHECK(empty.shape == std::vector<int64_t>{2, 0});
  CHECK(empty.bytes.empty());

  // Rewriting it with the C++ writer yields the same tensors.
  TempDir td;
  write_safetensors(td.file("copy.safetensors"), f);
  const SafeTensorFile g = read_safetensors(td.file("copy.safetensors"));
  CHECK(g.metadata == f.metadata);
  for (const auto& [name, t] : f.tensors) CHECK(g.tensors.at(name).bytes == t.bytes);
}

TEST_CASE("safetensors: every parity fixture parses") {
  for (const char* name : {"parity_resnet32", "parity_resnet32_norm", "parity_resnet50", "parity_resnet10",
                           "parity_resnet32_sgd"}) {
    const std::string path = std::string(TAILOR_FIXTURES) + "/" + name + ".safetensors";
    INFO(path);
    const SafeTensorFile f = read_safetensors(path);
    CHECK(f.tensors.count("input") == 1);
    CHECK(f.tensors.at("labels").dtype == "I32");
    CHECK(f.metadata.count("model") == 1);
  }
}
