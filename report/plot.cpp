#include "report/plot.h"

#include <stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>

#include "engine/atomic_file.h"

// In libstb but not declared by its header: the PNG encoder without the file write (whose errors stb's own
// stbi_write_png does not report), so that a full disk is an error here. The buffer is malloc'ed.
extern "C" unsigned char* stbi_write_png_to_mem(const unsigned char* pixels, int stride_bytes, int x, int y, int n,
                                                int* out_len);

namespace tailor::plot {

bool operator==(const Color& a, const Color& b) { return a.r == b.r && a.g == b.g && a.b == b.b; }

// ---------------------------------------------------------------------------------------------------
// Canvas

Canvas::Canvas(int width, int height, Color bg) : w(width), h(height), rgb((size_t)width * height * 3) {
  if (width <= 0 || height <= 0) throw std::invalid_argument("plot::Canvas: empty size");
  for (size_t i = 0; i < rgb.size(); i += 3) rgb[i] = bg.r, rgb[i + 1] = bg.g, rgb[i + 2] = bg.b;
  reset_clip();
}

Color Canvas::get(int x, int y) const {
  if (x < 0 || y < 0 || x >= w || y >= h) return {};
  const uint8_t* p = &rgb[((size_t)y * w + x) * 3];
  return {p[0], p[1], p[2]};
}

void Canvas::set(int x, int y, Color c) {
  if (x < clip.x || y < clip.y || x >= clip.right() || y >= clip.bottom() || x < 0 || y < 0 || x >= w || y >= h) return;
  uint8_t* p = &rgb[((size_t)y * w + x) * 3];
  p[0] = c.r, p[1] = c.g, p[2] = c.b;
}

void Canvas::blend(int x, int y, Color c, double alpha) {
  Color o = get(x, y);
  auto mix = [&](uint8_t a, uint8_t b) { return (uint8_t)std::lround(a + (b - a) * alpha); };
  set(x, y, {mix(o.r, c.r), mix(o.g, c.g), mix(o.b, c.b)});
}

void Canvas::fill(Rect r, Color c) {
  int x0 = std::max({r.x, clip.x, 0}), x1 = std::min({r.right(), clip.right(), w});
  int y0 = std::max({r.y, clip.y, 0}), y1 = std::min({r.bottom(), clip.bottom(), h});
  for (int y = y0; y < y1; ++y)
    for (int x = x0; x < x1; ++x) {
      uint8_t* p = &rgb[((size_t)y * w + x) * 3];
      p[0] = c.r, p[1] = c.g, p[2] = c.b;
    }
}

void Canvas::fill_blend(Rect r, Color c, double alpha) {
  for (int y = r.y; y < r.bottom(); ++y)
    for (int x = r.x; x < r.right(); ++x) blend(x, y, c, alpha);
}

void Canvas::frame(Rect r, Color c) {
  fill({r.x, r.y, r.w, 1}, c);
  fill({r.x, r.bottom() - 1, r.w, 1}, c);
  fill({r.x, r.y, 1, r.h}, c);
  fill({r.right() - 1, r.y, 1, r.h}, c);
}

void Canvas::line(int x0, int y0, int x1, int y1, Color c, int thickness, int dash) {
  int dx = std::abs(x1 - x0), dy = -std::abs(y1 - y0);
  int sx = x0 < x1 ? 1 : -1, sy = y0 < y1 ? 1 : -1, err = dx + dy;
  int lo = -(thickness - 1) / 2, hi = thickness / 2;
  for (long step = 0;; ++step) {
    if (dash <= 0 || (step / dash) % 2 == 0)
      for (int oy = lo; oy <= hi; ++oy)
        for (int ox = lo; ox <= hi; ++ox) set(x0 + ox, y0 + oy, c);
    if (x0 == x1 && y0 == y1) break;
    int e2 = 2 * err;
    if (e2 >= dy) err += dy, x0 += sx;
    if (e2 <= dx) err += dx, y0 += sy;
  }
}

void Canvas::disc(int cx, int cy, int radius, Color c) {
  for (int y = -radius; y <= radius; ++y)
    for (int x = -radius; x <= radius; ++x)
      if (x * x + y * y <= radius * radius + radius) set(cx + x, cy + y, c);
}

void Canvas::save_png(const std::string& path) const {
  // Plots are mostly flat colour: no row filter and stb's lowest zlib effort are ~3x faster than its
  // defaults (adaptive filter, level 8) for ~15 % more bytes. The knobs are stb globals: set and restored.
  int level = stbi_write_png_compression_level, filter = stbi_write_force_png_filter;
  stbi_write_png_compression_level = 5, stbi_write_force_png_filter = 0;
  int len = 0;
  unsigned char* png = stbi_write_png_to_mem(rgb.data(), w * 3, w, h, 3, &len);
  stbi_write_png_compression_level = level, stbi_write_force_png_filter = filter;
  if (!png) throw std::runtime_error("plot: cannot encode PNG " + path);
  try {
    write_file_atomic(path, png, (size_t)len);
  } catch (...) {
    std::free(png);
    throw;
  }
  std::free(png);
}

// ---------------------------------------------------------------------------------------------------
// Font: printable ASCII 32..126, 5 columns per glyph, bit r of a column byte = row r (0 = top).
// Capitals and digits use rows 0..6 (baseline row 6); g j p q y descend to row 7.

static const uint8_t kFont[95][5] = {
    {0x00, 0x00, 0x00, 0x00, 0x00}, {0x00, 0x00, 0x5F, 0x00, 0x00}, {0x00, 0x07, 0x00, 0x07, 0x00},  //  !"
    {0x14, 0x7F, 0x14, 0x7F, 0x14}, {0x24, 0x2A, 0x7F, 0x2A, 0x12}, {0x23, 0x13, 0x08, 0x64, 0x62},  // #$%
    {0x36, 0x49, 0x55, 0x22, 0x50}, {0x00, 0x05, 0x03, 0x00, 0x00}, {0x00, 0x1C, 0x22, 0x41, 0x00},  // &'(
    {0x00, 0x41, 0x22, 0x1C, 0x00}, {0x14, 0x08, 0x3E, 0x08, 0x14}, {0x08, 0x08, 0x3E, 0x08, 0x08},  // )*+
    {0x00, 0x80, 0x60, 0x00, 0x00}, {0x08, 0x08, 0x08, 0x08, 0x08}, {0x00, 0x60, 0x60, 0x00, 0x00},  // ,-.
    {0x20, 0x10, 0x08, 0x04, 0x02}, {0x3E, 0x51, 0x49, 0x45, 0x3E}, {0x00, 0x42, 0x7F, 0x40, 0x00},  // /01
    {0x42, 0x61, 0x51, 0x49, 0x46}, {0x21, 0x41, 0x45, 0x4B, 0x31}, {0x18, 0x14, 0x12, 0x7F, 0x10},  // 234
    {0x27, 0x45, 0x45, 0x45, 0x39}, {0x3C, 0x4A, 0x49, 0x49, 0x30}, {0x01, 0x71, 0x09, 0x05, 0x03},  // 567
    {0x36, 0x49, 0x49, 0x49, 0x36}, {0x06, 0x49, 0x49, 0x29, 0x1E}, {0x00, 0x36, 0x36, 0x00, 0x00},  // 89:
    {0x00, 0x56, 0x36, 0x00, 0x00}, {0x08, 0x14, 0x22, 0x41, 0x00}, {0x14, 0x14, 0x14, 0x14, 0x14},  // ;<=
    {0x00, 0x41, 0x22, 0x14, 0x08}, {0x02, 0x01, 0x51, 0x09, 0x06}, {0x32, 0x49, 0x79, 0x41, 0x3E},  // >?@
    {0x7E, 0x11, 0x11, 0x11, 0x7E}, {0x7F, 0x49, 0x49, 0x49, 0x36}, {0x3E, 0x41, 0x41, 0x41, 0x22},  // ABC
    {0x7F, 0x41, 0x41, 0x22, 0x1C}, {0x7F, 0x49, 0x49, 0x49, 0x41}, {0x7F, 0x09, 0x09, 0x09, 0x01},  // DEF
    {0x3E, 0x41, 0x49, 0x49, 0x7A}, {0x7F, 0x08, 0x08, 0x08, 0x7F}, {0x00, 0x41, 0x7F, 0x41, 0x00},  // GHI
    {0x20, 0x40, 0x41, 0x3F, 0x01}, {0x7F, 0x08, 0x14, 0x22, 0x41}, {0x7F, 0x40, 0x40, 0x40, 0x40},  // JKL
    {0x7F, 0x02, 0x0C, 0x02, 0x7F}, {0x7F, 0x04, 0x08, 0x10, 0x7F}, {0x3E, 0x41, 0x41, 0x41, 0x3E},  // MNO
    {0x7F, 0x09, 0x09, 0x09, 0x06}, {0x3E, 0x41, 0x51, 0x21, 0x5E}, {0x7F, 0x09, 0x19, 0x29, 0x46},  // PQR
    {0x46, 0x49, 0x49, 0x49, 0x31}, {0x01, 0x01, 0x7F, 0x01, 0x01}, {0x3F, 0x40, 0x40, 0x40, 0x3F},  // STU
    {0x1F, 0x20, 0x40, 0x20, 0x1F}, {0x3F, 0x40, 0x38, 0x40, 0x3F}, {0x63, 0x14, 0x08, 0x14, 0x63},  // VWX
    {0x07, 0x08, 0x70, 0x08, 0x07}, {0x61, 0x51, 0x49, 0x45, 0x43}, {0x00, 0x7F, 0x41, 0x41, 0x00},  // YZ[
    {0x02, 0x04, 0x08, 0x10, 0x20}, {0x00, 0x41, 0x41, 0x7F, 0x00}, {0x04, 0x02, 0x01, 0x02, 0x04},  // \]^
    {0x80, 0x80, 0x80, 0x80, 0x80}, {0x00, 0x01, 0x02, 0x04, 0x00}, {0x20, 0x54, 0x54, 0x54, 0x78},  // _`a
    {0x7F, 0x48, 0x44, 0x44, 0x38}, {0x38, 0x44, 0x44, 0x44, 0x20}, {0x38, 0x44, 0x44, 0x48, 0x7F},  // bcd
    {0x38, 0x54, 0x54, 0x54, 0x18}, {0x08, 0x7E, 0x09, 0x01, 0x02}, {0x18, 0xA4, 0xA4, 0xA4, 0x7C},  // efg
    {0x7F, 0x08, 0x04, 0x04, 0x78}, {0x00, 0x44, 0x7D, 0x40, 0x00}, {0x40, 0x80, 0x84, 0x7D, 0x00},  // hij
    {0x7F, 0x10, 0x28, 0x44, 0x00}, {0x00, 0x41, 0x7F, 0x40, 0x00}, {0x7C, 0x04, 0x18, 0x04, 0x78},  // klm
    {0x7C, 0x08, 0x04, 0x04, 0x78}, {0x38, 0x44, 0x44, 0x44, 0x38}, {0xFC, 0x24, 0x24, 0x24, 0x18},  // nop
    {0x18, 0x24, 0x24, 0x24, 0xFC}, {0x7C, 0x08, 0x04, 0x04, 0x08}, {0x48, 0x54, 0x54, 0x54, 0x24},  // qrs
    {0x04, 0x3F, 0x44, 0x40, 0x20}, {0x3C, 0x40, 0x40, 0x20, 0x7C}, {0x1C, 0x20, 0x40, 0x20, 0x1C},  // tuv
    {0x3C, 0x40, 0x30, 0x40, 0x3C}, {0x44, 0x28, 0x10, 0x28, 0x44}, {0x1C, 0xA0, 0xA0, 0xA0, 0x7C},  // wxy
    {0x44, 0x64, 0x54, 0x4C, 0x44}, {0x00, 0x08, 0x36, 0x41, 0x00}, {0x00, 0x00, 0x7F, 0x00, 0x00},  // z{|
    {0x00, 0x41, 0x36, 0x08, 0x00}, {0x08, 0x04, 0x08, 0x10, 0x08},                                  // }~
};

static const uint8_t* glyph(char ch) {
  unsigned char u = (unsigned char)ch;
  return kFont[(u < 32 || u > 126) ? '?' - 32 : u - 32];
}

int text_width(const std::string& s, int scale) { return s.empty() ? 0 : ((int)s.size() * 6 - 1) * scale; }
int text_height(int scale) { return 8 * scale; }

void draw_text(Canvas& c, int x, int y, const std::string& s, Color col, int scale, Align align, bool bold) {
  int wd = text_width(s, scale);
  if (align == Align::center) x -= wd / 2;
  if (align == Align::right) x -= wd;
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t* g = glyph(s[i]);
    int gx = x + (int)i * 6 * scale;
    for (int cx = 0; cx < 5; ++cx)
      for (int r = 0; r < 8; ++r)
        if (g[cx] >> r & 1) c.fill({gx + cx * scale, y + r * scale, scale + (bold ? 1 : 0), scale}, col);
  }
}

void draw_text_up(Canvas& c, int x, int y, const std::string& s, Color col, int scale, Align align) {
  int len = text_width(s, scale);
  if (align == Align::center) y += len / 2;
  if (align == Align::right) y += len;
  // Rotated CCW: a glyph column becomes a pixel row going up; glyph row r becomes column x + r.
  for (size_t i = 0; i < s.size(); ++i) {
    const uint8_t* g = glyph(s[i]);
    int gy = y - (int)i * 6 * scale;
    for (int cx = 0; cx < 5; ++cx)
      for (int r = 0; r < 8; ++r)
        if (g[cx] >> r & 1) c.fill({x + r * scale, gy - (cx + 1) * scale, scale, scale}, col);
  }
}

// ---------------------------------------------------------------------------------------------------
// Ticks

static double nice_step(double span, int max_ticks) {
  double raw = span / std::max(1, max_ticks - 1);
  double p = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * p >= raw * (1 - 1e-9)) return m * p;
  return 10 * p;
}

std::vector<double> linear_ticks(double lo, double hi, int max_ticks, bool integer) {
  std::vector<double> t;
  if (!(hi > lo) || !std::isfinite(lo) || !std::isfinite(hi)) return t;
  double step = nice_step(hi - lo, max_ticks);
  if (integer) step = std::max(1.0, std::round(step) == 2.5 ? 2.0 : std::ceil(step));
  double eps = step * 1e-9;
  for (double k = std::ceil((lo - eps) / step); k * step <= hi + eps; ++k)
    t.push_back(std::fabs(k * step) < eps ? 0 : k * step);
  return t;
}

std::vector<double> log_ticks(double lo, double hi) {
  std::vector<double> t;
  if (!(lo > 0) || !(hi >= lo)) return t;
  int e0 = (int)std::floor(std::log10(lo) + 1e-9), e1 = (int)std::floor(std::log10(hi) + 1e-9);
  bool fine = e1 - e0 < 2;
  for (int e = e0; e <= e1; ++e)
    for (double m : {1.0, 2.0, 5.0}) {
      if (m != 1.0 && !fine) continue;
      double v = m * std::pow(10.0, e);
      if (v >= lo * (1 - 1e-9) && v <= hi * (1 + 1e-9)) t.push_back(v);
    }
  return t;
}

std::string tick_label(double v, double step) {
  char buf[32];
  if (step < 1e-3 || step >= 1e6) {  // "2e-5", the same style for every tick of the axis
    if (v == 0) return "0";
    std::snprintf(buf, sizeof buf, "%.2e", v);  // "2.50e-05": trim the mantissa's zeros and the exponent's
    std::string s = buf;
    size_t e = s.find('e');
    std::string mant = s.substr(0, e);
    while (mant.back() == '0') mant.pop_back();
    if (mant.back() == '.') mant.pop_back();
    int ex = std::stoi(s.substr(e + 1));
    return mant + "e" + std::to_string(ex);
  }
  int dec = std::max(0, (int)std::ceil(-std::log10(step) - 1e-9));
  if (std::fabs(step * std::pow(10.0, dec) - std::round(step * std::pow(10.0, dec))) > 1e-6) ++dec;  // 2.5 steps
  std::snprintf(buf, sizeof buf, "%.*f", std::min(dec, 8), v);
  return buf;
}

void nice_range(double& lo, double& hi, int max_ticks) {
  if (!std::isfinite(lo) || !std::isfinite(hi)) lo = 0, hi = 1;
  if (hi - lo < 1e-12 * std::max(1.0, std::fabs(hi))) {
    double d = std::fabs(lo) > 0 ? std::fabs(lo) * 0.1 : 1.0;
    lo -= d, hi += d;
  }
  double step = nice_step(hi - lo, max_ticks);
  lo = std::floor(lo / step + 1e-9) * step;
  hi = std::ceil(hi / step - 1e-9) * step;
}

// ---------------------------------------------------------------------------------------------------
// Axes

static const int kFontScale = 2;  // tick labels, axis labels, legend
static const int kTitleScale = 2;

double Axes::px(double v) const {
  double lo = x.lo, hi = x.hi;
  if (x.flip) std::swap(lo, hi);
  if (x.log) v = std::log10(v), lo = std::log10(lo), hi = std::log10(hi);
  return area.x + (v - lo) / (hi - lo) * (area.w - 1);
}

double Axes::py(double v) const {
  double lo = y.lo, hi = y.hi;
  if (y.flip) std::swap(lo, hi);
  if (y.log) v = std::log10(v), lo = std::log10(lo), hi = std::log10(hi);
  return area.bottom() - 1 - (v - lo) / (hi - lo) * (area.h - 1);
}

static std::vector<double> ticks_of(AxisSpec& s, int max_ticks) {
  if (!s.categories.empty()) {
    s.lo = -0.5, s.hi = (double)s.categories.size() - 0.5;
    std::vector<double> t;
    for (size_t i = 0; i < s.categories.size(); ++i) t.push_back((double)i);
    return t;
  }
  if (s.log) return log_ticks(s.lo, s.hi);
  return linear_ticks(s.lo, s.hi, max_ticks, s.integer);
}

static std::vector<std::string> labels_of(const AxisSpec& s, const std::vector<double>& ticks) {
  std::vector<std::string> out;
  double step = ticks.size() >= 2 ? ticks[1] - ticks[0] : 1.0;
  for (size_t i = 0; i < ticks.size(); ++i) {
    if (!s.categories.empty())
      out.push_back(s.categories[i]);
    else if (s.log)
      out.push_back(tick_label(ticks[i], ticks[i]));
    else
      out.push_back(tick_label(ticks[i], step));
  }
  return out;
}

static int legend_width(const std::vector<LegendEntry>& legend) {
  int wd = 0;
  for (auto& e : legend) wd += 28 + text_width(e.label, kFontScale) + 20;
  return wd;
}

// Everything draw_axes needs: ticks, their labels and the layout.
struct AxesLayout {
  Axes a;
  std::vector<double> xtk, ytk;
  std::vector<std::string> xlab, ylab;
  bool rotate = false;
  int xlab_scale = kFontScale;
};

static AxesLayout layout_axes(Rect outer, const AxisSpec& xs, const AxisSpec& ys, const std::string& title,
                              bool has_legend) {
  AxesLayout L;
  Axes& a = L.a;
  a.x = xs, a.y = ys;
  const int th = text_height(kFontScale), pad = 8;
  L.ytk = ticks_of(a.y, std::max(3, outer.h / 60));
  L.ylab = labels_of(a.y, L.ytk);

  // Layout: title, legend row, plot area, x tick labels, x label; y label and y tick labels on the left.
  int top = outer.y + pad;
  if (!title.empty()) top += text_height(kTitleScale) + pad;
  if (has_legend) top += th + pad;
  int ylab_w = 0;
  for (auto& s : L.ylab) ylab_w = std::max(ylab_w, text_width(s, kFontScale));
  int left = outer.x + pad + (a.y.label.empty() ? 0 : th + pad) + ylab_w + 8;
  int right = outer.right() - pad - (a.x.categories.empty() ? text_width("0000", kFontScale) / 2 : 0);
  int plot_w = std::max(10, right - left);
  L.xtk = ticks_of(a.x, std::max(3, plot_w / (a.x.integer ? 60 : 90)));
  L.xlab = labels_of(a.x, L.xtk);
  // Category labels are rotated when they do not fit side by side.
  int xlab_w = 0, n = std::max<int>(1, (int)L.xlab.size());
  for (auto& s : L.xlab) xlab_w = std::max(xlab_w, text_width(s, kFontScale));
  L.rotate = !a.x.categories.empty() && xlab_w + 6 > plot_w / n;
  if (L.rotate && th + 2 > plot_w / n) L.xlab_scale = 1;
  int xlab_h = L.rotate ? std::min(xlab_w * L.xlab_scale / kFontScale, outer.h / 3) : th;
  int bottom = outer.bottom() - pad - (a.x.label.empty() ? 0 : th + pad) - xlab_h - 8;
  a.area = {left, top, plot_w, std::max(10, bottom - top)};
  return L;
}

Rect axes_area(Rect outer, const AxisSpec& x, const AxisSpec& y, const std::string& title, bool legend) {
  return layout_axes(outer, x, y, title, legend).a.area;
}

Axes draw_axes(Canvas& c, Rect outer, const AxisSpec& xs, const AxisSpec& ys, const std::string& title,
               const std::vector<LegendEntry>& legend) {
  AxesLayout L = layout_axes(outer, xs, ys, title, !legend.empty());
  Axes& a = L.a;
  a.c = &c;
  const int th = text_height(kFontScale), pad = 8;
  const auto &xtk = L.xtk, &ytk = L.ytk;
  const auto &xlab = L.xlab, &ylab = L.ylab;
  const bool rotate = L.rotate;
  const int xlab_scale = L.xlab_scale;

  // Title and legend, centred over the plotting area.
  int cx = a.area.x + a.area.w / 2, y = outer.y + pad;
  if (!title.empty()) {
    draw_text(c, cx, y, title, colors::black, kTitleScale, Align::center, true);
    y += text_height(kTitleScale) + pad;
  }
  if (!legend.empty()) {
    int lx = cx - legend_width(legend) / 2;
    for (auto& e : legend) {
      c.line(lx, y + th / 2, lx + 22, y + th / 2, e.color, 3, e.dashed ? 4 : 0);
      draw_text(c, lx + 28, y, e.label, colors::axis, kFontScale);
      lx += 28 + text_width(e.label, kFontScale) + 20;
    }
  }

  // Grid, frame, ticks and labels.
  Rect r = a.area;
  for (size_t i = 0; i < ytk.size(); ++i) {
    int py = (int)std::lround(a.py(ytk[i]));
    if (a.y.grid) c.fill({r.x, py, r.w, 1}, colors::grid);
    c.fill({r.x - 5, py, 5, 1}, colors::axis);
    draw_text(c, r.x - 8, py - th / 2, ylab[i], colors::axis, kFontScale, Align::right);
  }
  if (a.x.log) {  // minor ticks at 2..9 x 10^k
    for (int e = (int)std::floor(std::log10(a.x.lo)); e <= (int)std::ceil(std::log10(a.x.hi)); ++e)
      for (int m = 2; m <= 9; ++m) {
        double v = m * std::pow(10.0, e);
        if (v > a.x.lo && v < a.x.hi) c.fill({(int)std::lround(a.px(v)), r.bottom(), 1, 3}, colors::axis);
      }
  }
  for (size_t i = 0; i < xtk.size(); ++i) {
    int px = (int)std::lround(a.px(xtk[i]));
    if (a.x.grid) c.fill({px, r.y, 1, r.h}, colors::grid);
    c.fill({px, r.bottom(), 1, 5}, colors::axis);
    if (rotate)
      draw_text_up(c, px - text_height(xlab_scale) / 2, r.bottom() + 8, xlab[i], colors::axis, xlab_scale,
                   Align::right);
    else
      draw_text(c, px, r.bottom() + 8, xlab[i], colors::axis, kFontScale, Align::center);
  }
  c.frame({r.x - 1, r.y - 1, r.w + 2, r.h + 2}, colors::axis);
  if (!a.x.label.empty())
    draw_text(c, cx, outer.bottom() - pad - th, a.x.label, colors::black, kFontScale, Align::center);
  if (!a.y.label.empty())
    draw_text_up(c, outer.x + pad, r.y + r.h / 2, a.y.label, colors::black, kFontScale, Align::center);
  return a;
}

// Restricts drawing to the plotting area for the lifetime of the guard.
struct ClipGuard {
  Canvas& c;
  Rect saved;
  ClipGuard(const Axes& a) : c(*a.c), saved(a.c->clip) { c.clip = a.area; }
  ~ClipGuard() { c.clip = saved; }
};

static bool finite_point(const Axes& a, double x, double y) {
  return std::isfinite(x) && std::isfinite(y) && (!a.x.log || x > 0) && (!a.y.log || y > 0);
}

void plot_line(const Axes& a, const std::vector<double>& xs, const std::vector<double>& ys, Color col, int thickness,
               int marker_radius, int dash) {
  ClipGuard g(a);
  bool have = false;
  int lx = 0, ly = 0;
  for (size_t i = 0; i < std::min(xs.size(), ys.size()); ++i) {
    if (!finite_point(a, xs[i], ys[i])) continue;
    int x = (int)std::lround(a.px(xs[i])), y = (int)std::lround(a.py(ys[i]));
    if (have) a.c->line(lx, ly, x, y, col, thickness, dash);
    if (marker_radius > 0) a.c->disc(x, y, marker_radius, col);
    lx = x, ly = y, have = true;
  }
}

void plot_points(const Axes& a, const std::vector<double>& xs, const std::vector<double>& ys, Color col, int radius) {
  plot_points(a, xs, ys, std::vector<Color>(xs.size(), col), radius);
}

void plot_points(const Axes& a, const std::vector<double>& xs, const std::vector<double>& ys,
                 const std::vector<Color>& cols, int radius) {
  ClipGuard g(a);
  for (size_t i = 0; i < std::min({xs.size(), ys.size(), cols.size()}); ++i)
    if (finite_point(a, xs[i], ys[i]))
      a.c->disc((int)std::lround(a.px(xs[i])), (int)std::lround(a.py(ys[i])), radius, cols[i]);
}

void plot_bars(const Axes& a, const std::vector<double>& xs, const std::vector<double>& ys, double width,
               const std::vector<Color>& cols, double base, double alpha) {
  ClipGuard g(a);
  for (size_t i = 0; i < std::min({xs.size(), ys.size(), cols.size()}); ++i) {
    if (!finite_point(a, xs[i], ys[i])) continue;
    int x0 = (int)std::lround(a.px(xs[i] - width / 2)), x1 = (int)std::lround(a.px(xs[i] + width / 2));
    int y0 = (int)std::lround(a.py(ys[i])), y1 = (int)std::lround(a.py(base));
    if (y0 > y1) std::swap(y0, y1);
    Rect r{x0, y0, std::max(1, x1 - x0), y1 - y0 + 1};
    if (alpha >= 1)
      a.c->fill(r, cols[i]);
    else
      a.c->fill_blend(r, cols[i], alpha);
  }
}

void plot_vline(const Axes& a, double x, Color col, int dash, const std::string& label, int label_row) {
  if (!finite_point(a, x, a.y.lo < a.y.hi ? a.y.hi : 1)) return;
  int px = (int)std::lround(a.px(x));
  {
    ClipGuard g(a);
    a.c->line(px, a.area.y, px, a.area.bottom() - 1, col, 2, dash);
  }
  if (!label.empty()) {
    int wd = text_width(label, kFontScale);
    int tx = px + 6 + wd < a.area.right() ? px + 6 : px - 6 - wd;
    int ty = a.area.y + 6 + label_row * (text_height(kFontScale) + 6);
    a.c->fill({tx - 2, ty - 2, wd + 4, text_height(kFontScale) + 4}, colors::white);
    draw_text(*a.c, tx, ty, label, col, kFontScale);
  }
}

int label_width(const std::string& s) { return text_width(s, kFontScale); }

// ---------------------------------------------------------------------------------------------------
// Heatmap

Color viridis(double t) {
  static const double k[9][3] = {{68, 1, 84},    {71, 44, 122}, {59, 81, 139},  {44, 113, 142}, {33, 144, 141},
                                 {39, 173, 129}, {92, 200, 99}, {170, 220, 50}, {253, 231, 37}};
  if (!std::isfinite(t)) t = 0;
  t = std::clamp(t, 0.0, 1.0) * 8;
  int i = std::min(7, (int)t);
  double f = t - i;
  auto ch = [&](int j) { return (uint8_t)std::lround(k[i][j] + (k[i + 1][j] - k[i][j]) * f); };
  return {ch(0), ch(1), ch(2)};
}

void draw_heatmap(Canvas& c, Rect area, int rows, int cols, const std::vector<float>& values,
                  const std::vector<std::string>& cell_text, double gamma) {
  if (rows <= 0 || cols <= 0 || (int64_t)values.size() != (int64_t)rows * cols)
    throw std::invalid_argument("plot::draw_heatmap: values size != rows * cols");
  // Pixel column px covers cells [px*cols/w, (px+1)*cols/w) (at least one); same for rows.
  std::vector<int> c0(area.w), c1(area.w);
  for (int px = 0; px < area.w; ++px) {
    c0[px] = (int)((int64_t)px * cols / area.w);
    c1[px] = std::max(c0[px] + 1, (int)((int64_t)(px + 1) * cols / area.w));
  }
  for (int py = 0; py < area.h; ++py) {
    int r0 = (int)((int64_t)py * rows / area.h), r1 = std::max(r0 + 1, (int)((int64_t)(py + 1) * rows / area.h));
    for (int px = 0; px < area.w; ++px) {
      double s = 0;
      for (int r = r0; r < r1; ++r)
        for (int q = c0[px]; q < c1[px]; ++q) s += values[(size_t)r * cols + q];
      double v = s / ((r1 - r0) * (c1[px] - c0[px]));
      c.set(area.x + px, area.y + py, viridis(gamma == 1 ? v : std::pow(std::max(0.0, v), gamma)));
    }
  }
  if (cell_text.size() != values.size()) return;
  double cw = (double)area.w / cols, ch = (double)area.h / rows;
  for (int scale : {2, 1}) {
    int maxw = 0;
    for (auto& s : cell_text) maxw = std::max(maxw, text_width(s, scale));
    if (maxw + 4 > cw || text_height(scale) + 2 > ch) continue;
    for (int r = 0; r < rows; ++r)
      for (int q = 0; q < cols; ++q) {
        Color col = std::pow(std::max(0.f, values[(size_t)r * cols + q]), gamma) > 0.6 ? colors::black : colors::white;
        draw_text(c, area.x + (int)((q + 0.5) * cw), area.y + (int)((r + 0.5) * ch) - text_height(scale) / 2,
                  cell_text[(size_t)r * cols + q], col, scale, Align::center);
      }
    return;
  }
}

void draw_colorbar(Canvas& c, Rect bar, double lo, double hi, const std::string& label, double gamma) {
  for (int y = 0; y < bar.h; ++y) c.fill({bar.x, bar.bottom() - 1 - y, bar.w, 1}, viridis((double)y / (bar.h - 1)));
  c.frame({bar.x - 1, bar.y - 1, bar.w + 2, bar.h + 2}, colors::axis);
  std::vector<double> t = linear_ticks(lo, hi, 6);
  double step = t.size() >= 2 ? t[1] - t[0] : 1;
  for (double v : t) {
    int py = bar.bottom() - 1 - (int)std::lround(std::pow((v - lo) / (hi - lo), gamma) * (bar.h - 1));
    c.fill({bar.right(), py, 5, 1}, colors::axis);
    draw_text(c, bar.right() + 8, py - text_height(kFontScale) / 2, tick_label(v, step), colors::axis, kFontScale);
  }
  if (!label.empty())
    draw_text_up(c, bar.right() + 16 + text_width("0.00", kFontScale), bar.y + bar.h / 2, label, colors::black,
                 kFontScale, Align::center);
}

}  // namespace tailor::plot
