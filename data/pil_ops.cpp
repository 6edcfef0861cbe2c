#include "data/pil_ops.h"

// Pillow's float arithmetic is compiled without fused multiply-add; contracting d + a * (x - d) into an FMA
// changes the rounding of some pixels, so keep every multiply and add separate in this file.
#pragma GCC optimize("fp-contract=off")

#include <algorithm>
#include <cmath>
#include <cstring>
#include <vector>

namespace tailor::data {

// ---------------------------------------------------------------- resize (Pillow Resample.c, BILINEAR)
namespace {
constexpr int kPrecisionBits = 32 - 8 - 2;

struct Coeffs {
  int ksize = 0;
  std::vector<int> bounds;  // (xmin, count) per output pixel
  std::vector<int32_t> k;   // fixed-point weights, ksize per output pixel
};

Coeffs precompute(int in_size, int out_size) {
  Coeffs c;
  double scale = (double)in_size / out_size, filterscale = scale < 1.0 ? 1.0 : scale;
  double support = 1.0 * filterscale;
  c.ksize = (int)std::ceil(support) * 2 + 1;
  c.bounds.resize((size_t)out_size * 2);
  c.k.assign((size_t)out_size * c.ksize, 0);
  std::vector<double> w((size_t)c.ksize);
  for (int xx = 0; xx < out_size; ++xx) {
    double center = (xx + 0.5) * scale, ss = 1.0 / filterscale, ww = 0.0;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; ++x) {
      double t = std::fabs((x + xmin - center + 0.5) * ss);
      w[(size_t)x] = t < 1.0 ? 1.0 - t : 0.0;
      ww += w[(size_t)x];
    }
    for (int x = 0; x < xmax; ++x) {
      double v = ww != 0.0 ? w[(size_t)x] / ww : w[(size_t)x];
      c.k[(size_t)xx * c.ksize + x] = v < 0 ? (int32_t)(-0.5 + v * (1 << kPrecisionBits))
                                            : (int32_t)(0.5 + v * (1 << kPrecisionBits));
    }
    c.bounds[(size_t)xx * 2] = xmin;
    c.bounds[(size_t)xx * 2 + 1] = xmax;
  }
  return c;
}

inline uint8_t clip8(int32_t v) {
  v >>= kPrecisionBits;
  return (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
}
}  // namespace

// One row of the horizontal pass with a fixed tap count (unrolled for the common small K, RGB).
template <int K>
static void horizontal_row_rgb(const uint8_t* __restrict in, uint8_t* __restrict o, int out_w, const int* __restrict start,
                               const int32_t* __restrict wk) {
  for (int xx = 0; xx < out_w; ++xx) {
    const uint8_t* __restrict p = in + (size_t)start[xx] * 3;
    const int32_t* __restrict k = wk + (size_t)xx * K;
    int32_t s0 = 1 << (kPrecisionBits - 1), s1 = s0, s2 = s0;
    for (int x = 0; x < K; ++x) {
      s0 += p[x * 3] * k[x];
      s1 += p[x * 3 + 1] * k[x];
      s2 += p[x * 3 + 2] * k[x];
    }
    o[xx * 3] = clip8(s0);
    o[xx * 3 + 1] = clip8(s1);
    o[xx * 3 + 2] = clip8(s2);
  }
}

static void horizontal_row(const uint8_t* in, uint8_t* o, int out_w, int c, int K, const int* start, const int32_t* wk) {
  if (c == 3) {
    switch (K) {
      case 3: return horizontal_row_rgb<3>(in, o, out_w, start, wk);
      case 5: return horizontal_row_rgb<5>(in, o, out_w, start, wk);
      case 7: return horizontal_row_rgb<7>(in, o, out_w, start, wk);
      case 9: return horizontal_row_rgb<9>(in, o, out_w, start, wk);
      default: break;
    }
  }
  for (int xx = 0; xx < out_w; ++xx) {
    const uint8_t* p = in + (size_t)start[xx] * c;
    const int32_t* k = wk + (size_t)xx * K;
    for (int b = 0; b < c; ++b) {
      int32_t s = 1 << (kPrecisionBits - 1);
      for (int x = 0; x < K; ++x) s += p[x * c + b] * k[x];
      o[xx * c + b] = clip8(s);
    }
  }
}

void resize_bilinear_window(const uint8_t* src, int h, int w, int c, size_t row_stride, int out_h, int out_w, int wy,
                            int wx, int wh, int ww, uint8_t* out) {
  const bool need_h = out_w != w, need_v = out_h != h;
  const size_t orow = (size_t)ww * c;
  if (!need_h && !need_v) {
    for (int y = 0; y < wh; ++y) std::memcpy(out + (size_t)y * orow, src + (size_t)(wy + y) * row_stride + (size_t)wx * c, orow);
    return;
  }
  Coeffs cv;
  if (need_v) cv = precompute(h, out_h);
  std::vector<uint8_t> tmp;
  const uint8_t* vsrc = src + (size_t)wx * c;  // vertical-pass input (the source columns when no horizontal pass)
  size_t vstride = row_stride;
  int ybase = 0;  // source row of vsrc's first row
  if (need_h) {
    Coeffs ch = precompute(w, out_w);
    // source rows the window needs: those read by its output rows, or the window rows themselves
    int yfirst = wy, ylast = wy + wh;
    if (need_v) {
      yfirst = cv.bounds[(size_t)wy * 2];
      ylast = cv.bounds[(size_t)(wy + wh - 1) * 2] + cv.bounds[(size_t)(wy + wh - 1) * 2 + 1];
    }
    const int rows = ylast - yfirst;
    uint8_t* dst = need_v ? (tmp.resize((size_t)rows * orow), tmp.data()) : out;
    // Every output pixel reads a fixed window of K = min(ksize, w) input pixels, shifted left where it
    // would pass the right edge, with zero weights outside Pillow's taps (integer sums: same result).
    const int K = std::min(ch.ksize, w);
    std::vector<int> start((size_t)ww);
    std::vector<int32_t> wk((size_t)ww * K, 0);
    for (int j = 0; j < ww; ++j) {
      const int xx = wx + j;
      const int xmin = ch.bounds[(size_t)xx * 2], xn = ch.bounds[(size_t)xx * 2 + 1];
      const int xs = std::min(xmin, w - K);
      start[(size_t)j] = xs;
      for (int x = 0; x < xn; ++x) wk[(size_t)j * K + (xmin - xs) + x] = ch.k[(size_t)xx * ch.ksize + x];
    }
    for (int y = 0; y < rows; ++y)
      horizontal_row(src + (size_t)(y + yfirst) * row_stride, dst + (size_t)y * orow, ww, c, K, start.data(), wk.data());
    if (!need_v) return;
    vsrc = tmp.data();
    vstride = orow;
    ybase = yfirst;
  }
  std::vector<int32_t> acc_buf(orow);
  int32_t* __restrict acc = acc_buf.data();
  for (int j = 0; j < wh; ++j) {
    const int yy = wy + j;
    const int ymin = cv.bounds[(size_t)yy * 2] - ybase, yn = cv.bounds[(size_t)yy * 2 + 1];
    const int32_t* k = &cv.k[(size_t)yy * cv.ksize];
    for (size_t xb = 0; xb < orow; ++xb) acc[xb] = 1 << (kPrecisionBits - 1);
    for (int y = 0; y < yn; ++y) {
      const uint8_t* __restrict p = vsrc + (size_t)(ymin + y) * vstride;
      const int32_t ky = k[y];
      for (size_t xb = 0; xb < orow; ++xb) acc[xb] += p[xb] * ky;
    }
    uint8_t* __restrict o = out + (size_t)j * orow;
    for (size_t xb = 0; xb < orow; ++xb) {
      int32_t v = acc[xb] >> kPrecisionBits;
      o[xb] = (uint8_t)(v < 0 ? 0 : (v > 255 ? 255 : v));
    }
  }
}

void resize_bilinear(const uint8_t* src, int h, int w, int c, size_t row_stride, int out_h, int out_w, uint8_t* out) {
  resize_bilinear_window(src, h, w, c, row_stride, out_h, out_w, 0, 0, out_h, out_w, out);
}

// ---------------------------------------------------------------- blends (Pillow Blend.c, ImageEnhance)
void pil_blend(const uint8_t* __restrict d, uint8_t* __restrict x, size_t n, float alpha) {
  if (alpha >= 0.f && alpha <= 1.f) {
    for (size_t i = 0; i < n; ++i) x[i] = (uint8_t)(int)((float)(int)d[i] + alpha * (float)((int)x[i] - (int)d[i]));
  } else {
    for (size_t i = 0; i < n; ++i) {
      float t = (float)(int)d[i] + alpha * (float)((int)x[i] - (int)d[i]);
      t = t < 0.f ? 0.f : (t > 255.f ? 255.f : t);
      x[i] = (uint8_t)(int)t;
    }
  }
}

static inline uint8_t luma(const uint8_t* p) {
  return (uint8_t)((p[0] * 19595u + p[1] * 38470u + p[2] * 7471u + 0x8000u) >> 16);
}

// blend(d, x, alpha) for one value, with Pillow's float arithmetic and truncation.
static inline uint8_t blend1(int d, int x, float alpha, bool inside) {
  float t = (float)d + alpha * (float)(x - d);
  if (inside) return (uint8_t)t;
  return t <= 0.f ? 0 : (t >= 255.f ? 255 : (uint8_t)t);
}

// A constant degenerate image: the blend is a function of the pixel value alone (a 256-entry table).
static void blend_constant(ImageU8& im, int d, double f) {
  const float alpha = (float)f;
  const bool inside = alpha >= 0.f && alpha <= 1.f;
  uint8_t lut[256];
  for (int v = 0; v < 256; ++v) lut[v] = blend1(d, v, alpha, inside);
  for (auto& v : im.data) v = lut[v];
}

void adjust_brightness(ImageU8& im, double f) { blend_constant(im, 0, f); }

void adjust_contrast(ImageU8& im, double f) {
  const size_t np = (size_t)im.height * im.width;
  uint64_t hist[256] = {0};
  for (size_t i = 0; i < np; ++i) ++hist[im.channels == 3 ? luma(&im.data[i * 3]) : im.data[i * im.channels]];
  double sum = 0;
  for (int v = 0; v < 256; ++v) sum += (double)hist[v] * v;
  blend_constant(im, (int)(sum / (double)np + 0.5), f);
}

void adjust_saturation(ImageU8& im, double f) {
  if (im.channels != 3) return;  // L -> L -> L is the identity
  const float alpha = (float)f;
  const size_t np = (size_t)im.height * im.width, n = np * 3;
  // degenerate = L replicated to RGB (as Pillow builds it), then one flat blend that vectorises
  thread_local std::vector<uint8_t> deg;
  deg.resize(n);
  uint8_t* d = deg.data();
  const uint8_t* p = im.data.data();
  for (size_t i = 0; i < np; ++i) d[i * 3] = d[i * 3 + 1] = d[i * 3 + 2] = luma(p + i * 3);
  pil_blend(d, im.data.data(), n, alpha);
}

void adjust_sharpness(ImageU8& im, double f) {
  // degenerate = img.filter(SMOOTH): 3x3 kernel [1 1 1; 1 5 1; 1 1 1] / 13 in float, edges copied.
  const int H = im.height, W = im.width, C = im.channels;
  std::vector<uint8_t> d(im.data);
  const float k1 = 1.f / 13.f, k5 = 5.f / 13.f;
  const float kern[9] = {k1, k1, k1, k1, k5, k1, k1, k1, k1};
  for (int y = 1; y < H - 1; ++y)
    for (int x = 1; x < W - 1; ++x)
      for (int b = 0; b < C; ++b) {
        auto px = [&](int yy, int xx) { return (float)im.data[((size_t)yy * W + xx) * C + b]; };
        float ss = 0.f;
        ss += px(y + 1, x - 1) * kern[0] + px(y + 1, x) * kern[1] + px(y + 1, x + 1) * kern[2];
        ss += px(y, x - 1) * kern[3] + px(y, x) * kern[4] + px(y, x + 1) * kern[5];
        ss += px(y - 1, x - 1) * kern[6] + px(y - 1, x) * kern[7] + px(y - 1, x + 1) * kern[8];
        d[((size_t)y * W + x) * C + b] = ss <= 0.f ? 0 : (ss >= 255.f ? 255 : (uint8_t)(ss + 0.5f));
      }
  pil_blend(d.data(), im.data.data(), im.data.size(), (float)f);
}

void to_grayscale(ImageU8& im) {
  if (im.channels != 3) return;
  uint8_t* p = im.data.data();
  for (size_t i = 0, np = (size_t)im.height * im.width; i < np; ++i, p += 3) p[0] = p[1] = p[2] = luma(p);
}

// ---------------------------------------------------------------- lookup-table ops (ImageOps)
static void apply_luts(ImageU8& im, const std::vector<uint8_t>& luts) {
  const int C = im.channels;
  for (size_t i = 0; i < im.data.size(); ++i) im.data[i] = luts[(i % C) * 256 + im.data[i]];
}

static std::vector<uint64_t> histograms(const ImageU8& im) {
  std::vector<uint64_t> h((size_t)im.channels * 256, 0);
  for (size_t i = 0; i < im.data.size(); ++i) ++h[(i % im.channels) * 256 + im.data[i]];
  return h;
}

void autocontrast(ImageU8& im) {
  auto h = histograms(im);
  std::vector<uint8_t> lut((size_t)im.channels * 256);
  for (int b = 0; b < im.channels; ++b) {
    const uint64_t* hb = &h[(size_t)b * 256];
    int lo = 0, hi = 255;
    while (lo < 255 && !hb[lo]) ++lo;
    while (hi > 0 && !hb[hi]) --hi;
    for (int i = 0; i < 256; ++i) {
      int v = i;
      if (hi > lo) {
        double scale = 255.0 / (hi - lo), offset = -lo * scale;
        v = (int)(i * scale + offset);
        v = v < 0 ? 0 : (v > 255 ? 255 : v);
      }
      lut[(size_t)b * 256 + i] = (uint8_t)v;
    }
  }
  apply_luts(im, lut);
}

void equalize(ImageU8& im) {
  auto h = histograms(im);
  std::vector<uint8_t> lut((size_t)im.channels * 256);
  for (int b = 0; b < im.channels; ++b) {
    const uint64_t* hb = &h[(size_t)b * 256];
    uint64_t total = 0, last = 0;
    int nonzero = 0;
    for (int i = 0; i < 256; ++i)
      if (hb[i]) {
        total += hb[i];
        last = hb[i];
        ++nonzero;
      }
    uint64_t step = nonzero <= 1 ? 0 : (total - last) / 256;
    uint64_t n = step / 2;
    for (int i = 0; i < 256; ++i) {
      if (step == 0) {
        lut[(size_t)b * 256 + i] = (uint8_t)i;
      } else {
        uint64_t v = n / step;
        lut[(size_t)b * 256 + i] = (uint8_t)std::min<uint64_t>(v, 255);
        n += hb[i];
      }
    }
  }
  apply_luts(im, lut);
}

void posterize(ImageU8& im, int bits) {
  uint8_t mask = (uint8_t)~((1 << (8 - bits)) - 1);
  for (auto& v : im.data) v &= mask;
}

void solarize(ImageU8& im, double threshold) {
  for (auto& v : im.data)
    if ((double)v >= threshold) v = (uint8_t)(255 - v);
}

void invert(ImageU8& im) {
  for (auto& v : im.data) v = (uint8_t)(255 - v);
}

// ---------------------------------------------------------------- geometry (Pillow Geometry.c)
static inline int coord(double v) { return v < 0.0 ? -1 : (int)v; }

void affine_nearest(ImageU8& im, const double m[6], const uint8_t* fill) {
  const int H = im.height, W = im.width, C = im.channels;
  std::vector<uint8_t> out(im.data.size());
  double xo = m[2] + m[1] * 0.5 + m[0] * 0.5, yo = m[5] + m[4] * 0.5 + m[3] * 0.5;
  for (int y = 0; y < H; ++y) {
    double xx = xo, yy = yo;
    for (int x = 0; x < W; ++x) {
      int xin = coord(xx), yin = coord(yy);
      uint8_t* o = &out[((size_t)y * W + x) * C];
      if (xin >= 0 && xin < W && yin >= 0 && yin < H)
        std::memcpy(o, &im.data[((size_t)yin * W + xin) * C], (size_t)C);
      else
        std::memcpy(o, fill, (size_t)C);
      xx += m[0];
      yy += m[3];
    }
    xo += m[1];
    yo += m[4];
  }
  im.data.swap(out);
}

void affine_bicubic(ImageU8& im, const double m[6], const uint8_t* fill) {
  const int H = im.height, W = im.width, C = im.channels;
  std::vector<uint8_t> out(im.data.size());
  auto cubic = [](double v1, double v2, double v3, double v4, double d) {
    double p1 = v2, p2 = -v1 + v3, p3 = 2 * (v1 - v2) + v3 - v4, p4 = -v1 + v2 - v3 + v4;
    return p1 + d * (p2 + d * (p3 + d * p4));
  };
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      double xin = m[0] * (x + 0.5) + m[1] * (y + 0.5) + m[2];
      double yin = m[3] * (x + 0.5) + m[4] * (y + 0.5) + m[5];
      uint8_t* o = &out[((size_t)y * W + x) * C];
      if (xin < 0.0 || xin >= W || yin < 0.0 || yin >= H) {
        std::memcpy(o, fill, (size_t)C);
        continue;
      }
      xin -= 0.5;
      yin -= 0.5;
      int ix = (int)std::floor(xin), iy = (int)std::floor(yin);
      double dx = xin - ix, dy = yin - iy;
      for (int b = 0; b < C; ++b) {
        double rows[4];
        for (int r = 0; r < 4; ++r) {
          int yy = std::clamp(iy - 1 + r, 0, H - 1);
          double v[4];
          for (int q = 0; q < 4; ++q) {
            int xx = std::clamp(ix - 1 + q, 0, W - 1);
            v[q] = im.data[((size_t)yy * W + xx) * C + b];
          }
          rows[r] = cubic(v[0], v[1], v[2], v[3], dx);
        }
        double v = cubic(rows[0], rows[1], rows[2], rows[3], dy);
        o[b] = v <= 0.0 ? 0 : (v >= 255.0 ? 255 : (uint8_t)v);
      }
    }
  im.data.swap(out);
}

void rotate_nearest(ImageU8& im, double degrees, const uint8_t* fill) {
  double a = -degrees * M_PI / 180.0;
  auto r15 = [](double v) { return std::round(v * 1e15) / 1e15; };
  double m[6] = {r15(std::cos(a)), r15(std::sin(a)), 0.0, r15(-std::sin(a)), r15(std::cos(a)), 0.0};
  double cx = im.width / 2.0, cy = im.height / 2.0;
  m[2] = m[0] * -cx + m[1] * -cy + m[2] + cx;
  m[5] = m[3] * -cx + m[4] * -cy + m[5] + cy;
  affine_nearest(im, m, fill);
}

}  // namespace tailor::data
