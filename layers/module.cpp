#include "layers/module.h"

namespace tailor {

void Module::train(bool on) {
  training_ = on;
  on_train_mode(on);
  for (auto& [n, c] : children_) c->train(on);
}

void Module::collect(const std::string& prefix, NamedTensors* params, NamedTensors* buffers,
                     NamedTensors* both) const {
  for (auto& [n, t] : params_) {
    if (params) params->emplace_back(prefix + n, t);
    if (both) both->emplace_back(prefix + n, t);
  }
  for (auto& [n, t] : buffers_) {
    if (buffers) buffers->emplace_back(prefix + n, t);
    if (both) both->emplace_back(prefix + n, t);
  }
  for (auto& [n, c] : children_) c->collect(prefix + n + ".", params, buffers, both);
}

NamedTensors Module::named_parameters() const {
  NamedTensors r;
  collect("", &r, nullptr, nullptr);
  return r;
}
NamedTensors Module::named_buffers() const {
  NamedTensors r;
  collect("", nullptr, &r, nullptr);
  return r;
}
NamedTensors Module::state_dict() const {
  NamedTensors r;
  collect("", nullptr, nullptr, &r);
  return r;
}
std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> r;
  for (auto& [n, t] : named_parameters()) r.push_back(t);
  return r;
}
int64_t Module::num_parameters() const {
  int64_t n = 0;
  for (auto& t : parameters()) n += t.numel();
  return n;
}
void Module::zero_grad() {
  for (auto& t : parameters()) t.zero_grad();
}
void Module::requires_grad_(bool on) {
  for (auto& t : parameters()) t.set_requires_grad(on);
}
void Module::for_each_module(const std::function<void(Module&)>& f) {
  f(*this);
  for (auto& [name, m] : children_) m->for_each_module(f);
}

std::shared_ptr<Module> Module::child(const std::string& name) const {
  for (auto& [n, c] : children_)
    if (n == name) return c;
  return nullptr;
}

void Module::replace_child(const std::string& name, std::shared_ptr<Module> m) {
  for (auto& [n, c] : children_)
    if (n == name) {
      c = m;
      return;
    }
  children_.emplace_back(name, m);
}

Tensor Module::register_parameter(const std::string& name, Tensor t) {
  t.set_requires_grad(true);
  params_.emplace_back(name, t);
  return t;
}
Tensor Module::register_buffer(const std::string& name, Tensor t) {
  buffers_.emplace_back(name, t);
  return t;
}

std::string Module::LoadReport::str() const {
  std::string r;
  auto list = [&](const char* what, const std::vector<std::string>& v) {
    if (v.empty()) return;
    r += std::string(r.empty() ? "" : "; ") + what + " (" + std::to_string(v.size()) + "): ";
    for (size_t i = 0; i < v.size() && i < 8; ++i) r += (i ? ", " : "") + v[i];
    if (v.size() > 8) r += ", ...";
  };
  list("missing", missing);
  list("unexpected", unexpected);
  list("shape mismatch", mismatched);
  if (r.empty()) r = total > 0 ? "all " + std::to_string(total) + " tensors loaded, every name matched" : "all names matched";
  else if (total > 0 && loaded == total) r = "all " + std::to_string(total) + " of the model's tensors loaded; " + r;
  else if (total > 0) r = std::to_string(loaded) + " of the model's " + std::to_string(total) + " tensors loaded, the "
                          "others as initialised; " + r;
  for (const std::string& n : notes) r += "; " + n;
  return r;
}

Module::LoadReport Module::compare_state_dict(const std::map<std::string, Tensor>& sd) const {
  LoadReport rep;
  std::map<std::string, Tensor> mine;
  for (auto& [n, t] : state_dict()) mine[n] = t;
  for (auto& [n, t] : sd)
    if (!mine.count(n)) rep.unexpected.push_back(n);
  for (auto& [n, t] : mine) {
    auto it = sd.find(n);
    if (it == sd.end()) {
      rep.missing.push_back(n);
    } else if (it->second.shape() != t.shape() || it->second.dtype() != t.dtype()) {
      rep.mismatched.push_back(n + " " + dtype_name(it->second.dtype()) + shape_str(it->second.shape()) + " vs model " +
                               dtype_name(t.dtype()) + shape_str(t.shape()));
    }
  }
  rep.total = mine.size();
  return rep;
}

Module::LoadReport Module::load_state_dict(const std::map<std::string, Tensor>& sd, bool allow_partial) {
  LoadReport rep = compare_state_dict(sd);
  if (!rep.ok() && !allow_partial) {  // the names and shapes alone (nothing was loaded)
    LoadReport refused = rep;
    refused.total = 0;
    fail("load_state_dict: " + refused.str());
  }
  NoGradGuard ng;
  std::map<std::string, Tensor> mine;
  for (auto& [n, t] : state_dict()) mine[n] = t;
  for (auto& [n, t] : mine) {
    auto it = sd.find(n);
    if (it != sd.end() && it->second.shape() == t.shape() && it->second.dtype() == t.dtype()) {
      Tensor dst = t;
      dst.copy_from(it->second);
      ++rep.loaded;
    }
  }
  return rep;
}

Tensor Sequential::forward(const Tensor& x) {
  Tensor h = x;
  for (auto& m : mods_) h = m->forward(h);
  return h;
}

void Module::to(Device d) {
  for (auto& [name, t] : state_dict()) {
    Tensor h = t;
    h.move_to_(d);
  }
}

Device Module::device() const {
  NamedTensors sd = state_dict();
  return sd.empty() ? Device::cpu() : sd.front().second.device();
}

void ema_update(Module& target, const Module& source, double m) {
  std::map<std::string, Tensor> src;
  for (auto& [name, p] : source.named_parameters()) src[name] = p;
  for (auto& [name, p] : target.named_parameters()) {
    auto it = src.find(name);
    TAILOR_CHECK(it != src.end(), "ema_update: the source has no parameter ", name);
    Tensor y = p;
    ema_(y, it->second, m);
  }
}

}  // namespace tailor
