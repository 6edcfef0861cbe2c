#include "losses/contrastive.h"
#include <algorithm>

#include "engine/autograd.h"

namespace tailor {

LabeledKeyQueue::LabeledKeyQueue(int64_t K, int64_t D, Rng& rng, Device device) {
  TAILOR_CHECK(K >= 1 && D >= 1, "LabeledKeyQueue: size ", K, " x ", D);
  Tensor k = Tensor::empty({K, D});
  normal_(k, 0.f, 1.f, rng);
  keys = l2_normalize(k, 1).to(device);
  labels = Tensor::zeros({K}, DType::I32, device);
}

void LabeledKeyQueue::enqueue(const Tensor& bk, const Tensor& by) {
  const int64_t K = size(), B = bk.size(0);
  TAILOR_CHECK(bk.dim() == 2 && bk.size(1) == keys.size(1), "LabeledKeyQueue: keys must be [B, ", keys.size(1),
               "], got ", bk.shape());
  TAILOR_CHECK(by.dim() == 1 && by.size(0) == B, "LabeledKeyQueue: labels must be [", B, "], got ", by.shape());
  TAILOR_CHECK(B <= K, "LabeledKeyQueue: a batch of ", B, " keys does not fit a queue of ", K);
  Tensor k = bk.detach().contiguous(), y = by.contiguous();
  const int64_t first = std::min(B, K - ptr);  // up to the end of the ring, then from its start
  keys.slice(ptr, ptr + first).copy_from(k.slice(0, first));
  labels.slice(ptr, ptr + first).copy_from(y.slice(0, first));
  if (first < B) {
    keys.slice(0, B - first).copy_from(k.slice(first, B));
    labels.slice(0, B - first).copy_from(y.slice(first, B));
  }
  ptr = (ptr + B) % K;
}

Tensor label_masked_moco_loss(const Tensor& q, const Tensor& k, const Tensor& queue, const Tensor& mask, double T) {
  check_dim("label_masked_moco_loss", q, 2, "q");
  check_same_shape("label_masked_moco_loss", q, k);
  check_dim("label_masked_moco_loss", queue, 2, "queue");
  TAILOR_CHECK(queue.size(1) == q.size(1), "label_masked_moco_loss: queue keys have ", queue.size(1),
               " dims, the queries ", q.size(1));
  TAILOR_CHECK(mask.dim() == 2 && mask.size(0) == q.size(0) && mask.size(1) == queue.size(0),
               "label_masked_moco_loss: mask must be [", q.size(0), ", ", queue.size(0), "], got ", mask.shape());
  TAILOR_CHECK(T > 0, "label_masked_moco_loss: temperature must be > 0, got ", T);
  const float inv_t = (float)(1.0 / T);
  Tensor pos = scale(sum(mul(q, k.detach()), 1, /*keepdim=*/true), inv_t);  // [N, 1]  q.k+ / T
  Tensor neg = scale(linear(q, queue.detach()), inv_t);                      // [N, K]  q.queue_j / T
  Tensor denom = add(exp(pos), sum(mul(exp(neg), mask), 1, /*keepdim=*/true));
  return mean_all(sub(log(denom), pos));
}

}  // namespace tailor
