// A small raster plotting module for the run report: an RGB canvas, an embedded 5x8 bitmap font,
// axes with ticks (linear or log10 x), line / point / bar series, a one-row legend, a heatmap with a
// colour scale, written as PNG through stb_image_write. Pixel coordinates: x right, y down, (0,0) top left.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace tailor::plot {

struct Color {
  uint8_t r = 0, g = 0, b = 0;
};
bool operator==(const Color& a, const Color& b);

namespace colors {
constexpr Color white{255, 255, 255}, black{0, 0, 0}, grid{232, 232, 232}, axis{60, 60, 60}, gray{150, 150, 150},
    blue{31, 119, 180}, orange{255, 127, 14}, green{44, 160, 44}, red{214, 39, 40}, purple{148, 103, 189};
}

struct Rect {
  int x = 0, y = 0, w = 0, h = 0;
  int right() const { return x + w; }
  int bottom() const { return y + h; }
};

struct Canvas {
  int w = 0, h = 0;
  std::vector<uint8_t> rgb;  // row-major, 3 bytes per pixel
  Rect clip;                 // drawing outside it is dropped (whole canvas by default)

  Canvas(int width, int height, Color bg = colors::white);
  Color get(int x, int y) const;
  void set(int x, int y, Color c);
  void blend(int x, int y, Color c, double alpha);  // alpha in [0, 1]
  void fill(Rect r, Color c);
  void fill_blend(Rect r, Color c, double alpha);
  void frame(Rect r, Color c);  // 1 px outline inside r
  // Bresenham line from (x0,y0) to (x1,y1), both ends included; `dash` > 0: on/off runs of that many pixels.
  void line(int x0, int y0, int x1, int y1, Color c, int thickness = 1, int dash = 0);
  void disc(int cx, int cy, int radius, Color c);
  void reset_clip() { clip = {0, 0, w, h}; }
  void save_png(const std::string& path) const;  // throws std::runtime_error on failure
};

// ---- text (5x8 glyphs, 6 px advance, printable ASCII; other bytes draw as '?') ----
enum class Align { left, center, right };
int text_width(const std::string& s, int scale = 1);
int text_height(int scale = 1);  // cap height + descender: 8 * scale
// Horizontal text; (x, y) is the top of the line, x is the left / centre / right end per `align`.
void draw_text(Canvas& c, int x, int y, const std::string& s, Color col, int scale = 1, Align align = Align::left,
               bool bold = false);
// Text rotated 90 degrees counter-clockwise (reads bottom to top); (x, y) is the left edge of the glyphs
// and the bottom / middle / top end of the string per `align` (left = starts at y and goes up).
void draw_text_up(Canvas& c, int x, int y, const std::string& s, Color col, int scale = 1, Align align = Align::left);

// ---- axes ----
struct AxisSpec {
  double lo = 0, hi = 1;
  bool log = false;      // log10 scale (lo > 0)
  bool integer = false;  // ticks only at whole numbers
  std::string label;
  std::vector<std::string> categories;  // if set: one tick per category at 0..n-1 (range -0.5..n-0.5)
  bool grid = true;
  bool flip = false;  // values grow leftward / downward (e.g. row 0 of a matrix on top)
};

struct LegendEntry {
  std::string label;
  Color color;
  bool dashed = false;
};

struct Axes {
  Canvas* c = nullptr;
  Rect area;  // the plotting area in pixels
  AxisSpec x, y;
  double px(double v) const;  // data -> pixel column
  double py(double v) const;  // data -> pixel row
};

// Ticks within [lo, hi]: multiples of 1, 2, 2.5 or 5 x 10^k, at most about `max_ticks`.
std::vector<double> linear_ticks(double lo, double hi, int max_ticks = 8, bool integer = false);
// Log ticks: the powers of ten in [lo, hi]; with fewer than 3 of them also 2x and 5x multiples.
std::vector<double> log_ticks(double lo, double hi);
// Short tick label: fixed decimals from the tick step, "1e-05"-style for tiny or huge values.
std::string tick_label(double v, double step);
// Widens [lo, hi] outward to tick multiples (and makes a degenerate range non-empty).
void nice_range(double& lo, double& hi, int max_ticks = 8);

// The plotting area draw_axes would leave inside `outer` (nothing is drawn).
Rect axes_area(Rect outer, const AxisSpec& x, const AxisSpec& y, const std::string& title, bool legend = false);
// Draws title, legend row, frame, grid, ticks, tick labels and axis labels inside `outer`, and returns
// the axes mapping data to the remaining plotting area.
Axes draw_axes(Canvas& c, Rect outer, const AxisSpec& x, const AxisSpec& y, const std::string& title,
               const std::vector<LegendEntry>& legend = {});

// Series (clipped to the plotting area). Non-finite values are skipped; a line joins consecutive finite points.
void plot_line(const Axes& a, const std::vector<double>& xs, const std::vector<double>& ys, Color col,
               int thickness = 2, int marker_radius = 0, int dash = 0);
void plot_points(const Axes& a, const std::vector<double>& xs, const std::vector<double>& ys, Color col,
                 int radius = 3);
void plot_points(const Axes& a, const std::vector<double>& xs, const std::vector<double>& ys,
                 const std::vector<Color>& cols, int radius = 3);
// Bars centred at xs with data width `width` from `base` to ys; each bar is at least 1 px wide.
void plot_bars(const Axes& a, const std::vector<double>& xs, const std::vector<double>& ys, double width,
               const std::vector<Color>& cols, double base = 0, double alpha = 1.0);
// A vertical line at x across the plotting area, with an optional label at its top (right of the line, or
// left where it would not fit); `label_row` > 0 puts the label that many text lines lower, so that the
// labels of nearby lines stay apart.
void plot_vline(const Axes& a, double x, Color col, int dash = 0, const std::string& label = "", int label_row = 0);
// Width in pixels of a label as draw_axes, the legend and plot_vline write it.
int label_width(const std::string& s);

// ---- heatmap ----
Color viridis(double t);  // t in [0, 1]
// Draws a rows x cols matrix (row-major values in [0, 1]) into `area`; when the matrix has more
// cells than pixels, each pixel shows the mean of the cells it covers. Labels drawn per cell when
// `cell_text` is non-empty (same size as values) and the cells are big enough. The colour of v is
// viridis(v^gamma): gamma < 1 brings out small values.
void draw_heatmap(Canvas& c, Rect area, int rows, int cols, const std::vector<float>& values,
                  const std::vector<std::string>& cell_text = {}, double gamma = 1.0);
// A vertical colour bar for values lo..hi (same gamma as the heatmap) with ticks on its right.
void draw_colorbar(Canvas& c, Rect bar, double lo, double hi, const std::string& label, double gamma = 1.0);

}  // namespace tailor::plot
