// ResNet structure (PyTorch names and parameter counts), an overfit smoke test and bit-identical
// reproducibility of two seeded CPU runs.
#include <doctest/doctest.h>

#include <cmath>
#include <map>

#include "layers/resnet.h"
#include "train/schedule.h"
#include "train/sgd.h"

using namespace tailor;

TEST_CASE("parameter names and counts equal the PyTorch models") {
  auto r32 = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  CHECK(r32->num_parameters() == 464154);  // LDAM-DRW resnet32(num_classes=10)
  auto sd = r32->state_dict();
  CHECK(sd.size() == 188);
  CHECK(sd.front().first == "conv1.weight");
  CHECK(sd[1].first == "bn1.weight");
  CHECK(sd[5].first == "bn1.num_batches_tracked");
  CHECK(sd.back().first == "linear.bias");
  auto r32n = make_resnet("resnet32", 100, 3, HeadKind::Normed, global_rng());
  CHECK(r32n->num_parameters() == 469904);
  CHECK(r32n->state_dict().back().first == "linear.weight");
  CHECK(r32n->state_dict().back().second.shape() == Shape{64, 100});  // NormedLinear is [in, out]
  auto r50 = make_resnet("resnet50", 1000, 3, HeadKind::Linear, global_rng());
  CHECK(r50->num_parameters() == 25557032);  // torchvision resnet50
  CHECK(r50->state_dict().size() == 320);
  bool has_downsample = false;
  for (auto& [n, t] : r50->state_dict()) has_downsample |= n == "layer2.0.downsample.1.running_var";
  CHECK(has_downsample);
  auto r152 = make_resnet("resnet152", 1000, 3, HeadKind::Linear, global_rng());
  CHECK(r152->num_parameters() == 60192808);  // torchvision resnet152
  // ResNet-10 (classifier-balancing / BALMS on ImageNet-LT): torchvision ResNet(BasicBlock, [1, 1, 1, 1])
  auto r10 = make_resnet("resnet10", 1000, 3, HeadKind::Linear, global_rng());
  CHECK(r10->num_parameters() == 5418792);  // benchmarks/pytorch/models.py resnet10(num_classes=1000)
  CHECK(r10->feature_dim() == 512);
  CHECK(r10->head_name() == "fc");
  auto sd10 = r10->state_dict();
  CHECK(sd10.size() == 74);
  CHECK(sd10[6].first == "layer1.0.conv1.weight");
  CHECK(sd10[7].first == "layer1.0.bn1.weight");
  CHECK(sd10.back().first == "fc.bias");
  bool r10_downsample = false, layer1_downsample = false;
  for (auto& [n, t] : sd10) {
    r10_downsample |= n == "layer2.0.downsample.0.weight" && t.shape() == Shape{128, 64, 1, 1};
    layer1_downsample |= n.rfind("layer1.0.downsample", 0) == 0;
  }
  CHECK(r10_downsample);
  CHECK_FALSE(layer1_downsample);  // layer1 keeps the 64 channels and the stride: identity shortcut
  CHECK(r10->forward(Tensor::zeros({2, 64, 64, 3})).shape() == Shape{2, 1000});
  auto r10n = make_resnet("resnet10", 100, 3, HeadKind::Normed, global_rng());
  CHECK(r10n->state_dict().back().first == "fc.weight");
  CHECK(r10n->state_dict().back().second.shape() == Shape{512, 100});
  // ResNeXt-50 32x4d (SSD-LT): ResNet-50's names, inner widths 128/256/512/1024 with the 3x3 conv in 32 groups
  auto rx = make_resnet("resnext50_32x4d", 1000, 3, HeadKind::Linear, global_rng());
  CHECK(rx->num_parameters() == 25028904);  // torchvision resnext50_32x4d (and models.py)
  CHECK(rx->feature_dim() == 2048);
  CHECK(rx->head_name() == "fc");
  auto sdx = rx->state_dict();
  CHECK(sdx.size() == 320);
  std::map<std::string, Shape> shapes;
  for (auto& [name, t] : sdx) shapes[name] = t.shape();
  CHECK(shapes.at("layer1.0.conv1.weight") == Shape{128, 64, 1, 1});
  CHECK(shapes.at("layer1.0.conv2.weight") == Shape{128, 4, 3, 3});
  CHECK(shapes.at("layer1.0.conv3.weight") == Shape{256, 128, 1, 1});
  CHECK(shapes.at("layer2.0.conv2.weight") == Shape{256, 8, 3, 3});
  CHECK(shapes.at("layer3.5.conv2.weight") == Shape{512, 16, 3, 3});
  CHECK(shapes.at("layer4.0.conv2.weight") == Shape{1024, 32, 3, 3});
  CHECK(shapes.at("layer4.2.bn2.running_var") == Shape{1024});
  CHECK(shapes.at("layer4.0.downsample.0.weight") == Shape{2048, 1024, 1, 1});
  CHECK(shapes.at("fc.weight") == Shape{1000, 2048});
  // torchvision's init: kaiming-normal fan-out, fan_out = K*R*S for the grouped conv too (std sqrt(2 / (512*9)))
  for (auto& [name, t] : sdx)
    if (name == "layer3.0.conv2.weight") {
      double ss = 0;
      for (float v : t.to_vector()) ss += (double)v * v;
      CHECK(std::sqrt(ss / t.numel()) == doctest::Approx(std::sqrt(2.0 / (512 * 9))).epsilon(0.02));
    }
  auto sd50 = r50->state_dict();
  for (size_t i = 0; i < sdx.size(); ++i) CHECK(sdx[i].first == sd50[i].first);  // ResNet-50's names, in order
  CHECK(rx->forward(Tensor::zeros({2, 64, 64, 3})).shape() == Shape{2, 1000});
  CHECK(rx->feature_map(Tensor::zeros({1, 64, 64, 3})).shape() == Shape{1, 2, 2, 2048});
  // any number of input channels and classes
  auto gray = make_resnet("resnet32", 7, 1, HeadKind::Linear, global_rng());
  CHECK(gray->forward(Tensor::zeros({2, 28, 28, 1})).shape() == Shape{2, 7});
  CHECK_THROWS_WITH(make_resnet("resnet18", 10, 3, HeadKind::Linear, global_rng()),
                    "unknown model 'resnet18' (expected resnet10, resnet32, resnet50, resnet152 or resnext50_32x4d)");
}

// Trains ResNet-32 on one fixed batch; returns the loss of every step.
static std::vector<float> overfit_run(uint64_t seed, int steps) {
  manual_seed(seed);
  auto net = make_resnet("resnet32", 10, 3, HeadKind::Linear, global_rng());
  SGD opt(net->parameters(), SgdOptions{0.05f, 0.9f, 0.f, 5e-4f, false});
  Rng rng(seed + 1);
  Tensor x = Tensor::empty({16, 16, 16, 3});
  normal_(x, 0.f, 1.f, rng);
  std::vector<int32_t> y(16);
  for (int i = 0; i < 16; ++i) y[i] = i % 10;
  Tensor labels = Tensor::from_vector_i32(y, {16});
  std::vector<float> losses;
  for (int s = 0; s < steps; ++s) {
    Tensor loss = softmax_cross_entropy(net->forward(x), labels);
    losses.push_back(loss.item());
    opt.zero_grad();
    loss.backward();
    opt.step();
  }
  return losses;
}

TEST_CASE("ResNet-32 overfits a small fixed batch") {
  auto losses = overfit_run(0, 40);
  INFO("first " << losses.front() << " last " << losses.back());
  CHECK(losses.front() > 1.5f);
  CHECK(losses.back() < 0.05f);
}

TEST_CASE("two runs with the same seed give bit-identical losses") {
  auto a = overfit_run(3, 6), b = overfit_run(3, 6), c = overfit_run(4, 6);
  CHECK(a == b);
  CHECK(a != c);
}

TEST_CASE("learning-rate schedules") {
  LrSchedule s;
  s.kind = ScheduleKind::MultiStep;
  s.base_lr = 0.1f;
  s.warmup_epochs = 5;
  s.milestones = {160, 180};
  s.factors = {0.01f, 0.0001f};
  s.total_epochs = 200;
  CHECK(s.lr_at(0) == doctest::Approx(0.02));  // LDAM-DRW: lr * (epoch + 1) / 5
  CHECK(s.lr_at(4) == doctest::Approx(0.1));
  CHECK(s.lr_at(159) == doctest::Approx(0.1));
  CHECK(s.lr_at(160) == doctest::Approx(0.001));
  CHECK(s.lr_at(199) == doctest::Approx(0.00001));
  s.factors.clear();
  s.gamma = 0.1f;
  CHECK(s.lr_at(170) == doctest::Approx(0.01));
  CHECK(s.lr_at(185) == doctest::Approx(0.001));
  LrSchedule c;
  c.kind = ScheduleKind::Cosine;
  c.base_lr = 0.2f;
  c.total_epochs = 10;
  CHECK(c.lr_at(0) == doctest::Approx(0.2));
  CHECK(c.lr_at(5) == doctest::Approx(0.1));
  c.per_step = true;
  CHECK(c.lr_at(2, 0.5) == doctest::Approx(0.1 * (1 + std::cos(M_PI * 0.25))));
  CHECK(parse_schedule_kind("cosine") == ScheduleKind::Cosine);
  // BALMS's CosineAnnealingLRWarmup: from 0.05 to 0.1 over 36 epochs, then cosine from 0.1
  LrSchedule w;
  w.kind = ScheduleKind::Cosine;
  w.base_lr = 0.1f;
  w.warmup_epochs = 36;
  w.warmup_from = 0.5f;
  w.total_epochs = 591;
  CHECK(w.lr_at(0) == doctest::Approx(0.05));
  CHECK(w.lr_at(35) == doctest::Approx(0.05 + 0.05 * 35 / 36));
  CHECK(w.lr_at(36) == doctest::Approx(0.1));
  CHECK(w.lr_at(590) == doctest::Approx(0.1 * (1 + std::cos(M_PI * 554 / 555)) / 2));
  // per_step: the class-balanced loss's TF warm-up, lr = base * current_epoch / 5 with current_epoch =
  // global_step * B / N, from 0 at the first step (here N = 97 * 128: 97 steps of 128 per epoch); the
  // multistep milestones stay at epoch boundaries
  LrSchedule p = s;
  p.factors = {0.01f, 0.0001f};
  p.per_step = true;
  for (int g : {0, 1, 50, 96, 97, 300, 484}) {
    const double tf_lr = 0.1 * (g * 128.0 / (97 * 128.0)) / 5;
    CHECK(p.lr_at(g / 97, (g % 97) / 97.0) == doctest::Approx(tf_lr).epsilon(1e-6));
  }
  CHECK(p.lr_at(0) == 0.f);
  CHECK(p.lr_at(5, 0.3) == doctest::Approx(0.1));
  CHECK(p.lr_at(160, 0.5) == doctest::Approx(0.001));
  p.warmup_from = 0.5f;  // from half the base lr, per step
  CHECK(p.lr_at(0) == doctest::Approx(0.05));
  CHECK(p.lr_at(1, 0.5) == doctest::Approx(0.1 * (0.5 + 0.5 * 1.5 / 5)));
  CHECK_THROWS_WITH(parse_schedule_kind("bogus"), "schedule.kind: expected multistep, cosine or constant, got 'bogus'");
}

TEST_CASE("SGD matches torch.optim.SGD on a hand-computed example") {
  Tensor w = Tensor::from_vector({1.f, -2.f}, {2});
  w.set_requires_grad();
  SGD opt({w}, SgdOptions{0.1f, 0.9f, 0.f, 0.01f, false});
  w.set_grad(Tensor::from_vector({0.5f, 0.5f}, {2}));
  opt.step();  // d = g + 0.01 w = [0.51, 0.48]; v = d; w -= 0.1 v
  CHECK(w.to_vector()[0] == doctest::Approx(1 - 0.051));
  CHECK(w.to_vector()[1] == doctest::Approx(-2 - 0.048));
  w.set_grad(Tensor::from_vector({0.5f, 0.5f}, {2}));
  opt.step();  // d2 = g + 0.01 w1; v = 0.9 v + d2
  double w1 = 1 - 0.051, d2 = 0.5 + 0.01 * w1, v = 0.9 * 0.51 + d2;
  CHECK(w.to_vector()[0] == doctest::Approx(w1 - 0.1 * v));
  // Nesterov: step = d + 0.9 v
  Tensor u = Tensor::from_vector({1.f}, {1});
  u.set_requires_grad();
  SGD nes({u}, SgdOptions{0.1f, 0.9f, 0.f, 0.f, true});
  u.set_grad(Tensor::from_vector({1.f}, {1}));
  nes.step();  // v = 1; step = 1 + 0.9
  CHECK(u.item() == doctest::Approx(1 - 0.19));
}
