// Random-mutation fuzzing of every parser: IDX (plain and gzip), CIFAR records, list files, iNat JSON and
// images (JPEG/PNG/PPM through the structural checks and through stb_image directly). Every input must
// either parse or throw std::runtime_error: no crash, no other exception (run under ASan too, see docs/data.md).
// TAILOR_FUZZ_ITERS (environment) scales the iteration count (default 2000 per target).
#include <doctest/doctest.h>

#include <stb_image_write.h>
#include <zlib.h>

#include <cstdlib>
#include <fstream>
#include <functional>
#include <random>

#include "data/cifar.h"
#include "data/decode.h"
#include "data/folder.h"
#include "data/idx.h"

using namespace tailor::data;

namespace {

using Bytes = std::vector<uint8_t>;

int iterations() {
  const char* e = std::getenv("TAILOR_FUZZ_ITERS");
  return e ? std::max(1, std::atoi(e)) : 2000;
}

Bytes mutate(const Bytes& in, std::mt19937& rng) {
  Bytes b = in;
  auto pick = [&](size_t n) { return n ? (size_t)(rng() % n) : 0; };
  int n_mut = 1 + (int)(rng() % 4);
  for (int m = 0; m < n_mut; ++m) {
    switch (rng() % 8) {
      case 0:  // flip bits
        if (!b.empty()) b[pick(b.size())] ^= (uint8_t)(1u << (rng() % 8));
        break;
      case 1: {  // interesting byte values
        static const uint8_t vals[] = {0x00, 0xFF, 0x7F, 0x80, 0x01, 0xD9, 0xDA, 0xC0, '0', '9', ' ', '\n', '{', '"'};
        if (!b.empty()) b[pick(b.size())] = vals[rng() % sizeof vals];
        break;
      }
      case 2:  // truncate
        b.resize(pick(b.size() + 1));
        break;
      case 3: {  // insert random bytes
        size_t at = pick(b.size() + 1), n = 1 + rng() % 16;
        Bytes r(n);
        for (auto& v : r) v = (uint8_t)rng();
        b.insert(b.begin() + (int64_t)at, r.begin(), r.end());
        break;
      }
      case 4: {  // remove a block
        if (b.empty()) break;
        size_t at = pick(b.size()), n = std::min(b.size() - at, (size_t)(1 + rng() % 32));
        b.erase(b.begin() + (int64_t)at, b.begin() + (int64_t)(at + n));
        break;
      }
      case 5: {  // duplicate a block
        if (b.empty()) break;
        size_t at = pick(b.size()), n = std::min(b.size() - at, (size_t)(1 + rng() % 64));
        Bytes blk(b.begin() + (int64_t)at, b.begin() + (int64_t)(at + n));
        b.insert(b.begin() + (int64_t)pick(b.size() + 1), blk.begin(), blk.end());
        break;
      }
      case 6: {  // overwrite a 32-bit big-endian field with a large value
        if (b.size() < 4) break;
        size_t at = pick(b.size() - 3);
        uint32_t v = rng() % 2 ? 0xFFFFFFFFu : (uint32_t)(rng() % 100000);
        for (int k = 0; k < 4; ++k) b[at + (size_t)k] = (uint8_t)(v >> (24 - 8 * k));
        break;
      }
      default:  // random byte
        if (!b.empty()) b[pick(b.size())] = (uint8_t)rng();
    }
  }
  return b;
}

struct Stats {
  int ok = 0, rejected = 0;
};

// Runs `parse` on mutations of every seed; anything but success or std::runtime_error fails the test.
Stats fuzz(const std::vector<Bytes>& seeds, const std::function<void(const Bytes&)>& parse, uint32_t seed) {
  std::mt19937 rng(seed);
  Stats s;
  const int n = iterations();
  for (int i = 0; i < n; ++i) {
    const Bytes& base = seeds[(size_t)i % seeds.size()];
    Bytes b = mutate(base, rng);
    try {
      parse(b);
      ++s.ok;
    } catch (const std::runtime_error&) {
      ++s.rejected;
    } catch (const std::exception& e) {
      FAIL("unexpected exception type: " << e.what());
    }
  }
  return s;
}

Bytes gzip(const Bytes& in) {
  uLongf cap = compressBound((uLong)in.size()) + 64;
  Bytes out(cap);
  z_stream zs{};
  deflateInit2(&zs, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
  zs.next_in = const_cast<Bytef*>(in.data());
  zs.avail_in = (uInt)in.size();
  zs.next_out = out.data();
  zs.avail_out = (uInt)out.size();
  deflate(&zs, Z_FINISH);
  out.resize(zs.total_out);
  deflateEnd(&zs);
  return out;
}

Bytes encode(bool png, int w, int h, int c) {
  Bytes px((size_t)w * h * c);
  for (size_t i = 0; i < px.size(); ++i) px[i] = (uint8_t)(i * 7 + i / 13);
  Bytes out;
  auto sink = [](void* ctx, void* data, int size) {
    auto* o = (Bytes*)ctx;
    o->insert(o->end(), (uint8_t*)data, (uint8_t*)data + size);
  };
  if (png) stbi_write_png_to_func(sink, &out, w, h, c, px.data(), w * c);
  else stbi_write_jpg_to_func(sink, &out, w, h, c, px.data(), 80);
  return out;
}

Bytes file_bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

}  // namespace

TEST_CASE("fuzz IDX (plain and gzip)") {
  Bytes idx = {0, 0, 8, 3, 0, 0, 0, 3, 0, 0, 0, 4, 0, 0, 0, 5};
  for (int i = 0; i < 60; ++i) idx.push_back((uint8_t)i);
  Bytes labels = {0, 0, 8, 1, 0, 0, 0, 4, 1, 2, 3, 4};
  Stats s = fuzz({idx, labels}, [](const Bytes& b) { parse_idx(b.data(), b.size(), "fuzz.idx"); }, 1);
  Stats g = fuzz({gzip(idx), gzip(labels)}, [](const Bytes& b) {
    Bytes d = maybe_gunzip(b, "fuzz.gz");
    parse_idx(d.data(), d.size(), "fuzz.gz");
  }, 2);
  MESSAGE("IDX: " << s.ok << " parsed, " << s.rejected << " rejected; gzip: " << g.ok << " / " << g.rejected);
  CHECK(s.rejected > 0);
  CHECK(g.rejected > 0);
}

TEST_CASE("fuzz CIFAR records") {
  Bytes c10, c100;
  for (int r = 0; r < 3; ++r) {
    c10.push_back((uint8_t)(r * 3));
    c100.push_back((uint8_t)r);
    c100.push_back((uint8_t)(r * 30));
    for (int i = 0; i < 3072; ++i) {
      c10.push_back((uint8_t)i);
      c100.push_back((uint8_t)(i * 3));
    }
  }
  Stats s = fuzz({c10}, [](const Bytes& b) {
    Dataset ds;
    parse_cifar_records(b.data(), b.size(), "fuzz10.bin", false, false, -1, ds);
  }, 3);
  Stats t = fuzz({c100}, [](const Bytes& b) {
    Dataset ds;
    parse_cifar_records(b.data(), b.size(), "fuzz100.bin", true, false, 3, ds);
  }, 4);
  MESSAGE("CIFAR-10: " << s.ok << " / " << s.rejected << ", CIFAR-100: " << t.ok << " / " << t.rejected);
  CHECK(s.rejected > 0);
}

TEST_CASE("fuzz list files and iNat JSON") {
  std::string list = "train/n01/a.JPEG 0\ntrain/n02/b.JPEG 17\r\n\n  val/x y.jpg 3 \n";
  Stats s = fuzz({Bytes(list.begin(), list.end())}, [](const Bytes& b) {
    Dataset ds;
    parse_list_text(std::string(b.begin(), b.end()), "fuzz.txt", "/root", ds);
  }, 5);
  std::string js = R"({"images": [{"id": 1, "file_name": "train_val2018/a/1.jpg"}, {"id": 2, "file_name": "b.jpg"}],
    "annotations": [{"image_id": 1, "category_id": 0, "id": 1}, {"image_id": 2, "category_id": 8141, "id": 2}],
    "categories": [{"id": 0, "name": "x"}]})";
  Stats j = fuzz({Bytes(js.begin(), js.end())}, [](const Bytes& b) {
    Dataset ds;
    parse_inat_text(std::string(b.begin(), b.end()), "fuzz.json", "/root", ds);
  }, 6);
  MESSAGE("list: " << s.ok << " / " << s.rejected << ", iNat: " << j.ok << " / " << j.rejected);
  CHECK(j.rejected > 0);
}

TEST_CASE("fuzz images: JPEG / PNG / PPM through the checks and through stb_image directly") {
  const std::string dir = std::string(TAILOR_FIXTURES) + "/data_images/";
  std::vector<Bytes> seeds = {encode(false, 24, 16, 3), encode(true, 24, 16, 3), encode(false, 9, 7, 1),
                              encode(true, 9, 7, 4)};
  for (const char* f : {"cmyk.jpg", "gray.jpg", "palette.png", "rgba.png", "gray16.png", "rgb.ppm"}) {
    Bytes b = file_bytes(dir + f);
    if (!b.empty()) seeds.push_back(b);
  }
  Stats s = fuzz(seeds, [](const Bytes& b) { decode_image(b.data(), b.size(), "fuzz.img"); }, 7);
  Stats t = fuzz(seeds, [](const Bytes& b) { decode_stb(b.data(), b.size(), "fuzz.img"); }, 8);
  MESSAGE("images (checked): " << s.ok << " / " << s.rejected << ", stb direct: " << t.ok << " / " << t.rejected);
  if (have_libjpeg()) {
    Stats l = fuzz({seeds[0], seeds[2]}, [](const Bytes& b) { decode_libjpeg(b.data(), b.size(), "fuzz.jpg"); }, 9);
    MESSAGE("libjpeg direct: " << l.ok << " / " << l.rejected);
  }
  CHECK(s.rejected > 0);
}
