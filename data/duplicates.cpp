#include "data/duplicates.h"

#include <algorithm>
#include <atomic>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <thread>
#include <unordered_map>

#include "data/decode.h"

namespace fs = std::filesystem;

namespace tailor::data {

namespace {

bool from_files(const Dataset& ds) { return ds.pixels.empty() && !ds.paths.empty(); }

const uint8_t* pixels_of(const Dataset& ds, int64_t i) { return ds.pixels.data() + (size_t)i * (size_t)ds.image_bytes(); }

std::vector<uint8_t> file_bytes(const Dataset& ds, int64_t i) {  // empty when the file cannot be read
  try {
    return read_file(ds.paths[(size_t)i]);
  } catch (const std::exception&) {
    return {};
  }
}

// Confirms a hash match byte for byte (a 64-bit collision is unlikely, not impossible).
bool identical(const Dataset& a, int64_t i, const Dataset& b, int64_t j) {
  if (from_files(a) != from_files(b)) return false;
  if (!from_files(a))
    return a.image_bytes() == b.image_bytes() && std::memcmp(pixels_of(a, i), pixels_of(b, j), (size_t)a.image_bytes()) == 0;
  const std::vector<uint8_t> x = file_bytes(a, i), y = file_bytes(b, j);
  return !x.empty() && x == y;
}

// A path made absolute against the working folder `cwd` and normalised lexically (./a/../b = b): a file named
// relatively in one list and absolutely in another is one file. Links are not followed (their bytes match).
std::string normal_path(const std::string& p, const fs::path& cwd) {
  const fs::path f(p);
  return (f.is_absolute() ? f : cwd / f).lexically_normal().string();
}

const std::string& label_name(const Dataset& ds, int64_t i) { return ds.class_names[(size_t)ds.labels[(size_t)i]]; }

std::string sample_name(const Dataset& ds, int64_t i) {
  return (size_t)i < ds.paths.size() ? ds.paths[(size_t)i] : "sample " + std::to_string(i);
}

// Finds, for each sample of `probe`, an identical sample among `base`'s first occurrences (hash -> indices);
// within one split (probe == base) the earlier samples only, and each new content becomes a first occurrence.
SplitRepeats match(const Dataset& base, const std::vector<uint64_t>& base_hashes, const Dataset& probe,
                   const std::vector<uint64_t>& probe_hashes) {
  const bool within = &base == &probe;
  SplitRepeats r;
  std::unordered_map<std::string, int64_t> by_path;
  std::error_code ec;
  const fs::path cwd = fs::current_path(ec);
  std::unordered_map<uint64_t, std::vector<int64_t>> by_hash;
  auto remember = [&](int64_t i) {
    if ((size_t)i < base.paths.size()) by_path.emplace(normal_path(base.paths[(size_t)i], cwd), i);
    if (base_hashes[(size_t)i] == 0) return;
    auto& firsts = by_hash[base_hashes[(size_t)i]];
    if (!within)  // the training split's own copies: one first occurrence per content
      for (int64_t f : firsts)
        if (identical(base, f, base, i)) return;
    firsts.push_back(i);
  };
  if (!within)
    for (int64_t i = 0; i < base.size(); ++i) remember(i);
  for (int64_t j = 0; j < probe.size(); ++j) {
    bool found = false;
    if ((size_t)j < probe.paths.size()) {  // a file, or a record "file#k" (never equal to another record)
      auto it = by_path.find(normal_path(probe.paths[(size_t)j], cwd));
      if (it != by_path.end()) {
        r.same_file.push_back({it->second, j});
        r.label_conflicts += label_name(base, it->second) != label_name(probe, j);
        found = true;
      }
    }
    const uint64_t h = probe_hashes[(size_t)j];
    if (!found && h != 0) {
      auto it = by_hash.find(h);
      if (it != by_hash.end())
        for (int64_t f : it->second)
          if (identical(base, f, probe, j)) {
            r.same_content.push_back({f, j});
            r.label_conflicts += label_name(base, f) != label_name(probe, j);
            found = true;
            break;
          }
    }
    if (within && !found) remember(j);
  }
  return r;
}

void write_pairs(std::ostream& os, const Dataset& a, const Dataset& b, const std::vector<RepeatPair>& pairs,
                 bool show_first, const std::string& indent, size_t limit) {
  for (size_t k = 0; k < pairs.size() && k < limit; ++k) {
    const RepeatPair& p = pairs[k];
    os << indent << sample_name(b, p.repeat);
    if (show_first) os << " = " << sample_name(a, p.first);
    if (label_name(a, p.first) != label_name(b, p.repeat))
      os << " (labels " << label_name(a, p.first) << " and " << label_name(b, p.repeat) << ")";
    os << "\n";
  }
  if (pairs.size() > limit) os << indent << "... and " << pairs.size() - limit << " more\n";
}

int write_conflicts(std::ostream& os, const SplitRepeats& r, const std::string& head) {
  if (!r.label_conflicts) return 0;
  os << head << "warning: " << r.label_conflicts << " of these " << (r.label_conflicts == 1 ? "has" : "have")
       << " another label than the image " << (r.label_conflicts == 1 ? "it repeats" : "they repeat")
       << " (a labelling error?)\n";
  return 1;
}

}  // namespace

// FNV-1a, 64 bits: h = (h ^ byte) * 1099511628211 from the offset basis 14695981039346656037.
uint64_t content_hash(const uint8_t* p, size_t n) {
  uint64_t h = 14695981039346656037ull;
  for (size_t i = 0; i < n; ++i) h = (h ^ p[i]) * 1099511628211ull;
  return h == 0 ? 1 : h;  // 0 means "not read"
}

std::vector<uint64_t> content_hashes(const Dataset& ds, int num_threads) {
  const size_t n = (size_t)ds.size();
  if (ds.content_hashes.size() == n && from_files(ds)) return ds.content_hashes;
  std::vector<uint64_t> h(n, 0);
  std::atomic<size_t> next{0};
  auto work = [&]() {
    for (size_t i; (i = next.fetch_add(1)) < n;) {
      if (!from_files(ds)) {
        h[i] = content_hash(pixels_of(ds, (int64_t)i), (size_t)ds.image_bytes());
        continue;
      }
      const std::vector<uint8_t> b = file_bytes(ds, (int64_t)i);
      if (!b.empty()) h[i] = content_hash(b.data(), b.size());
    }
  };
  const int nt = std::min<int>(resolve_threads(num_threads), (int)std::max<size_t>(n, 1));
  std::vector<std::thread> threads;
  for (int t = 1; t < nt; ++t) threads.emplace_back(work);
  work();
  for (auto& t : threads) t.join();
  return h;
}

SplitRepeats find_repeats(const Dataset& ds, const std::vector<uint64_t>& hashes) {
  return match(ds, hashes, ds, hashes);
}

SplitRepeats find_leaks(const Dataset& train, const std::vector<uint64_t>& train_hashes, const Dataset& eval,
                        const std::vector<uint64_t>& eval_hashes) {
  return match(train, train_hashes, eval, eval_hashes);
}

int write_repeats(std::ostream& os, const Dataset& ds, const SplitRepeats& r, const std::string& head,
                  const std::string& indent, size_t limit) {
  if (!r.same_file.empty()) {
    os << head << "warning: " << counted((int64_t)r.same_file.size(), "file") << " listed again in this split:\n";
    write_pairs(os, ds, ds, r.same_file, false, indent, limit);
  }
  if (!r.same_content.empty()) {
    os << head << "warning: " << counted((int64_t)r.same_content.size(), "image")
       << (r.same_content.size() == 1 ? " is a" : " are") << " byte-identical "
       << (r.same_content.size() == 1 ? "copy" : "copies") << " of another image of this split:\n";
    write_pairs(os, ds, ds, r.same_content, true, indent, limit);
  }
  return !r.same_file.empty() + !r.same_content.empty() + write_conflicts(os, r, head);
}

int write_leaks(std::ostream& os, const Dataset& train, const Dataset& eval, const std::string& eval_name,
                const SplitRepeats& r, const std::string& head, const std::string& indent, size_t limit) {
  const int64_t n = (int64_t)(r.same_file.size() + r.same_content.size());
  if (n == 0) return 0;
  os << head << "warning: " << counted(n, eval_name + " image") << (n == 1 ? " is a training image" : " are training images")
     << " (the same file " << r.same_file.size() << ", a byte-identical copy " << r.same_content.size() << "): the "
     << eval_name << " accuracy counts images the model was trained on\n";
  write_pairs(os, train, eval, r.same_file, false, indent, limit);
  write_pairs(os, train, eval, r.same_content, true, indent, limit);
  return 1 + write_conflicts(os, r, head);
}

}  // namespace tailor::data
