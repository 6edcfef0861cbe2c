#include "layers/resnet.h"

namespace tailor {

BasicBlock::BasicBlock(int64_t in, int64_t planes, int stride_, bool option_a, Rng& rng) : stride(stride_) {
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in, planes, 3, stride, 1, rng));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(planes));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(planes, planes, 3, 1, 1, rng));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(planes));
  if (stride != 1 || in != planes) {
    if (option_a) {
      // LDAM: F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))
      shortcut_a = true;
      pad_channels = planes / 4;
      TAILOR_CHECK(in + 2 * pad_channels == planes, "BasicBlock option A needs planes == 2 * in, got ", in, " -> ",
                   planes);
    } else {
      downsample = register_module("downsample", std::make_shared<Sequential>());
      downsample->add(std::make_shared<Conv2d>(in, planes, 1, stride, 0, rng));
      downsample->add(std::make_shared<BatchNorm2d>(planes));
    }
  }
}

Tensor BasicBlock::forward(const Tensor& x) {
  Tensor h = bn1->forward_relu(conv1->forward(x));
  h = bn2->forward(conv2->forward(h));
  Tensor sc = x;
  if (shortcut_a) sc = shortcut_pad(x, stride, (int)pad_channels, (int)pad_channels);
  if (downsample) sc = downsample->forward(x);
  return add_relu(h, sc);
}

Bottleneck::Bottleneck(int64_t in, int64_t planes, int stride, Rng& rng, int groups, int64_t base_width) {
  const int64_t width = planes * base_width / 64 * groups;  // torchvision: int(planes * (base_width / 64.)) * groups
  conv1 = register_module("conv1", std::make_shared<Conv2d>(in, width, 1, 1, 0, rng));
  bn1 = register_module("bn1", std::make_shared<BatchNorm2d>(width));
  conv2 = register_module("conv2", std::make_shared<Conv2d>(width, width, 3, stride, 1, rng, groups));
  bn2 = register_module("bn2", std::make_shared<BatchNorm2d>(width));
  conv3 = register_module("conv3", std::make_shared<Conv2d>(width, planes * expansion, 1, 1, 0, rng));
  bn3 = register_module("bn3", std::make_shared<BatchNorm2d>(planes * expansion));
  if (stride != 1 || in != planes * expansion) {
    downsample = register_module("downsample", std::make_shared<Sequential>());
    downsample->add(std::make_shared<Conv2d>(in, planes * expansion, 1, stride, 0, rng));
    downsample->add(std::make_shared<BatchNorm2d>(planes * expansion));
  }
}

Tensor Bottleneck::forward(const Tensor& x) {
  Tensor h = bn1->forward_relu(conv1->forward(x));
  h = bn2->forward_relu(conv2->forward(h));
  h = bn3->forward(conv3->forward(h));
  return add_relu(h, downsample ? downsample->forward(x) : x);
}

HeadKind parse_head(const std::string& s) {
  if (s == "linear") return HeadKind::Linear;
  if (s == "normed" || s == "cosine") return HeadKind::Normed;
  if (s == "none") return HeadKind::None;
  fail("unknown head '" + s + "' (expected linear, normed or none)");
}

ResNet::ResNet(const ResNetConfig& cfg, Rng& rng) : cfg_(cfg) {
  std::vector<int> blocks;
  bool bottleneck = true;
  int groups = 1;           // of the Bottleneck 3x3 conv (ResNeXt cardinality)
  int64_t base_width = 64;  // torchvision width_per_group
  if (cfg.arch == "resnet32") {
    cifar_ = true;
  } else if (cfg.arch == "resnet10") {
    cifar_ = false, bottleneck = false, blocks = {1, 1, 1, 1};
  } else if (cfg.arch == "resnet50") {
    cifar_ = false, blocks = {3, 4, 6, 3};
  } else if (cfg.arch == "resnet152") {
    cifar_ = false, blocks = {3, 8, 36, 3};
  } else if (cfg.arch == "resnext50_32x4d") {
    cifar_ = false, blocks = {3, 4, 6, 3}, groups = 32, base_width = 4;
  } else {
    fail("unknown model '" + cfg.arch + "' (expected resnet10, resnet32, resnet50, resnet152 or resnext50_32x4d)");
  }
  TAILOR_CHECK(cfg.in_channels >= 1 && cfg.num_classes >= 1, "ResNet: in_channels and num_classes must be >= 1");
  if (cifar_) {
    conv1_ = register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, 16, 3, 1, 1, rng));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(16));
    int64_t in = 16;
    const int64_t widths[3] = {16, 32, 64};
    for (int s = 0; s < 3; ++s) {
      auto stage = register_module("layer" + std::to_string(s + 1), std::make_shared<Sequential>());
      for (int b = 0; b < 5; ++b) {
        stage->add(std::make_shared<BasicBlock>(in, widths[s], (b == 0 && s > 0) ? 2 : 1, true, rng));
        in = widths[s];
      }
      stages_.push_back(stage);
    }
    feat_dim_ = 64;
    head_name_ = "linear";
  } else {
    conv1_ = register_module("conv1", std::make_shared<Conv2d>(cfg.in_channels, 64, 7, 2, 3, rng));
    bn1_ = register_module("bn1", std::make_shared<BatchNorm2d>(64));
    int64_t in = 64;
    const int64_t widths[4] = {64, 128, 256, 512};
    const int64_t expansion = bottleneck ? Bottleneck::expansion : 1;  // torchvision BasicBlock: 1
    for (int s = 0; s < 4; ++s) {
      auto stage = register_module("layer" + std::to_string(s + 1), std::make_shared<Sequential>());
      for (int b = 0; b < blocks[s]; ++b) {
        const int stride = (b == 0 && s > 0) ? 2 : 1;
        if (bottleneck)
          stage->add(std::make_shared<Bottleneck>(in, widths[s], stride, rng, groups, base_width));
        else
          stage->add(std::make_shared<BasicBlock>(in, widths[s], stride, false, rng));
        in = widths[s] * expansion;
      }
      stages_.push_back(stage);
    }
    feat_dim_ = 512 * expansion;
    head_name_ = "fc";
  }
  if (cfg.head == HeadKind::Linear) {
    head_ = register_module(head_name_, std::make_shared<Linear>(feat_dim_, cfg.num_classes, true, rng));
  } else if (cfg.head == HeadKind::Normed) {
    head_ = register_module(head_name_, std::make_shared<NormedLinear>(feat_dim_, cfg.num_classes, rng));
  }
  // Initialisation as the references do it.
  for (auto& [name, t] : named_parameters()) {
    Tensor w = t;
    bool is_conv = t.dim() == 4;
    bool is_linear_w = t.dim() == 2 && cfg.head == HeadKind::Linear && name == head_name_ + ".weight";
    if (cifar_ && (is_conv || is_linear_w)) kaiming_normal_fan_in(w, rng);  // LDAM _weights_init
    if (!cifar_ && is_conv) kaiming_normal_fan_out(w, rng);                // torchvision
  }
}

void ResNet::set_head(std::shared_ptr<Module> h) {
  // replace the registered child of the same name
  head_ = h;
  replace_child(head_name_, h);
}

Tensor ResNet::feature_map(const Tensor& x) { return to_dtype(trunk(x), DType::F32); }

Tensor ResNet::trunk(const Tensor& x) {
  TAILOR_CHECK(x.dim() == 4 && x.shape()[3] == cfg_.in_channels, cfg_.arch, ": input must be NHWC [N, H, W, ",
               cfg_.in_channels, "], got ", x.shape());
  Tensor h = bn1_->forward_relu(conv1_->forward(x));
  if (!cifar_) h = max_pool2d(h, 3, 2, 1);
  for (auto& s : stages_) h = s->forward(h);
  return h;
}

Tensor ResNet::features(const Tensor& x) { return global_avg_pool(trunk(x)); }

Tensor ResNet::forward(const Tensor& x) {
  if (auto* mh = dynamic_cast<FeatureMapHead*>(head_.get())) return mh->forward_map(feature_map(x), Tensor());
  Tensor f = features(x);
  return head_ ? head_->forward(f) : f;
}

std::shared_ptr<ResNet> make_resnet(const std::string& arch, int64_t num_classes, int64_t in_channels,
                                    HeadKind head, Rng& rng) {
  ResNetConfig cfg;
  cfg.arch = arch;
  cfg.num_classes = num_classes;
  cfg.in_channels = in_channels;
  cfg.head = head;
  return std::make_shared<ResNet>(cfg, rng);
}

}  // namespace tailor
