// A run's identity: the resolved config minus what does not change its numbers (data root, shot groups, how
// the ranks talk, keys added later at their defaults), hashed (FNV-1a) for the resume check, and the
// differences between two configs in words (train/config.h).
#include <algorithm>
#include <cstdio>

#include "train/config.h"

namespace tailor {

std::string config_hash(const Json& cfg) {
  const std::string s = config_identity(cfg).dump();
  Fnv1a h;
  h.add(s.data(), s.size());
  return h.hex();
}

std::string config_differences(const Json& before, const Json& now) {
  const Json a = config_identity(before), b = config_identity(now);
  std::string out;
  int n = 0;
  for (const Json& op : Json::diff(a, b)) {
    const std::string ptr = op.at("path");
    if (++n > 6) {
      out += ", ...";
      break;
    }
    std::string key = ptr.substr(1);
    std::replace(key.begin(), key.end(), '/', '.');
    const Json::json_pointer jp(ptr);
    const std::string was = a.contains(jp) ? a.at(jp).dump() : "(absent)", is = b.contains(jp) ? b.at(jp).dump() : "(absent)";
    out += (out.empty() ? "" : ", ") + key + " " + was + " -> " + is;
  }
  return out;
}

Json config_identity(const Json& cfg) {
  Json identity = cfg;
  if (identity.contains("data") && identity["data"].contains("root")) identity["data"]["root"] = "";
  if (identity.contains("data")) identity["data"].erase("resident");  // the same batches either way
  if (identity.contains("eval"))
    for (const char* k : {"groups", "many_above", "few_below"}) identity["eval"].erase(k);
  // Keys added to the schema later are hashed only when they differ from their default, so a run started by
  // an older tailor still resumes: a stage's own augmentation.
  for (auto& [key, stage] : identity.items())
    if (key.rfind("stage", 0) == 0 && stage.is_object() && stage.value("augment", std::string("x")).empty())
      stage.erase("augment");
  if (identity.value("precision", std::string("fp32")) == "fp32") identity.erase("precision");  // added later
  if (identity.contains("model") && identity["model"].value("head_bias_prior", 0.0) == 0.0)
    identity["model"].erase("head_bias_prior");  // likewise
  for (auto& [key, stage] : identity.items())
    if (key.rfind("stage", 0) == 0 && stage.is_object() && stage.contains("optim") &&
        stage["optim"].value("decay_head_bias", false))
      stage["optim"].erase("decay_head_bias");
  identity.erase("cuda_graphs");  // the same steps either way
  if (identity.contains("debug")) identity["debug"].erase("profile_steps");  // likewise
  // How the ranks talk is not part of a run's identity; SyncBatchNorm is, when on.
  if (identity.contains("dist")) {
    for (const char* k : {"backend", "timeout_s", "bucket_mb", "overlap"}) identity["dist"].erase(k);
    if (!identity["dist"].value("sync_bn", false)) identity["dist"].erase("sync_bn");
    if (identity["dist"].empty()) identity.erase("dist");
  }
  return identity;
}

// h = (h xor byte) * FNV prime, over every byte
void Fnv1a::add(const void* data, size_t n) {
  const unsigned char* p = (const unsigned char*)data;
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 1099511628211ull;
  }
}

std::string Fnv1a::hex() const {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", (unsigned long long)h);
  return buf;
}

}  // namespace tailor
