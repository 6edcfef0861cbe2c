// tailor tensors: a Storage (device, bytes, allocator) under a Tensor (shape, strides, offset, dtype,
// autograd metadata). Tensor is a cheap handle (shared_ptr); views share storage.
//
// Layout convention: image activations are channels-last, [N, H, W, C] (NHWC), the layout oneDNN and
// cuDNN run fastest on. Convolution weights keep PyTorch's [K, C, R, S] (OIHW) so checkpoints and
// names match torchvision. Kernels take contiguous inputs only; call contiguous() on a strided view.
#pragma once
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace tailor {

enum class DType : uint8_t { F32, I32, U8, BF16 };  // BF16: storage only (bfloat16 operands of convolutions)
size_t dtype_size(DType t);
const char* dtype_name(DType t);

enum class DeviceType : uint8_t { CPU, CUDA };
struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;
  static Device cpu() { return {DeviceType::CPU, 0}; }
  static Device cuda(int i = 0) { return {DeviceType::CUDA, i}; }
  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const;
};
Device parse_device(const std::string& s);  // "cpu", "cuda", "cuda:1"

using Shape = std::vector<int64_t>;
std::string shape_str(const Shape& s);  // "[2, 3, 4]"
int64_t shape_numel(const Shape& s);

// Owns one allocation. Freed through the allocator of its device (CPU: 64-byte aligned, cached).
struct Storage {
  void* ptr = nullptr;
  size_t nbytes = 0;
  Device device;
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;
};

struct Node;
struct TensorImpl;

class Tensor {
 public:
  Tensor() = default;
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- factories
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = Device::cpu());
  static Tensor full(const Shape& shape, float value, Device device = Device::cpu());
  static Tensor ones(const Shape& shape, Device device = Device::cpu()) { return full(shape, 1.f, device); }
  static Tensor from_vector(const std::vector<float>& v, const Shape& shape, Device device = Device::cpu());
  static Tensor from_vector_i32(const std::vector<int32_t>& v, const Shape& shape, Device device = Device::cpu());
  static Tensor scalar(float v, Device device = Device::cpu()) { return from_vector({v}, {}, device); }

  // ---- metadata
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const;
  const Shape& strides() const;
  int64_t dim() const { return (int64_t)shape().size(); }
  int64_t size(int64_t d) const;  // negative d counts from the end
  int64_t numel() const;
  int64_t offset() const;
  DType dtype() const;
  Device device() const;
  bool is_cuda() const { return device().is_cuda(); }
  bool is_contiguous() const;
  size_t nbytes() const { return (size_t)numel() * dtype_size(dtype()); }
  std::string desc() const;  // "f32[2, 3] cpu"

  // ---- data access (CPU reads check the device; raw pointers are for kernels)
  void* raw_data() const;  // storage ptr + offset, any device
  float* f32() const;      // checks dtype F32 (any device)
  int32_t* i32() const;
  uint8_t* u8() const;
  uint16_t* bf16() const;  // the raw bfloat16 bits (the upper half of a float)
  template <class T> T* data() const;  // CPU only, dtype checked
  float item() const;                  // one-element tensor -> float (copies from device)
  std::vector<float> to_vector() const;  // F32 (I32, BF16 widened) contents in logical order (any device, any strides)
  std::vector<int32_t> to_vector_i32() const;
  // Host reads made by this thread so far: every to(cpu) copy, which item(), to_vector(), to_vector_i32()
  // and cpu() go through, counted on every device (on a GPU each one waits for the stream). The training
  // loop's tests count them: a step between two read points makes none (train/loop.h).
  static int64_t host_reads();

  // ---- views (share storage) and copies
  Tensor reshape(const Shape& shape) const;  // -1 allowed once; differentiable; needs contiguous input
  Tensor flatten(int64_t start_dim = 1) const;
  Tensor slice(int64_t begin, int64_t end) const;  // along dim 0; a view
  Tensor select(int64_t i) const { return slice(i, i + 1).reshape(Shape(shape().begin() + 1, shape().end())); }
  Tensor contiguous() const;                        // self if already contiguous
  Tensor clone() const;                             // deep copy, no autograd history
  Tensor to(Device d) const;                        // explicit device transfer (copy), no history
  Tensor cpu() const { return to(Device::cpu()); }
  void copy_from(const Tensor& src);                // same shape/dtype, any devices; no autograd
  // Moves this tensor's data to device d in place: every handle sharing this TensorImpl (a module's
  // member and its parameter list) sees the new storage. Drops the gradient. Used by Module::to.
  void move_to_(Device d);
  void fill_(float v);
  void zero_() { fill_(0.f); }

  // ---- autograd
  bool requires_grad() const;
  Tensor& set_requires_grad(bool r = true);
  Tensor grad() const;  // undefined until a backward reaches this leaf
  void set_grad(const Tensor& g);
  void zero_grad();     // drops the gradient (set to undefined)
  const std::shared_ptr<Node>& grad_fn() const;
  void set_grad_fn(std::shared_ptr<Node> fn);
  bool is_leaf() const { return grad_fn() == nullptr; }
  Tensor detach() const;  // same storage, no history, requires_grad false
  void backward(const Tensor& grad_output = Tensor(), bool retain_graph = false) const;

  TensorImpl* impl() const { return impl_.get(); }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool same_storage(const Tensor& o) const;

 private:
  std::shared_ptr<TensorImpl> impl_;
};

struct TensorImpl {
  std::shared_ptr<Storage> storage;
  int64_t offset = 0;  // in elements
  Shape shape, strides;
  DType dtype = DType::F32;
  bool requires_grad = false;
  Tensor grad;
  std::shared_ptr<Node> grad_fn;
};

Shape contiguous_strides(const Shape& shape);

// Error helpers: every check names what failed. TAILOR_CHECK(cond, msg-stream-expression).
[[noreturn]] void fail(const std::string& msg);
#define TAILOR_CHECK(cond, ...)                                                   \
  do {                                                                            \
    if (!(cond)) ::tailor::fail(::tailor::detail::concat(__VA_ARGS__));           \
  } while (0)
namespace detail {
std::string concat_impl(std::initializer_list<std::string> parts);
inline std::string to_str(const std::string& s) { return s; }
inline std::string to_str(const char* s) { return s; }
inline std::string to_str(const Shape& s) { return shape_str(s); }
template <class T> std::string to_str(const T& v) { return std::to_string(v); }
template <class... A> std::string concat(const A&... a) { return concat_impl({to_str(a)...}); }
}  // namespace detail

// Op input checks used by every op: they name the op and the offending shapes.
void check_same_shape(const char* op, const Tensor& a, const Tensor& b);
void check_dtype(const char* op, const Tensor& t, DType d, const char* arg);
void check_dim(const char* op, const Tensor& t, int64_t dim, const char* arg);
void check_same_device(const char* op, const Tensor& a, const Tensor& b);

}  // namespace tailor
