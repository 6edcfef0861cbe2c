// SSD's label-aware MoCo contrastive loss (Li, Wang, Wu, "Self Supervision to Distillation for Long-Tailed
// Visual Recognition", ICCV 2021; MCG-NJU/SSD-LT SSD_LT/builder.py, cal_contrastive_loss), on top of MoCo
// (He et al., CVPR 2020): a query q_i (the query encoder's projection of one view, L2-normalised), its
// positive key k_i (the momentum key encoder's projection of the other view of the same image, constant)
// and a queue of K earlier keys with their labels. Queue keys of the query's own class are taken out of
// the denominator — they are not negatives:
//
//   loss = (1/N) sum_i [ log( e^{q_i.k_i / T} + sum_j m_ij e^{q_i.queue_j / T} ) - q_i.k_i / T ]
//   m_ij = 1 if label(queue_j) != y_i else 0
//
// computed as the reference does (exponentials without a max shift: |q.k| <= 1, so e^{1/T} stays finite
// for any sensible T). The gradient flows into q only; k and the queue are constants.
#pragma once
#include "engine/ops.h"
#include "engine/rng.h"

namespace tailor {

// MoCo's queue of keys, with SSD's labels: a ring of K slots. It starts as K random unit vectors (N(0, 1),
// normalised) with label 0, as the reference's buffers do; enqueue() writes a batch's keys and labels at the
// pointer (wrapping around) and advances it — the oldest keys leave. The reference asserts K % batch == 0
// (no wrap inside a batch); here a batch that wraps fills the end and then the start.
struct LabeledKeyQueue {
  Tensor keys;    // f32 [K, D]
  Tensor labels;  // i32 [K]
  int64_t ptr = 0;
  LabeledKeyQueue() = default;
  LabeledKeyQueue(int64_t K, int64_t D, Rng& rng, Device device);
  int64_t size() const { return keys.size(0); }
  void enqueue(const Tensor& batch_keys, const Tensor& batch_labels);  // [B, D] (no grad), i32 [B]; B <= K
};

// q, k f32 [N, D]; queue f32 [K, D]; mask f32 [N, K] (not_equal_outer(labels, queue_labels)); T > 0.
Tensor label_masked_moco_loss(const Tensor& q, const Tensor& k, const Tensor& queue, const Tensor& mask,
                              double temperature);

}  // namespace tailor
