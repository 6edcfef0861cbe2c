// Device-resident augmentation (engine/ops.h): a batch gathered from a u8 image set already on the device.
#include "engine/ops/common.h"

namespace tailor {

Tensor crop_flip_normalize(const Tensor& images, const Tensor& plan, const Tensor& lut, int64_t size) {
  const char* op = "crop_flip_normalize";
  check_dtype(op, images, DType::U8, "images");
  check_dtype(op, plan, DType::I32, "plan");
  check_dtype(op, lut, DType::F32, "lut");
  TAILOR_CHECK(images.dim() == 4 && images.is_contiguous(), op, ": images must be contiguous [N, H, W, C], got ",
               images.shape());
  TAILOR_CHECK(plan.dim() == 2 && plan.shape()[1] == 4 && plan.is_contiguous(), op,
               ": plan must be contiguous [B, 4] (index, top, left, flip), got ", plan.shape());
  const int64_t H = images.shape()[1], W = images.shape()[2], C = images.shape()[3], B = plan.shape()[0];
  TAILOR_CHECK(lut.numel() == C * 256 && lut.is_contiguous(), op, ": lut must hold ", C * 256, " values, got ",
               lut.numel());
  TAILOR_CHECK(size > 0, op, ": size must be positive");
  check_same_device(op, images, plan);
  check_same_device(op, images, lut);
  Tensor out = Tensor::empty({B, size, size, C}, DType::F32, images.device());
  TAILOR_KERNEL(images, crop_flip_normalize, out.f32(), images.u8(), plan.i32(), lut.f32(), B, H, W, C, size);
  return out;
}

Tensor mix_rows(const Tensor& x, const Tensor& perm, float lambda) {
  const char* op = "mix_rows";
  check_dtype(op, x, DType::F32, "x");
  check_dtype(op, perm, DType::I32, "perm");
  TAILOR_CHECK(x.dim() >= 1 && x.is_contiguous(), op, ": x must be contiguous rows, got ", x.shape());
  const int64_t n = x.size(0), row = n > 0 ? x.numel() / n : 0;
  TAILOR_CHECK(perm.numel() == n && perm.is_contiguous(), op, ": perm must hold ", n, " indices, got ", perm.numel());
  check_same_device(op, x, perm);
  Tensor out = Tensor::empty(x.shape(), DType::F32, x.device());
  TAILOR_KERNEL(x, mix_rows, out.f32(), x.f32(), perm.i32(), lambda, 1.f - lambda, n, row);
  return out;
}

}  // namespace tailor
