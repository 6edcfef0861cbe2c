// CAMC's class activation maps drawn over the test images they come from (report/cams.h).
//
// For an image x with last feature map phi (h x w locations u) and the normalised classifier weights w_j:
//   CAM_j(u) = cos(w_j, phi(u)),  c = argmax_j s cos(w_j, GAP(phi))   (the class the head attends to in evaluation)
//   a(u) = softmax_u(CAM_c(u) / T)                                     (the attention of the calibrated pooling)
// Each tile is the image as the network saw it (eval transform, de-normalised) with the attention's
// concentration overlaid: with r(u) = a(u) h w (1 = uniform) and R = max_u r(u), t(u) = clamp(log r(u) / log R, 0, 1)
// (bilinear up-sampling): 0 where a(u) is at or below uniform (the image shows plainly), 1 at the image's peak
// (yellow; red in between). R itself is printed under the tile (how peaked the attention is).
// Under it the final prediction argmax_j z_j of the calibrated pooling, green when right.
#include "report/cams.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <numeric>
#include <sstream>
#include <stdexcept>

#include "data/loader.h"
#include "engine/ops.h"
#include "layers/camc.h"
#include "report/html.h"
#include "report/plot.h"
#include "rundir/files.h"
#include "train/run_model.h"

namespace tailor {

namespace fs = std::filesystem;

namespace {

struct CamSample {
  int label = 0, attended = 0, predicted = 0;
  int height = 0, width = 0, channels = 0;
  std::vector<uint8_t> image;  // HWC, as the network saw it
  int map_h = 0, map_w = 0;
  std::vector<float> attention;  // [map_h * map_w], sums to 1
};

// The transform's normalisation undone: v * std + mean on the 0..1 scale (plain v / 255 without mean / std).
uint8_t to_byte(float v, const data::TransformConfig& tf, int ch) {
  double x = tf.mean.empty() ? v : v * tf.std[(size_t)ch] + tf.mean[(size_t)ch];
  return (uint8_t)std::lround(std::clamp(x, 0.0, 1.0) * 255);
}

// Runs the images through the model and keeps, per image, what the tile shows.
std::vector<CamSample> run_samples(ResNet& net, CamcHead& head, const data::Dataset& ds, const data::TransformConfig& tf,
                                   const CamPageOptions& opt) {
  std::vector<CamSample> out;
  const double T = head.temperature();
  for_each_eval_batch(net, ds, tf, opt.batch, opt.workers, [&](const data::Batch& b) {
    Tensor phi = net.feature_map(b.images);
    const int64_t N = phi.size(0), h = phi.size(1), w = phi.size(2), C = head.weight.size(1);
    const std::vector<float> cam = class_activation_maps(phi, head.weight).cpu().to_vector();  // [N, h, w, C]
    const std::vector<int32_t> att = argmax(head.forward(global_avg_pool(phi))).cpu().to_vector_i32();
    const std::vector<int32_t> pred = argmax(head.forward_map(phi, Tensor())).cpu().to_vector_i32();
    const std::vector<int32_t> y = b.labels.cpu().to_vector_i32();
    const std::vector<float> img = b.images.contiguous().cpu().to_vector();
    const int64_t H = b.images.size(1), W = b.images.size(2), Ch = b.images.size(3);
    for (int64_t n = 0; n < N; ++n) {
      CamSample s;
      s.label = y[n], s.attended = att[n], s.predicted = pred[n];
      s.height = (int)H, s.width = (int)W, s.channels = (int)Ch, s.map_h = (int)h, s.map_w = (int)w;
      for (int64_t i = 0; i < H * W * Ch; ++i) s.image.push_back(to_byte(img[n * H * W * Ch + i], tf, (int)(i % Ch)));
      double mx = -1e300, sum = 0;
      for (int64_t u = 0; u < h * w; ++u) mx = std::max(mx, (double)cam[(n * h * w + u) * C + s.attended] / T);
      for (int64_t u = 0; u < h * w; ++u) {
        double e = std::exp(cam[(n * h * w + u) * C + s.attended] / T - mx);
        s.attention.push_back((float)e), sum += e;
      }
      for (float& a : s.attention) a = (float)(a / sum);
      out.push_back(std::move(s));
    }
  });
  return out;
}

// a(u) at tile position (tx, ty) of an S x S tile: bilinear between the map's cell centres.
double attention_at(const CamSample& s, int tx, int ty, int S) {
  double fy = (ty + 0.5) * s.map_h / S - 0.5, fx = (tx + 0.5) * s.map_w / S - 0.5;
  fy = std::clamp(fy, 0.0, s.map_h - 1.0), fx = std::clamp(fx, 0.0, s.map_w - 1.0);
  const int y0 = (int)fy, x0 = (int)fx, y1 = std::min(y0 + 1, s.map_h - 1), x1 = std::min(x0 + 1, s.map_w - 1);
  const double dy = fy - y0, dx = fx - x0;
  auto a = [&](int y, int x) { return (double)s.attention[(size_t)y * s.map_w + x]; };
  return (1 - dy) * ((1 - dx) * a(y0, x0) + dx * a(y0, x1)) + dy * ((1 - dx) * a(y1, x0) + dx * a(y1, x1));
}

void draw_tile(plot::Canvas& c, int x0, int y0, int S, const CamSample& s) {
  const double uniform = 1.0 / ((double)s.map_h * s.map_w);
  const double log_peak = std::log(*std::max_element(s.attention.begin(), s.attention.end()) / uniform);
  for (int ty = 0; ty < S; ++ty)
    for (int tx = 0; tx < S; ++tx) {
      const int sy = ty * s.height / S, sx = tx * s.width / S;
      const uint8_t* p = &s.image[((size_t)sy * s.width + sx) * s.channels];
      plot::Color base = s.channels == 1 ? plot::Color{p[0], p[0], p[0]} : plot::Color{p[0], p[1], p[2]};
      c.set(x0 + tx, y0 + ty, base);
      const double r = std::log(std::max(attention_at(s, tx, ty, S), 1e-30) / uniform);
      const double t = log_peak > 1e-6 ? std::clamp(r / log_peak, 0.0, 1.0) : 0.0;
      if (t > 0) c.blend(x0 + tx, y0 + ty, plot::Color{255, (uint8_t)std::lround(255 * t), 0}, 0.75 * t);
    }
  c.frame({x0, y0, S, S}, plot::colors::gray);
}

}  // namespace

bool has_cam_head(const ResNet& net) { return (bool)std::dynamic_pointer_cast<CamcHead>(net.head()); }

std::string write_cam_page(const std::string& run_dir, ResNet& net, const data::Dataset& split,
                           const data::TransformConfig& eval_tf, const std::vector<int64_t>& train_counts,
                           const std::string& split_name, const CamPageOptions& opt, std::ostream* log) {
  auto head = std::dynamic_pointer_cast<CamcHead>(net.head());
  if (!head) throw std::runtime_error("the class-activation-map page needs a CAMC head (model.head camc)");
  const int C = split.num_classes;
  if ((int)train_counts.size() != C) throw std::runtime_error("write_cam_page: one training count per class needed");
  // classes: the k most frequent, then the k least frequent (each once)
  std::vector<int> order(C);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return train_counts[a] > train_counts[b]; });
  std::vector<int> classes;
  const int k = std::max(1, opt.classes_per_end);
  for (int i = 0; i < C; ++i)
    if (i < k || i >= C - k) classes.push_back(order[i]);
  // images: the first ones of each chosen class in the split's order
  std::vector<int64_t> idx;
  std::vector<int> row_of;  // per chosen image, its row
  for (size_t r = 0; r < classes.size(); ++r) {
    int taken = 0;
    for (int64_t i = 0; i < split.size() && taken < opt.images_per_class; ++i)
      if (split.labels[(size_t)i] == classes[r]) idx.push_back(i), row_of.push_back((int)r), ++taken;
  }
  if (idx.empty()) throw std::runtime_error("write_cam_page: the " + split_name + " split has no image of the chosen classes");
  const std::vector<CamSample> samples = run_samples(net, *head, data::subset(split, idx), eval_tf, opt);

  // the figure: a row per class (label column, then its tiles with the prediction under each)
  const int in_side = std::max(samples[0].height, samples[0].width);
  const int S = in_side <= 64 ? 3 * in_side : 128, gap = 10, label_w = 230, text_h = 30, top = 64;
  const int rows = (int)classes.size(), cols = opt.images_per_class;
  plot::Canvas c(label_w + cols * (S + gap) + gap, top + rows * (S + text_h + gap) + gap);
  char title[160];
  std::snprintf(title, sizeof title, "CAMC attention a(u), T %g, lambda %g, s %g", head->temperature(), head->lambda(),
                head->s());
  plot::draw_text(c, 10, 8, title, plot::colors::black, 2);
  plot::draw_text(c, 10, 28, "yellow: the image's attention peak; red: between; plain: uniform or less (each image on",
                  plot::colors::axis);
  plot::draw_text(c, 10, 40, "its own scale). Under each image: the prediction and the peak over uniform.",
                  plot::colors::axis);
  // a label no wider than its tile (a long class name would run into the next one)
  auto fit = [&](std::string text) {
    if (plot::text_width(text) <= S) return text;
    while (!text.empty() && plot::text_width(text + "..") > S) text.pop_back();
    return text + "..";
  };
  std::vector<int> col_in_row(rows, 0);
  int attended_right = 0, predicted_right = 0;
  for (size_t i = 0; i < samples.size(); ++i) {
    const CamSample& s = samples[i];
    const int r = row_of[i], x = label_w + gap + col_in_row[r]++ * (S + gap), y = top + r * (S + text_h + gap);
    draw_tile(c, x, y, S, s);
    const bool ok = s.predicted == s.label;
    attended_right += s.attended == s.label, predicted_right += ok;
    char peak[48];
    std::snprintf(peak, sizeof peak, " %.2fx", *std::max_element(s.attention.begin(), s.attention.end()) * s.map_h * s.map_w);
    plot::draw_text(c, x, y + S + 6, fit("pred " + split.class_names[(size_t)s.predicted]),
                    ok ? plot::colors::green : plot::colors::red);
    plot::draw_text(c, x, y + S + 16, peak, plot::colors::axis);
  }
  for (int r = 0; r < rows; ++r) {
    const int cls = classes[(size_t)r], y = top + r * (S + text_h + gap);
    const bool head_row = r < k && r < C - k;
    plot::draw_text(c, 10, y + S / 2 - 16, split.class_names[(size_t)cls], plot::colors::black, 2, plot::Align::left, true);
    plot::draw_text(c, 10, y + S / 2 + 6, std::to_string(train_counts[(size_t)cls]) + " training images",
                    plot::colors::axis);
    plot::draw_text(c, 10, y + S / 2 + 20, head_row ? "(most frequent)" : "(least frequent)",
                    head_row ? plot::colors::blue : plot::colors::red);
  }
  fs::create_directories(fs::path(run_dir) / "plots");
  const std::string png = (fs::path(run_dir) / "plots" / "cams.png").string();
  c.save_png(png);  // (atomic)

  std::ostringstream h;
  h << "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Class activation maps</title>\n"
       "<style>body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1240px;padding:0 16px;color:#222}"
       "img{max-width:100%;border:1px solid #eee}code{background:#f4f4f4;padding:1px 4px}</style>\n</head>\n<body>\n"
    << "<h1>Class activation maps (CAMC head)</h1>\n"
    << "<p>The " << html_escape(split_name) << " images of the " << std::min(k, C) << " most and the "
    << std::min(k, std::max(0, C - k)) << " least frequent classes (the first " << opt.images_per_class << " of each in the split's order), as the "
    << "network saw them, with the spatial attention of CAMC's calibrated pooling overlaid: transparent where "
       "a(u) is at or below the uniform 1 / (h w), red to yellow as it grows to the image's peak (log scale); "
       "under each image the peak as a multiple of uniform. Each image has its own colour scale, so a flat map "
       "(a peak of 1.2x) looks as bright as a sharp one (2x): the number tells them apart.</p>\n"
    << "<p><code>a(u) = softmax_u(CAM_c(u) / T)</code>, <code>CAM_c(u) = cos(w_c, &phi;(u))</code>, where c is the "
       "class the plain normalised classifier predicts from the average-pooled feature (the class evaluation "
       "attends to); the pooled feature is <code>GAP(&phi;) + &lambda; &Sigma;_u a(u) &phi;(u)</code> and the "
       "logits <code>s cos(f, w)</code> with s "
    << head->s() << ", T " << head->temperature() << ", &lambda; " << head->lambda() << ".</p>\n"
    << "<p>Of the " << samples.size() << " images shown, the attention follows the true class for " << attended_right
    << " and the final prediction (under each tile, green when right) is right for " << predicted_right << ".</p>\n"
    << "<p>CAMC has no public code: this head is tailor's reconstruction from the paper's text "
       "(layers/camc.h).</p>\n"
    << "<img src=\"plots/cams.png\" alt=\"class activation maps\">\n<p><a href=\"report.html\">run report</a></p>\n"
    << "</body>\n</html>\n";
  const std::string page = (fs::path(run_dir) / "cams.html").string();
  write_text_atomic(page, h.str());
  if (log) *log << "report: wrote " << page << " and " << png << "\n";
  return page;
}

}  // namespace tailor
