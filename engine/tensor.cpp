// Tensor, Storage and views. See tensor.h for the model.
#include "engine/tensor.h"

#include <cstring>
#include <numeric>
#include <sstream>

#include "engine/allocator.h"
#include "engine/autograd.h"
#include "engine/precision.h"

namespace tailor {

size_t dtype_size(DType t) { return t == DType::U8 ? 1 : t == DType::BF16 ? 2 : 4; }
const char* dtype_name(DType t) {
  return t == DType::F32 ? "f32" : t == DType::I32 ? "i32" : t == DType::BF16 ? "bf16" : "u8";
}

std::string Device::str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }

Device parse_device(const std::string& s) {
  if (s == "cpu") return Device::cpu();
  if (s == "cuda") return Device::cuda(0);
  if (s.rfind("cuda:", 0) == 0) return Device::cuda(std::stoi(s.substr(5)));
  fail("unknown device '" + s + "' (expected cpu, cuda or cuda:N)");
}

std::string shape_str(const Shape& s) {
  std::string r = "[";
  for (size_t i = 0; i < s.size(); ++i) r += (i ? ", " : "") + std::to_string(s[i]);
  return r + "]";
}
int64_t shape_numel(const Shape& s) {
  int64_t n = 1;
  for (auto d : s) n *= d;
  return n;
}
Shape contiguous_strides(const Shape& shape) {
  Shape st(shape.size());
  int64_t acc = 1;
  for (int64_t i = (int64_t)shape.size() - 1; i >= 0; --i) {
    st[i] = acc;
    acc *= shape[i];
  }
  return st;
}

void fail(const std::string& msg) { throw std::runtime_error(msg); }
namespace detail {
std::string concat_impl(std::initializer_list<std::string> parts) {
  std::string r;
  for (auto& p : parts) r += p;
  return r;
}
}  // namespace detail

Storage::Storage(size_t n, Device d) : nbytes(n), device(d) { ptr = device_alloc(d, n); }
Storage::~Storage() { device_free(device, ptr, nbytes); }

// ---------------------------------------------------------------- factories
Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  for (auto d : shape) TAILOR_CHECK(d >= 0, "Tensor::empty: negative dimension in shape ", shape);
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>((size_t)shape_numel(shape) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return Tensor(impl);
}
Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  device_memset(device, t.raw_data(), 0, t.nbytes());
  return t;
}
Tensor Tensor::full(const Shape& shape, float value, Device device) {
  Tensor t = empty(shape, DType::F32, device);
  t.fill_(value);
  return t;
}
Tensor Tensor::from_vector(const std::vector<float>& v, const Shape& shape, Device device) {
  TAILOR_CHECK((int64_t)v.size() == shape_numel(shape), "Tensor::from_vector: ", v.size(),
               " values for shape ", shape);
  Tensor t = empty(shape, DType::F32, device);
  device_copy(device, t.raw_data(), Device::cpu(), v.data(), t.nbytes());
  return t;
}
Tensor Tensor::from_vector_i32(const std::vector<int32_t>& v, const Shape& shape, Device device) {
  TAILOR_CHECK((int64_t)v.size() == shape_numel(shape), "Tensor::from_vector_i32: ", v.size(),
               " values for shape ", shape);
  Tensor t = empty(shape, DType::I32, device);
  device_copy(device, t.raw_data(), Device::cpu(), v.data(), t.nbytes());
  return t;
}

// ---------------------------------------------------------------- metadata
static const TensorImpl& checked(const std::shared_ptr<TensorImpl>& p) {
  if (!p) fail("use of an undefined tensor");
  return *p;
}
const Shape& Tensor::shape() const { return checked(impl_).shape; }
const Shape& Tensor::strides() const { return checked(impl_).strides; }
int64_t Tensor::size(int64_t d) const {
  int64_t n = dim();
  if (d < 0) d += n;
  TAILOR_CHECK(d >= 0 && d < n, "size(", d, ") out of range for shape ", shape());
  return shape()[d];
}
int64_t Tensor::numel() const { return shape_numel(shape()); }
int64_t Tensor::offset() const { return checked(impl_).offset; }
DType Tensor::dtype() const { return checked(impl_).dtype; }
Device Tensor::device() const { return checked(impl_).storage->device; }
bool Tensor::is_contiguous() const {
  const auto& s = shape();
  const auto& st = strides();
  int64_t acc = 1;
  for (int64_t i = (int64_t)s.size() - 1; i >= 0; --i) {
    if (s[i] != 1 && st[i] != acc) return false;
    acc *= s[i];
  }
  return true;
}
std::string Tensor::desc() const {
  if (!defined()) return "undefined";
  return std::string(dtype_name(dtype())) + shape_str(shape()) + " " + device().str();
}
bool Tensor::same_storage(const Tensor& o) const {
  return defined() && o.defined() && impl_->storage == o.impl_->storage;
}

// ---------------------------------------------------------------- data
void* Tensor::raw_data() const {
  const auto& t = checked(impl_);
  return (char*)t.storage->ptr + t.offset * dtype_size(t.dtype);
}
float* Tensor::f32() const {
  TAILOR_CHECK(dtype() == DType::F32, "expected an f32 tensor, got ", desc());
  return (float*)raw_data();
}
int32_t* Tensor::i32() const {
  TAILOR_CHECK(dtype() == DType::I32, "expected an i32 tensor, got ", desc());
  return (int32_t*)raw_data();
}
uint8_t* Tensor::u8() const {
  TAILOR_CHECK(dtype() == DType::U8, "expected a u8 tensor, got ", desc());
  return (uint8_t*)raw_data();
}
uint16_t* Tensor::bf16() const {
  TAILOR_CHECK(dtype() == DType::BF16, "expected a bf16 tensor, got ", desc());
  return (uint16_t*)raw_data();
}
template <> float* Tensor::data<float>() const {
  TAILOR_CHECK(device().is_cpu(), "data<float>() needs a CPU tensor, got ", desc());
  return f32();
}
template <> int32_t* Tensor::data<int32_t>() const {
  TAILOR_CHECK(device().is_cpu(), "data<int32_t>() needs a CPU tensor, got ", desc());
  return i32();
}
template <> uint8_t* Tensor::data<uint8_t>() const {
  TAILOR_CHECK(device().is_cpu(), "data<uint8_t>() needs a CPU tensor, got ", desc());
  return u8();
}
float Tensor::item() const {
  TAILOR_CHECK(numel() == 1, "item() needs a one-element tensor, got ", desc());
  return to_vector()[0];
}
std::vector<float> Tensor::to_vector() const {
  Tensor c = contiguous().cpu();
  if (c.dtype() == DType::I32) {
    std::vector<float> r(c.numel());
    for (int64_t i = 0; i < c.numel(); ++i) r[i] = (float)c.i32()[i];
    return r;
  }
  if (c.dtype() == DType::BF16) {  // widened exactly
    std::vector<float> r(c.numel());
    for (int64_t i = 0; i < c.numel(); ++i) r[i] = bf16_to_float(c.bf16()[i]);
    return r;
  }
  return std::vector<float>(c.f32(), c.f32() + c.numel());
}
std::vector<int32_t> Tensor::to_vector_i32() const {
  Tensor c = contiguous().cpu();
  return std::vector<int32_t>(c.i32(), c.i32() + c.numel());
}

// ---------------------------------------------------------------- views
static Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.impl()->storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(impl);
}

Tensor Tensor::reshape(const Shape& new_shape_in) const {
  Shape ns = new_shape_in;
  int64_t known = 1, infer = -1;
  for (size_t i = 0; i < ns.size(); ++i) {
    if (ns[i] == -1) {
      TAILOR_CHECK(infer < 0, "reshape: more than one -1 in ", ns);
      infer = (int64_t)i;
    } else {
      known *= ns[i];
    }
  }
  if (infer >= 0) {
    TAILOR_CHECK(known > 0 && numel() % known == 0, "reshape: cannot infer -1 of ", ns, " from ", shape());
    ns[infer] = numel() / known;
  }
  TAILOR_CHECK(shape_numel(ns) == numel(), "reshape: shape ", shape(), " (", numel(), " elements) cannot become ",
               ns);
  TAILOR_CHECK(is_contiguous(), "reshape: needs a contiguous tensor, got strides ", strides(), " for shape ",
               shape(), " (call contiguous())");
  Tensor out = make_view(*this, ns, contiguous_strides(ns), offset());
  if (should_record({this})) {
    auto node = std::make_shared<LambdaNode>();
    node->name = "reshape";
    node->inputs = {*this};
    Shape in_shape = shape();
    node->fn = [in_shape](LambdaNode&, const Tensor& g) {
      return std::vector<Tensor>{g.contiguous().clone().reshape(in_shape)};
    };
    record(out, node);
  }
  return out;
}

Tensor Tensor::flatten(int64_t start_dim) const {
  Shape ns(shape().begin(), shape().begin() + start_dim);
  ns.push_back(-1);
  if (start_dim == dim()) ns.back() = 1;
  return reshape(ns);
}

Tensor Tensor::slice(int64_t begin, int64_t end) const {
  TAILOR_CHECK(dim() >= 1, "slice: needs at least 1 dim, got ", shape());
  TAILOR_CHECK(0 <= begin && begin <= end && end <= shape()[0], "slice: range [", begin, ", ", end,
               ") out of bounds for dim 0 of ", shape());
  Shape ns = shape();
  ns[0] = end - begin;
  Tensor out = make_view(*this, ns, strides(), offset() + begin * strides()[0]);
  if (should_record({this})) {
    auto node = std::make_shared<LambdaNode>();
    node->name = "slice";
    node->inputs = {*this};
    Shape in_shape = shape();
    node->fn = [in_shape, begin](LambdaNode&, const Tensor& g) {
      Tensor full = Tensor::zeros(in_shape, DType::F32, g.device());
      full.slice(begin, begin + g.shape()[0]).copy_from(g);
      return std::vector<Tensor>{full};
    };
    record(out, node);
  }
  return out;
}

// Copies a (possibly strided) CPU tensor into contiguous memory, elementwise in logical order.
static void strided_copy_cpu(void* dst, const Tensor& src) {
  const auto& s = src.shape();
  const auto& st = src.strides();
  size_t es = dtype_size(src.dtype());
  const char* base = (const char*)src.raw_data();
  char* out = (char*)dst;
  int64_t n = src.numel(), nd = src.dim();
  std::vector<int64_t> idx(nd, 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int64_t d = 0; d < nd; ++d) off += idx[d] * st[d];
    std::memcpy(out + i * es, base + off * es, es);
    for (int64_t d = nd - 1; d >= 0; --d) {
      if (++idx[d] < s[d]) break;
      idx[d] = 0;
    }
  }
}

Tensor Tensor::contiguous() const {
  if (is_contiguous()) return *this;
  TAILOR_CHECK(device().is_cpu(), "contiguous(): strided copies are CPU-only for now, got ", desc());
  Tensor out = empty(shape(), dtype(), device());
  strided_copy_cpu(out.raw_data(), *this);
  if (should_record({this})) {
    auto node = std::make_shared<LambdaNode>();
    node->name = "contiguous";
    node->inputs = {*this};
    node->fn = [](LambdaNode&, const Tensor& g) { return std::vector<Tensor>{g.clone()}; };
    record(out, node);
  }
  return out;
}

Tensor Tensor::clone() const {
  Tensor src = contiguous();
  Tensor out = empty(shape(), dtype(), device());
  device_copy(out.device(), out.raw_data(), src.device(), src.raw_data(), out.nbytes());
  return out;
}

static thread_local int64_t g_host_reads = 0;
int64_t Tensor::host_reads() { return g_host_reads; }

Tensor Tensor::to(Device d) const {
  if (d.is_cpu()) ++g_host_reads;
  Tensor src = contiguous();
  Tensor out = empty(shape(), dtype(), d);
  device_copy(d, out.raw_data(), src.device(), src.raw_data(), out.nbytes());
  return out;
}

void Tensor::move_to_(Device d) {
  if (device() == d) return;
  Tensor moved = to(d);
  impl_->storage = moved.impl()->storage;
  impl_->offset = 0;
  impl_->strides = contiguous_strides(shape());
  impl_->grad = Tensor();
}

void Tensor::copy_from(const Tensor& src) {
  TAILOR_CHECK(shape() == src.shape() && dtype() == src.dtype(), "copy_from: ", src.desc(), " into ", desc());
  TAILOR_CHECK(is_contiguous(), "copy_from: destination must be contiguous, got ", desc());
  Tensor s = src.contiguous();
  device_copy(device(), raw_data(), s.device(), s.raw_data(), nbytes());
}

void Tensor::fill_(float v) {
  TAILOR_CHECK(is_contiguous(), "fill_: needs a contiguous tensor, got ", desc());
  if (dtype() == DType::F32) {
    device_fill_f32(device(), f32(), v, numel());
  } else if (dtype() == DType::I32) {
    TAILOR_CHECK(device().is_cpu(), "fill_ of an i32 tensor is CPU-only");
    std::fill(i32(), i32() + numel(), (int32_t)v);
  } else {
    device_memset(device(), raw_data(), (int)v, nbytes());
  }
}

// ---------------------------------------------------------------- autograd metadata
bool Tensor::requires_grad() const { return checked(impl_).requires_grad; }
Tensor& Tensor::set_requires_grad(bool r) {
  TAILOR_CHECK(!r || dtype() == DType::F32, "only f32 tensors can require grad, got ", desc());
  impl_->requires_grad = r;
  return *this;
}
Tensor Tensor::grad() const { return checked(impl_).grad; }
void Tensor::set_grad(const Tensor& g) { checked(impl_), impl_->grad = g; }
void Tensor::zero_grad() { checked(impl_), impl_->grad = Tensor(); }
const std::shared_ptr<Node>& Tensor::grad_fn() const { return checked(impl_).grad_fn; }
void Tensor::set_grad_fn(std::shared_ptr<Node> fn) { checked(impl_), impl_->grad_fn = std::move(fn); }
Tensor Tensor::detach() const { return make_view(*this, shape(), strides(), offset()); }
void Tensor::backward(const Tensor& grad_output, bool retain_graph) const {
  run_backward(*this, grad_output, retain_graph);
}

// ---------------------------------------------------------------- checks
void check_same_shape(const char* op, const Tensor& a, const Tensor& b) {
  TAILOR_CHECK(a.shape() == b.shape(), op, ": shape mismatch ", a.shape(), " vs ", b.shape());
}
void check_dtype(const char* op, const Tensor& t, DType d, const char* arg) {
  TAILOR_CHECK(t.dtype() == d, op, ": ", arg, " must be ", dtype_name(d), ", got ", t.desc());
}
void check_dim(const char* op, const Tensor& t, int64_t dim, const char* arg) {
  TAILOR_CHECK(t.dim() == dim, op, ": ", arg, " must have ", dim, " dims, got shape ", t.shape());
}
void check_same_device(const char* op, const Tensor& a, const Tensor& b) {
  TAILOR_CHECK(a.device() == b.device(), op, ": tensors on different devices (", a.device().str(), " vs ",
               b.device().str(), "); move them explicitly with .to()");
}

}  // namespace tailor
