// NCM — nearest class mean (Kang et al., ICLR 2020, §4.3; classifier-balancing models/KNNClassifier.py):
// post-hoc, no training.
//
//   c_k = mean of g(f(x_i)) over the training images of class k      (features with the eval transform)
//   predict argmax_k score(g(f(x)), c_k)
//   g: un (raw), l2n (x / ||x||) or cl2n ((x - mu) / ||x - mu||, mu the mean training feature; the reference's
//   default);  score: l2 (-||x - c||^2, the reference's default), cos (<x, c> / d, the reference's
//   cos_similarity) or cosine (a true cosine). layers/heads.h holds the classifier.
// The class means replace the model's head; the checkpoint stores them ("centroids", "feat_mean").
#include "layers/heads.h"
#include "train/method.h"
#include "train/run_model.h"

namespace tailor {

namespace {

class Ncm : public Method {
 public:
  Ncm(std::string feat_type, std::string dist_type) : feat_(std::move(feat_type)), dist_(std::move(dist_type)) {}
  void setup(StageSetup& s) override { key_ = s.cfg.key(); }

  void run_posthoc(PosthocContext& c) override {
    const data::Dataset& train = c.data.train;
    SplitFeatures f = extract_features(c.model, train, c.data.eval_tf, c.eval_batch_size, c.workers);
    auto ncm = std::make_shared<NCMClassifier>(c.model.feature_dim(), c.model.config().num_classes, feat_, dist_);
    ncm->fit(f.features, Tensor::from_vector_i32(f.labels, {(int64_t)f.labels.size()}));
    ncm->to(c.model.device());
    c.model.set_head(ncm);
    c.log << key_ << " (ncm): class means of " << f.labels.size() << " training features (" << feat_ << ", "
          << dist_ << ")\n";
  }

 private:
  std::string feat_, dist_, key_;
};

}  // namespace

MethodSpec ncm_method() {
  MethodSpec m;
  m.name = "ncm";
  m.leaves_head = "ncm";
  m.summary = "post-hoc nearest class mean of the training features (Kang et al. 2020)";
  m.trains = false;
  m.takes_loss = false;
  m.first_stage = false;
  m.keys = {{"ncm.feat_type", "string", "cl2n", 0, 0, {"un", "l2n", "cl2n"}, "ncm: feature transform"},
            {"ncm.dist_type", "string", "l2", 0, 0, {"l2", "cos", "cosine"}, "ncm: score of a class mean"}};
  m.make = [](const StageConfig& c) {
    const Json& n = c.doc.at("ncm");
    return std::make_unique<Ncm>(n.at("feat_type").get<std::string>(), n.at("dist_type").get<std::string>());
  };
  return m;
}

}  // namespace tailor
