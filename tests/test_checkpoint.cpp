// Weights round-trip through safetensors with PyTorch names; strict loading reports every problem.
#include <doctest/doctest.h>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <limits>

#include "layers/resnet.h"
#include "engine/safetensors.h"
#include "train/checkpoint.h"
#include "train/config.h"  // ConfigError

using namespace tailor;

static std::string tmp_path(const char* name) { return std::string("/tmp/tailor_test_") + name; }

TEST_CASE("ResNet-32 weights round-trip bit-exactly, BN counters as int64") {
  manual_seed(1);
  auto a = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  Tensor x = Tensor::full({2, 32, 32, 3}, 0.5f);
  a->forward(x);  // one train step of BN statistics (num_batches_tracked = 1)
  std::string path = tmp_path("r32.safetensors");
  save_weights(path, *a, {{"arch", "resnet32"}});
  manual_seed(2);
  auto b = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  auto rep = load_weights(path, *b);
  CHECK(rep.ok());
  auto sa = a->state_dict(), sb = b->state_dict();
  for (size_t i = 0; i < sa.size(); ++i) CHECK(sa[i].second.to_vector() == sb[i].second.to_vector());
  CHECK(b->named_buffers()[2].first == "bn1.num_batches_tracked");
  CHECK(b->named_buffers()[2].second.to_vector_i32()[0] == 1);
  a->eval();
  b->eval();
  NoGradGuard ng;
  CHECK(a->forward(x).to_vector() == b->forward(x).to_vector());
  std::remove(path.c_str());
}

TEST_CASE("strict loading names missing, unexpected and mismatched tensors") {
  auto r10 = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  std::string path = tmp_path("r10.safetensors");
  save_weights(path, *r10);
  auto r100 = make_resnet("resnet32", 100, 3, HeadKind::Linear, global_rng());
  try {
    load_weights(path, *r100);
    FAIL("expected an error");
  } catch (const std::exception& e) {
    std::string m = e.what();
    CHECK(m.find(path) == 0);
    CHECK(m.find("shape mismatch (2): linear.bias f32[10] vs model f32[100]") != std::string::npos);
  }
  auto rep = load_weights(path, *r100, /*allow_partial=*/true);
  CHECK(rep.mismatched.size() == 2);
  CHECK(rep.loaded + 2 == rep.total);
  CHECK_MESSAGE(rep.str().rfind(std::to_string(rep.total - 2) + " of the model's " + std::to_string(rep.total) + " tensors loaded, the others as initialised; shape mismatch (2)", 0) == 0, rep.str());
  CHECK(rep.total == 188);
  auto normed = make_resnet("resnet32", 10, 3, HeadKind::None, global_rng());
  try {
    load_weights(path, *normed);
    FAIL("expected an error");
  } catch (const std::exception& e) {
    CHECK(std::string(e.what()).find("unexpected (2): linear.bias, linear.weight") != std::string::npos);
  }
  CHECK_THROWS_WITH_AS(read_weights("/nonexistent/w.safetensors"), doctest::Contains("/nonexistent/w.safetensors"),
                       std::exception);
  std::remove(path.c_str());
}

// With TAILOR_EXPORT_DIR set, writes resnet32.safetensors (weights after one train-mode step of BN
// statistics) and resnet32_io.safetensors (an NCHW input and tailor's eval-mode logits) for
// benchmarks/pytorch/check_checkpoint.py, which loads the weights into the PyTorch model strictly.
TEST_CASE("export a ResNet-32 checkpoint for the PyTorch strict-load check") {
  const char* dir = std::getenv("TAILOR_EXPORT_DIR");
  if (!dir) return;
  manual_seed(5);
  auto net = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  Rng rng(6);
  Tensor x = Tensor::empty({4, 32, 32, 3});
  normal_(x, 0.f, 1.f, rng);
  net->forward(x);  // updates BN running statistics and counters
  save_weights(std::string(dir) + "/resnet32.safetensors", *net, {{"arch", "resnet32"}});
  net->eval();
  NoGradGuard ng;
  Tensor logits = net->forward(x);
  std::vector<float> nchw(x.numel());
  for (int n = 0; n < 4; ++n)
    for (int h = 0; h < 32; ++h)
      for (int w = 0; w < 32; ++w)
        for (int c = 0; c < 3; ++c) nchw[((n * 3 + c) * 32 + h) * 32 + w] = x.f32()[((n * 32 + h) * 32 + w) * 3 + c];
  SafeTensorFile io;
  io.tensors["input_nchw"] = make_safetensor_f32({4, 3, 32, 32}, nchw);
  io.tensors["logits"] = make_safetensor_f32({4, 10}, logits.to_vector());
  write_safetensors(std::string(dir) + "/resnet32_io.safetensors", io);
}

TEST_CASE("a write killed at a random moment leaves either the old or the new file, never a broken one") {
  const std::string path = tmp_path("atomic.safetensors");
  // two versions of a 4 MB tensor; the child rewrites the file alternately until it is killed
  auto version = [](float v) { return std::map<std::string, Tensor>{{"w", Tensor::full({1024, 1024}, v)}}; };
  save_tensors(path, version(1.f), {{"v", "1"}});
  for (int trial = 0; trial < 6; ++trial) {
    pid_t pid = fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
      for (int i = 0;; ++i) save_tensors(path, version(i % 2 ? 2.f : 1.f), {{"v", i % 2 ? "2" : "1"}});
    }
    usleep(20000 + 37000 * trial);  // kill at different points of the write cycle
    kill(pid, SIGKILL);
    int status = 0;
    waitpid(pid, &status, 0);
    std::map<std::string, std::string> meta;
    std::map<std::string, Tensor> t;
    REQUIRE_NOTHROW(t = read_weights(path, &meta));
    const float want = meta.at("v") == "2" ? 2.f : 1.f;
    std::vector<float> v = t.at("w").to_vector();
    CHECK(std::all_of(v.begin(), v.end(), [&](float x) { return x == want; }));
  }
  std::remove(path.c_str());
  std::remove((path + ".tmp").c_str());
}

TEST_CASE("a file streamed row by row is the file save_tensors writes, byte for byte; nothing is left beside it") {
  const std::string dir = tmp_path("streamed"), path = dir + "/f.safetensors", whole = dir + "/whole.safetensors";
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  const int64_t N = 37, F = 5, C = 3;  // rows in uneven batches, as extract-features' last batch is short
  std::vector<float> feats, logits;
  for (int64_t i = 0; i < N * F; ++i) feats.push_back(std::sin(0.37f * (float)i));
  for (int64_t i = 0; i < N * C; ++i) logits.push_back(-1.5f + 0.01f * (float)i);
  const Tensor labels = Tensor::from_vector_i32(std::vector<int32_t>(N, 2), {N});
  const std::map<std::string, std::string> meta = {{"split", "test"}};
  {
    StreamedTensorsWriter w(path, {{"features", F}, {"logits", C}});
    for (int64_t at = 0; at < N;) {
      const int64_t b = std::min<int64_t>(at % 2 ? 16 : 5, N - at);
      w.append("features", feats.data() + at * F, (size_t)(b * F));
      w.append("logits", logits.data() + at * C, (size_t)(b * C));
      at += b;
    }
    CHECK_THROWS_WITH(w.append("logits", logits.data(), 4),
                      doctest::Contains("'logits' takes rows of 3 values, got 4"));
    w.finish({{"labels", labels}}, meta);
  }
  save_tensors(whole, {{"features", Tensor::from_vector(feats, {N, F})}, {"labels", labels},
                       {"logits", Tensor::from_vector(logits, {N, C})}}, meta);
  auto bytes = [](const std::string& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  };
  CHECK(bytes(path).size() > (size_t)(N * (F + C) * 4));
  CHECK(bytes(path) == bytes(whole));  // (its crc32 too: read_weights checks it)
  std::map<std::string, std::string> got;
  CHECK(read_weights(path, &got).at("logits").to_vector() == logits);
  size_t files = 0;  // the temporary parts were unlinked at once: only the two files
  for (auto& e : std::filesystem::directory_iterator(dir)) files += e.is_regular_file();
  CHECK(files == 2);
  // a folder that takes no file: refused before any row is computed, naming the file
  const std::string missing = dir + "/missing/f.safetensors.features.part: cannot create (No such file";
  CHECK_THROWS_WITH(StreamedTensorsWriter(dir + "/missing/f.safetensors", {{"features", F}}),
                    doctest::Contains(missing.c_str()));
  std::filesystem::remove_all(dir);
}

// A file the way PyTorch users hold weights: half / bfloat16 / double tensors, a DataParallel "module." prefix,
// no BatchNorm counters (PyTorch < 0.4.1), a torch.save pickle; PyTorch's load_state_dict takes the first three.
TEST_CASE("weights from PyTorch: dtypes cast, module. prefix, missing BN counters; torch.save and empty matches said") {
  manual_seed(3);
  auto a = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  SafeTensorFile f;
  for (auto& [name, t] : a->state_dict())
    f.tensors[name] = t.dtype() == DType::F32 ? make_safetensor_f32(t.shape(), t.to_vector())
                                              : make_safetensor_i64(t.shape(), {0});
  auto fresh = [] { return make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng()); };
  auto same = [&](Module& m, double tol) {
    auto sa = a->state_dict(), sm = m.state_dict();
    double worst = 0;
    for (size_t i = 0; i < sa.size(); ++i)
      if (sa[i].second.dtype() == DType::F32) {
        auto x = sa[i].second.to_vector(), y = sm[i].second.to_vector();
        for (size_t k = 0; k < x.size(); ++k) worst = std::max(worst, (double)std::fabs(x[k] - y[k]) / (std::fabs(x[k]) + 1e-30));
      }
    return worst <= tol;
  };
  const std::string path = tmp_path("foreign.safetensors");
  // BF16: the upper 16 bits of each float32 (truncation), loaded back exactly as those bits
  {
    SafeTensorFile g = f;
    for (auto& [name, st] : g.tensors) {
      if (st.dtype != "F32") continue;
      std::vector<uint8_t> b;
      for (size_t k = 0; k < st.bytes.size(); k += 4) b.insert(b.end(), {st.bytes[k + 2], st.bytes[k + 3]});
      st.dtype = "BF16", st.bytes = b;
    }
    write_safetensors(path, g);
    auto m = fresh();
    Module::LoadReport rep = load_weights(path, *m);
    CHECK(rep.ok());
    CHECK(rep.str() == "all 188 tensors loaded, every name matched; 157 BF16 tensors cast to F32");
    CHECK(same(*m, 1.0 / 128));  // bfloat16 keeps 8 bits of mantissa
    CHECK_THROWS_WITH_AS(read_weights(path, nullptr, CrcCheck::IfPresent),
                         doctest::Contains("unsupported dtype BF16 (expected F32, I32 or I64)"), std::exception);
  }
  // F64: the values as doubles, rounded to the same floats
  {
    SafeTensorFile g = f;
    for (auto& [name, st] : g.tensors)
      if (st.dtype == "F32") {
        std::vector<double> d;
        for (float v : safetensor_as_f32(st)) d.push_back(v);
        st = make_safetensor_f64(st.shape, d);
      }
    write_safetensors(path, g);
    auto m = fresh();
    CHECK(load_weights(path, *m).str() == "all 188 tensors loaded, every name matched; 157 F64 tensors cast to F32 (rounded)");
    CHECK(same(*m, 0));
  }
  // F64 beyond float's range: half a unit past FLT_MAX rounds to it, farther to infinity (as a cast)
  {
    SafeTensorFile g;
    const double max = std::numeric_limits<float>::max();
    g.tensors["x"] = make_safetensor_f64({4}, {max + std::ldexp(1.0, 102), 1e39, -1e39, -max});
    write_safetensors(path, g);
    std::vector<std::string> notes;
    const std::vector<float> want = {std::numeric_limits<float>::max(), INFINITY, -INFINITY,
                                     -std::numeric_limits<float>::max()};
    CHECK(read_foreign_weights(path, *a, &notes).at("x").to_vector() == want);
  }
  // F16: exact values of binary16 (normal, subnormal, negative, infinity) decoded
  {
    SafeTensorFile g;
    SafeTensor h;
    h.dtype = "F16", h.shape = {6};
    for (uint16_t v : {0x3C00, 0xC000, 0x3555, 0x0001, 0x7C00, 0x0000})
      h.bytes.insert(h.bytes.end(), {(uint8_t)(v & 0xff), (uint8_t)(v >> 8)});
    g.tensors["x"] = h;
    write_safetensors(path, g);
    std::vector<std::string> notes;
    auto sd = read_foreign_weights(path, *a, &notes);
    const std::vector<float> want = {1.f, -2.f, 0.333251953125f, 5.9604644775390625e-08f, INFINITY, 0.f};
    CHECK(sd.at("x").to_vector() == want);
    CHECK(notes == std::vector<std::string>{"1 F16 tensor cast to F32"});
  }
  // nn.DataParallel's "module." prefix, and no num_batches_tracked: the weights land where they belong
  {
    SafeTensorFile g;
    for (auto& [name, st] : f.tensors)
      if (name.find("num_batches_tracked") == std::string::npos) g.tensors["module." + name] = st;
    write_safetensors(path, g);
    auto m = fresh();
    CHECK(load_weights(path, *m).str() ==
          "all 188 tensors loaded, every name matched; the prefix 'module.' of every name dropped (a DataParallel / DistributedDataParallel "
          "state dict); 31 BatchNorm num_batches_tracked absent from the file (PyTorch < 0.4.1): 0, as PyTorch's "
          "load_state_dict sets them");
    CHECK(same(*m, 0));
  }
  // the classifier of another class count: the hint; a partial load matching nothing: refused
  {
    auto r100 = make_resnet("resnet32", 100, 3, HeadKind::Linear, global_rng());
    write_safetensors(path, f);
    CHECK_THROWS_WITH_AS(load_weights(path, *r100),
                         doctest::Contains("(model.init_allow_partial true takes the tensors that match"), ConfigError);
    SafeTensorFile g;
    for (auto& [name, st] : f.tensors) g.tensors["backbone." + name] = st;
    write_safetensors(path, g);
    CHECK_THROWS_WITH_AS(load_weights(path, *r100, true), doctest::Contains(": no tensor of the file matches the model"),
                         ConfigError);
  }
  // BatchNorm counters saved as floating point (a state dict cast whole with .half()): converted as PyTorch does
  {
    SafeTensorFile g = f;
    for (auto& [name, st] : g.tensors)
      if (st.dtype == "I64") {
        std::vector<float> v;
        for (int64_t x : safetensor_as_i64(st)) v.push_back((float)x + 3.75f);  // 3 (truncated, as copy_ does)
        st = make_safetensor_f32(st.shape, v);
      }
    write_safetensors(path, g);
    auto m = fresh();
    CHECK(load_weights(path, *m).str() ==
          "all 188 tensors loaded, every name matched; 31 integer tensors (BatchNorm num_batches_tracked) stored as "
          "floating point: converted, as PyTorch's load_state_dict does");
    CHECK(same(*m, 0));
    for (auto& [n, t] : m->state_dict())
      if (n == "bn1.num_batches_tracked") CHECK(t.to_vector_i32() == std::vector<int32_t>{3});
  }
  // another architecture: refused naming its backbone, with or without init_allow_partial
  {
    auto r10 = make_resnet("resnet10", 10, 3, HeadKind::Linear, global_rng());
    save_weights(path, *r10);
    auto m = fresh();
    for (bool partial : {false, true})
      CHECK_THROWS_WITH_AS(load_weights(path, *m, partial),
                           doctest::Contains(": the file's backbone is not the model's resnet32 (bn1.bias f32[64] vs "
                                             "model f32[16], bn1.running_mean f32[64] vs model f32[16]"),
                           ConfigError);
    CHECK_THROWS_WITH_AS(load_weights(path, *m, true), doctest::Contains("another architecture (set model.arch to the "
                                                                         "file's); model.init_allow_partial takes a file "
                                                                         "whose classifier (linear.*) differs"),
                         ConfigError);
  }
  // torch.save's zip and pickle files are named as such (the legacy pickle: protocol 2, then torch's magic
  // number as a 10-byte LONG1, 6c fc 9c 46 ...)
  for (const std::string head : {std::string("PK\x03\x04\x00\x00\x00\x00", 8), std::string("\x80\x02\x8a\x0a" "l\xfc\x9c" "F", 8)}) {
    std::ofstream(path, std::ios::binary) << head << std::string(100, 'x');
    CHECK_THROWS_WITH_AS(read_weights(path), doctest::Contains("a PyTorch torch.save file (a pickle), not safetensors"),
                         std::exception);
  }
  std::remove(path.c_str());
}
