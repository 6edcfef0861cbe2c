// ResNets on NHWC input.
//  * resnet32: the CIFAR ResNet of LDAM-DRW / GCL / MiSLAS (3 stages x 5 BasicBlocks, widths 16/32/64,
//    option-A shortcut, kaiming-normal fan-in init), head "linear" (Linear or NormedLinear).
//  * resnet10 / resnet50 / resnet152 / resnext50_32x4d: exactly torchvision (conv7x7 s2 + maxpool stem,
//    1x1-conv+BN downsample when the shape changes, kaiming-normal fan-out init), head "fc". resnet10
//    is the backbone of classifier-balancing (Kang et al. 2020) and Balanced Meta-Softmax on
//    ImageNet-LT: one BasicBlock per stage, widths 64/128/256/512, 512-d features. resnet50 /
//    resnet152 use Bottleneck blocks with the stride on the 3x3 conv, 2048-d features.
//    resnext50_32x4d (SSD-LT's backbone) is resnet50 with torchvision's ResNeXt Bottleneck: the 3x3
//    conv grouped 32 ways, inner width int(planes * 4 / 64) * 32 (128/256/512/1024 per stage).
// Parameter names match the PyTorch models, so checkpoints interchange.
#pragma once
#include "layers/basic.h"

namespace tailor {

class BasicBlock : public Module {
 public:
  // option_a: LDAM's parameter-free shortcut (subsample + zero-pad channels); otherwise a
  // torchvision-style conv1x1+BN "downsample" when the shape changes.
  BasicBlock(int64_t in, int64_t planes, int stride, bool option_a, Rng& rng);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2;
  std::shared_ptr<BatchNorm2d> bn1, bn2;
  std::shared_ptr<Sequential> downsample;
  bool shortcut_a = false;
  int stride;
  int64_t pad_channels = 0;
};

class Bottleneck : public Module {
 public:
  static constexpr int64_t expansion = 4;
  // torchvision: width = int(planes * base_width / 64) * groups channels inside, conv2 grouped
  Bottleneck(int64_t in, int64_t planes, int stride, Rng& rng, int groups = 1, int64_t base_width = 64);
  Tensor forward(const Tensor& x) override;
  std::shared_ptr<Conv2d> conv1, conv2, conv3;
  std::shared_ptr<BatchNorm2d> bn1, bn2, bn3;
  std::shared_ptr<Sequential> downsample;
};

enum class HeadKind { Linear, Normed, None };
HeadKind parse_head(const std::string& s);  // "linear", "normed", "none"

struct ResNetConfig {
  std::string arch = "resnet32";  // resnet10 | resnet32 | resnet50 | resnet152 | resnext50_32x4d
  int64_t num_classes = 10;
  int64_t in_channels = 3;
  HeadKind head = HeadKind::Linear;
};

// A classifier that reads the last feature map instead of its global average (CAMC, layers/camc.h):
// ResNet::forward hands it feature_map(x) with no targets (evaluation); a method that knows the labels
// calls forward_map itself.
class FeatureMapHead : public Module {
 public:
  virtual Tensor forward_map(const Tensor& map, const Tensor& targets) = 0;
};

class ResNet : public Module {
 public:
  // Every initial weight is drawn from `rng`, in the order of the PyTorch references' construction.
  ResNet(const ResNetConfig& cfg, Rng& rng);
  Tensor feature_map(const Tensor& x);  // [N,H,W,C] -> the last stage's map [N, h, w, feature_dim], float32
  Tensor features(const Tensor& x);     // global average pool of feature_map: [N, feature_dim], float32
  Tensor forward(const Tensor& x) override;
  int64_t feature_dim() const { return feat_dim_; }
  const std::string& head_name() const { return head_name_; }
  std::shared_ptr<Module> head() const { return head_; }
  // Replace the classifier (keeps the PyTorch name "linear"/"fc"); used by two-stage training.
  void set_head(std::shared_ptr<Module> h);
  const ResNetConfig& config() const { return cfg_; }

 private:
  Tensor trunk(const Tensor& x);  // the map in the activations' type (bfloat16 under precision bf16)
  ResNetConfig cfg_;
  bool cifar_;
  std::shared_ptr<Conv2d> conv1_;
  std::shared_ptr<BatchNorm2d> bn1_;
  std::vector<std::shared_ptr<Sequential>> stages_;
  std::shared_ptr<Module> head_;
  std::string head_name_;
  int64_t feat_dim_;
};

std::shared_ptr<ResNet> make_resnet(const std::string& arch, int64_t num_classes, int64_t in_channels, HeadKind head,
                                    Rng& rng);

}  // namespace tailor
