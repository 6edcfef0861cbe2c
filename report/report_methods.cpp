// Figures of the run report that belong to one training method: Breadcrumb's feature FIFOs. (BALMS's learned
// sampling rates are drawn in report_plots.cpp.)
#include <algorithm>
#include <cmath>

#include "report/report_data.h"

namespace tailor::report_detail {

namespace pc = plot::colors;

// Breadcrumb / EMANATE keeps per class c a FIFO of the last L_c epochs' features, L_c = ceil(n_b / n_c); its
// classifier trains on class-aware images until every FIFO is full and on EMANATE features after that. The
// figure: rows = classes (most training images on top), columns = the epochs of the stage that logged
// them, colour = stored epochs / L_c (1 = full); a dashed line where every FIFO is full (EMANATE starts).
void plot_fifo_fill(Writer& w, const std::vector<json>& rows, const Eval& e) {
  std::vector<const json*> lines;
  int stage = -1;
  for (auto& r : rows) {
    auto it = r.find("fifo_epochs");
    if (it == r.end() || !it->is_array() || (int)it->size() != e.C || e.C == 0) continue;
    if (stage < 0) stage = int_or(r, "stage", 1);
    if (int_or(r, "stage", 1) == stage) lines.push_back(&r);
  }
  if (lines.empty()) return;
  const int C = e.C, E = (int)lines.size();
  // L_c: logged since "fifo_lengths" exists; for older files the largest fill seen (exact once ready)
  std::vector<double> len(C, 0.0);
  for (const json* r : lines) {
    auto it = r->find("fifo_lengths");
    for (int c = 0; c < C; ++c) {
      double f = (*r)["fifo_epochs"][c].is_number() ? (*r)["fifo_epochs"][c].get<double>() : 0;
      if (it != r->end() && it->is_array() && (int)it->size() == C && (*it)[c].is_number())
        len[c] = (*it)[c].get<double>();
      else
        len[c] = std::max(len[c], f);
    }
  }
  std::vector<int> order = by_train_count(e);
  std::vector<float> v((size_t)C * E);
  int ready_col = -1;  // the first epoch whose g_c steps used EMANATE features
  for (int k = 0; k < E; ++k) {
    const json& r = *lines[k];
    for (int i = 0; i < C; ++i) {
      const int c = order[i];
      double f = r["fifo_epochs"][c].is_number() ? r["fifo_epochs"][c].get<double>() : 0;
      v[(size_t)i * E + k] = len[c] > 0 ? (float)std::min(1.0, f / len[c]) : 0.f;
    }
    if (ready_col < 0 && r.value("breadcrumb_ready", false)) ready_col = k;
  }
  plot::AxisSpec ax, ay = class_axis(e, order, C <= 20 ? "class (most training images on top)"
                                                        : "class (rank by training count)");
  ay.flip = true;
  ax.lo = int_or(*lines.front(), "epoch", 1) - 0.5, ax.hi = int_or(*lines.back(), "epoch", E) + 0.5;
  ax.integer = true, ax.grid = false, ax.label = "epoch of stage " + std::to_string(stage);
  const int bar_w = 150, h = C <= 20 ? 120 + 36 * C : 720;
  plot::Rect outer{0, 0, 1100, h};
  std::string title = "Breadcrumb feature FIFOs: stored epochs / FIFO length";
  plot::Canvas c(outer.w + bar_w, outer.h);
  plot::Axes a = plot::draw_axes(c, outer, ax, ay, title);
  plot::draw_heatmap(c, a.area, C, E, v);
  plot::draw_colorbar(c, {outer.right() + 10, a.area.y, 24, a.area.h}, 0, 1, "fraction of L_c stored");
  const double x_ready = ready_col < 0 ? kNaN : int_or(*lines[ready_col], "epoch", ready_col + 1) - 0.5;
  if (ready_col >= 0) plot::plot_vline(a, x_ready, pc::red, 6, "EMANATE from here");
  std::string lengths;
  if (C <= 20)
    for (int i = 0; i < C; ++i) lengths += (i ? ", " : "") + e.names[order[i]] + " " + fmt(len[order[i]], 0);
  w.save(c, "fifo_fill.png",
         "Breadcrumb: per class (most training images on top) and epoch, how many past epochs' features the "
         "class's FIFO held when that epoch's classifier steps ran, over its length L_c = ceil(n_b / n_c)" +
             (lengths.empty() ? std::string(".") : " (" + lengths + ").") +
             (ready_col < 0 ? " Not every FIFO was full by the last logged epoch: the class-balanced classifier "
                              "trained on class-aware images throughout."
                            : " From epoch " + fmt(x_ready + 0.5, 0) +
                                  " every FIFO is full and the classifier trains on EMANATE features (dashed line)."));
}

}  // namespace tailor::report_detail
