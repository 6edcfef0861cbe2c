#include "data/loader.h"

#include <cstring>

#include <algorithm>
#include <stdexcept>

#include "data/resident.h"
#include "data/rng.h"
#include "engine/ops.h"

namespace tailor::data {

void to_device(Batch& b, Device d) {
  if (b.images.defined() && b.images.device() != d) b.images = b.images.to(d);
  if (b.images2.defined() && b.images2.device() != d) b.images2 = b.images2.to(d);
  if (b.labels.defined() && b.labels.device() != d) b.labels = b.labels.to(d);
}

// The batch shape of one view: size x size for the crop modes, the dataset's own size without a crop.
static void view_shape(const Dataset& ds, const TransformConfig& tf, int channels, int* h, int* w) {
  if (tf.crop == CropMode::None) {
    if (ds.height <= 0 || ds.width <= 0)
      throw std::runtime_error("loader: " + ds.name + " has images of varying size; use a crop transform");
    *h = ds.height;
    *w = ds.width;
  } else {
    *h = *w = tf.size;
  }
  if (!tf.mean.empty() && (int)tf.mean.size() != channels)
    throw std::runtime_error("loader: normalisation has " + std::to_string(tf.mean.size()) + " channels, " +
                             ds.name + " has " + std::to_string(channels));
}

Loader::Loader(const Dataset& ds, Sampler& sampler, const TransformConfig& tf, const LoaderConfig& cfg)
    : ds_(ds), sampler_(sampler), tf_(tf), cfg_(cfg) {
  if (cfg_.batch_size < 1) throw std::runtime_error("loader: batch_size must be >= 1");
  if (cfg_.prefetch < 1) cfg_.prefetch = 1;
  if (cfg_.num_workers < 0) cfg_.num_workers = 0;
  if (ds.size() == 0) throw std::runtime_error("loader: empty dataset " + ds.name);
  out_c_ = ds.channels > 0 ? ds.channels : 3;
  view_shape(ds, tf_, out_c_, &out_h_, &out_w_);
  if (cfg_.second_view) view_shape(ds, *cfg_.second_view, out_c_, &out_h2_, &out_w2_);
  slots_.resize((size_t)cfg_.prefetch);
  if (cfg_.resident) setup_resident();
  for (int w = 0; w < cfg_.num_workers; ++w) workers_.emplace_back([this] { worker_loop(); });
  start_epoch(sampler_.state().epoch, sampler_.state().cursor);
}

Loader::~Loader() { stop_workers(); }

void Loader::setup_resident() {
  const Device d = *cfg_.resident;
  if (ds_.pixels.empty())
    throw std::runtime_error("data.resident: " + ds_.name + " is read from files as it trains; only a dataset "
                             "decoded in memory (CIFAR, MNIST-sized) can live on the device");
  if (cfg_.second_view) throw std::runtime_error("data.resident: a method with two views is not supported");
  const std::string problem = resident_transform_problem(tf_, ds_.height, ds_.width);
  if (!problem.empty()) throw std::runtime_error("data.resident: " + problem);
  cfg_.num_workers = 0;  // the device does the work
  Tensor host = Tensor::empty({ds_.size(), ds_.height, ds_.width, ds_.channels}, DType::U8);
  std::memcpy(host.u8(), ds_.pixels.data(), ds_.pixels.size());
  res_images_ = d.is_cpu() ? host : host.to(d);
  const std::vector<float> table = normalization_table(out_c_, tf_.mean, tf_.std);
  res_lut_ = Tensor::from_vector(table, {(int64_t)table.size()}, d);
}

bool Loader::next_resident(Batch& out) {
  if (next_batch_ >= nbatches_) return false;
  const int64_t begin = cursor0_ + next_batch_ * cfg_.batch_size;
  const int64_t count = std::min<int64_t>(cfg_.batch_size, (int64_t)shard_.size() - begin);
  out = Batch();
  out.images = crop_flip_normalize(res_images_, res_plan_.slice(begin, begin + count), res_lut_, out_h_);
  std::vector<int32_t> labels((size_t)count);
  for (int64_t k = 0; k < count; ++k) {
    const int64_t di = res_plan_host_[(size_t)((begin + k) * 4)];
    out.indices.push_back(di);
    labels[(size_t)k] = ds_.labels[(size_t)di];
  }
  out.labels = Tensor::from_vector_i32(labels, {count}, *cfg_.resident);
  sampler_.load_state(SamplerState{epoch_, begin + count});
  ++next_batch_;
  return true;
}

void Loader::stop_workers() {
  {
    std::unique_lock<std::mutex> lk(mu_);
    stop_ = true;
  }
  cv_work_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

int64_t Loader::num_batches_from(int64_t cursor) const {
  int64_t left = std::max<int64_t>(0, sampler_.length() - cursor);
  return cfg_.drop_last ? left / cfg_.batch_size : (left + cfg_.batch_size - 1) / cfg_.batch_size;
}

int64_t Loader::batches_per_epoch() const { return num_batches_from(0); }

void Loader::allocate(Batch& b, int64_t n) const {
  b.images = Tensor::empty({n, out_h_, out_w_, out_c_}, DType::F32);
  b.images2 = cfg_.second_view ? Tensor::empty({n, out_h2_, out_w2_, out_c_}, DType::F32) : Tensor();
  b.labels = Tensor::empty({n}, DType::I32);
}

void Loader::assign(Slot& s, int64_t batch) {
  s.batch = batch;
  s.begin = cursor0_ + batch * cfg_.batch_size;
  s.count = std::min<int64_t>(cfg_.batch_size, (int64_t)shard_.size() - s.begin);
  allocate(s.b, s.count);
  s.img = s.b.images.f32();
  s.img2 = cfg_.second_view ? s.b.images2.f32() : nullptr;
  s.lab = s.b.labels.i32();
  s.idx.clear();
  s.err = nullptr;
  s.valid = 0;
  s.gen = gen_;
  s.st = Slot::Assigned;
}

void Loader::start_epoch(int64_t epoch, int64_t cursor) {
  std::unique_lock<std::mutex> lk(mu_);
  ++gen_;
  cv_done_.wait(lk, [&] { return working_ == 0; });  // let in-flight batches of the old epoch finish
  sampler_.load_state(SamplerState{epoch, cursor});
  shard_ = sampler_.epoch_indices(epoch);
  epoch_ = epoch;
  cursor0_ = cursor;
  nbatches_ = num_batches_from(cursor);
  next_batch_ = 0;
  if (cfg_.resident) {  // the epoch's plan, on the device once
    res_plan_host_ = crop_flip_plan(sampler_, epoch, cfg_.seed, tf_, ds_.height, ds_.width);
    res_plan_ = Tensor::from_vector_i32(res_plan_host_, {(int64_t)shard_.size(), 4}, *cfg_.resident);
    return;
  }
  for (auto& s : slots_) {
    s.st = Slot::Free;
    s.batch = -1;
    s.b = Batch();
  }
  for (int64_t b = 0; b < std::min<int64_t>(nbatches_, (int64_t)slots_.size()); ++b)
    assign(slots_[(size_t)(b % (int64_t)slots_.size())], b);
  lk.unlock();
  cv_work_.notify_all();
}

// Decodes dataset sample `di` and writes view 0 of it (augmentation keyed by (seed, epoch, position, 0)) to dst
// and, when dst2 is given, view 1 (the second transform, keyed by (seed, epoch, position, 1)) to dst2; false when
// the sample is skipped under BadImagePolicy::Skip.
bool Loader::sample_into(int64_t di, int64_t epoch, int64_t position, float* dst, float* dst2,
                         TransformScratch& scratch, ImageU8& decoded) const {
  try {
    ImageView v = dataset_image(ds_, di, decoded);
    auto view = [&](const TransformConfig& tf, int h, int w, uint64_t index, float* out) {
      int oh, ow;
      transform_output_shape(tf, v.height, v.width, &oh, &ow);
      if (oh != h || ow != w || v.channels != out_c_)
        throw std::runtime_error((di < (int64_t)ds_.paths.size() ? ds_.paths[(size_t)di] : ds_.name) +
                                 ": image shape differs from the batch shape");
      CounterRng rng = make_rng(cfg_.seed, epoch, position, index);
      apply_transform(tf, v, rng, out, scratch);
    };
    view(tf_, out_h_, out_w_, 0, dst);
    if (dst2) view(*cfg_.second_view, out_h2_, out_w2_, 1, dst2);
  } catch (const std::exception&) {
    if (cfg_.on_bad_image == BadImagePolicy::Error || ds_.in_memory()) throw;
    return false;  // Skip: leave it out of the batch (counted by the consumer)
  }
  return true;
}

void Loader::fill(Slot& s) {
  TransformScratch scratch;
  ImageU8 decoded;
  s.valid = 0;
  s.idx.clear();
  for (int64_t k = 0; k < s.count; ++k) {
    const int64_t pos = s.begin + k;
    const int64_t di = shard_[(size_t)pos];
    float* dst2 = s.img2 ? s.img2 + s.valid * row2() : nullptr;
    if (!sample_into(di, epoch_, sampler_.global_position(pos), s.img + s.valid * row(), dst2, scratch, decoded))
      continue;
    s.lab[s.valid] = ds_.labels[(size_t)di];
    s.idx.push_back(di);
    ++s.valid;
  }
}

void Loader::load(const std::vector<int64_t>& indices, int64_t epoch, int64_t first_position, Batch& out,
                  int64_t position_step) {
  const int64_t n = (int64_t)indices.size(), row = this->row(), row2 = this->row2();
  allocate(out, n);
  float* img2 = cfg_.second_view ? out.images2.f32() : nullptr;
  std::vector<char> ok((size_t)n, 0);
  std::exception_ptr err;
#pragma omp parallel for schedule(dynamic, 8) if (cfg_.num_workers > 0)
  for (int64_t k = 0; k < n; ++k) {
    TransformScratch scratch;
    ImageU8 decoded;
    try {
      const int64_t di = indices[(size_t)k];
      TAILOR_CHECK(di >= 0 && di < ds_.size(), "loader: index ", di, " outside ", ds_.name);
      ok[(size_t)k] = sample_into(di, epoch, first_position + k * position_step, out.images.f32() + k * row,
                                  img2 ? img2 + k * row2 : nullptr, scratch, decoded);
    } catch (...) {
#pragma omp critical
      if (!err) err = std::current_exception();
    }
  }
  if (err) std::rethrow_exception(err);
  out.indices.clear();
  int64_t valid = 0;
  for (int64_t k = 0; k < n; ++k) {
    if (!ok[(size_t)k]) continue;
    if (valid != k) {
      std::memmove(out.images.f32() + valid * row, out.images.f32() + k * row, row * sizeof(float));
      if (img2) std::memmove(img2 + valid * row2, img2 + k * row2, row2 * sizeof(float));
    }
    out.labels.i32()[valid] = ds_.labels[(size_t)indices[(size_t)k]];
    out.indices.push_back(indices[(size_t)k]);
    ++valid;
  }
  skipped_ += n - valid;
  if (valid < n) {  // a shorter batch: views of the first `valid` rows
    out.images = out.images.slice(0, valid).contiguous();
    if (img2) out.images2 = out.images2.slice(0, valid).contiguous();
    out.labels = out.labels.slice(0, valid).contiguous();
  }
}

void Loader::worker_loop() {
  std::unique_lock<std::mutex> lk(mu_);
  for (;;) {
    Slot* pick = nullptr;
    cv_work_.wait(lk, [&] {
      if (stop_) return true;
      pick = nullptr;
      for (auto& s : slots_)
        if (s.st == Slot::Assigned && s.gen == gen_ && (!pick || s.batch < pick->batch)) pick = &s;
      return pick != nullptr;
    });
    if (stop_) return;
    pick->st = Slot::Working;
    ++working_;
    const uint64_t gen = pick->gen;
    lk.unlock();
    std::exception_ptr err;
    try {
      fill(*pick);
    } catch (...) {
      err = std::current_exception();
    }
    lk.lock();
    --working_;
    if (gen == gen_) {
      pick->err = err;
      pick->st = Slot::Ready;
    }
    cv_done_.notify_all();
  }
}

bool Loader::next(Batch& out) {
  if (cfg_.resident) return next_resident(out);
  std::unique_lock<std::mutex> lk(mu_);
  if (next_batch_ >= nbatches_) return false;
  Slot& s = slots_[(size_t)(next_batch_ % (int64_t)slots_.size())];
  if (workers_.empty()) {
    lk.unlock();
    try {
      fill(s);
    } catch (...) {
      s.err = std::current_exception();
    }
    lk.lock();
    s.st = Slot::Ready;
  } else {
    cv_done_.wait(lk, [&] { return s.st == Slot::Ready; });
  }
  if (s.err) {
    std::exception_ptr e = s.err;
    s.err = nullptr;
    s.st = Slot::Free;
    nbatches_ = next_batch_;  // the epoch ends here; start_epoch() again to retry
    std::rethrow_exception(e);
  }
  out = std::move(s.b);
  out.indices = s.idx;
  if (s.valid < s.count) {
    skipped_ += s.count - s.valid;
    out.images = out.images.slice(0, s.valid);
    if (out.images2.defined()) out.images2 = out.images2.slice(0, s.valid);
    out.labels = out.labels.slice(0, s.valid);
  }
  const int64_t end = s.begin + s.count;
  sampler_.load_state(SamplerState{epoch_, end});
  const int64_t done = next_batch_++;
  s.st = Slot::Free;
  s.b = Batch();
  const int64_t nb = done + (int64_t)slots_.size();
  if (nb < nbatches_) assign(s, nb);
  lk.unlock();
  cv_work_.notify_all();
  return true;
}

}  // namespace tailor::data
