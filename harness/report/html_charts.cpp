#include "harness/report/html_charts.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "harness/report/escape.hpp"

namespace dsbench::report {
namespace {

constexpr int kWidth = 1100;      // viewBox width; the SVG scales to the page
constexpr int kLabelW = 330;      // left column: case names
constexpr int kValueW = 250;      // right of the longest bar: value and note
constexpr int kBarH = 16, kGap = 4, kGroupGap = 12, kLegendRow = 20;

std::string num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4g", v);
  return buf;
}

std::string px(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f", v);
  return buf;
}

// At most n bytes, never splitting a UTF-8 sequence, with an ellipsis when shortened.
std::string cut(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  size_t end = n - 1;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end) + "…";
}

// Legend: one swatch per series, wrapped over rows of three. Returns its height.
int legend(std::ostringstream& svg, const std::vector<std::string>& series, int y) {
  const int per_row = 2, col_w = (kWidth - 20) / per_row;
  for (size_t i = 0; i < series.size(); ++i) {
    const int x = 10 + static_cast<int>(i % per_row) * col_w, yy = y + static_cast<int>(i / per_row) * kLegendRow;
    svg << "<rect x=\"" << x << "\" y=\"" << yy << "\" width=\"12\" height=\"12\" fill=\"" << series_colour(int(i))
        << "\"/><text class=\"legend\" x=\"" << x + 18 << "\" y=\"" << yy + 10 << "\">" << html_escape(cut(series[i], 80))
        << "<title>" << html_escape(series[i]) << "</title></text>\n";
  }
  return static_cast<int>((series.size() + per_row - 1) / per_row) * kLegendRow;
}

}  // namespace

const char* series_colour(int i) {
  static const char* kPalette[] = {"#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442", "#000000"};
  return kPalette[static_cast<size_t>(i) % 8];
}

std::string svg_bar_chart(const BarChart& c) {
  double max_v = 0;
  int rows = 0;
  for (const auto& g : c.groups) {
    rows += static_cast<int>(g.bars.size());
    for (const auto& b : g.bars) max_v = std::max(max_v, b.value);
  }
  const int legend_h = static_cast<int>((c.series.size() + 1) / 2) * kLegendRow;
  const int top = 30 + legend_h;
  const int height = top + rows * (kBarH + kGap) + static_cast<int>(c.groups.size()) * kGroupGap + 30;
  const double plot_w = kWidth - kLabelW - kValueW;
  std::ostringstream svg;
  svg << "<svg class=\"chart throughput\" id=\"" << html_escape(c.id) << "\" role=\"img\" viewBox=\"0 0 " << kWidth << " "
      << height << "\" width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">\n<title>" << html_escape(c.title) << "</title>\n"
      << "<text class=\"ctitle\" x=\"10\" y=\"18\">" << html_escape(c.title) << "</text>\n";
  legend(svg, c.series, 28);
  int y = top;
  for (const auto& g : c.groups) {
    svg << "<text class=\"group\" x=\"" << kLabelW - 8 << "\" y=\"" << y + kBarH - 3 << "\" text-anchor=\"end\">"
        << html_escape(cut(g.name, 46)) << "<title>" << html_escape(g.name) << "</title></text>\n";
    for (const auto& b : g.bars) {
      const double w = max_v > 0 && b.value > 0 ? std::max(1.0, plot_w * b.value / max_v) : 0;
      svg << "<rect class=\"bar\" x=\"" << kLabelW << "\" y=\"" << y << "\" width=\"" << px(w) << "\" height=\"" << kBarH
          << "\" fill=\"" << series_colour(b.series) << "\"><title>"
          << html_escape(c.series.at(static_cast<size_t>(b.series)) + ": " + (b.value > 0 ? num(b.value) + " " + c.unit : "not measured"))
          << "</title></rect>\n<text class=\"value\" x=\"" << px(kLabelW + w + 6) << "\" y=\"" << y + kBarH - 3 << "\">"
          << html_escape(b.value > 0 ? num(b.value) + " " + c.unit + (b.note.empty() ? "" : " · " + b.note) : "not measured")
          << "</text>\n";
      y += kBarH + kGap;
    }
    y += kGroupGap;
  }
  svg << "<line class=\"axis\" x1=\"" << kLabelW << "\" y1=\"" << top - 4 << "\" x2=\"" << kLabelW << "\" y2=\"" << y
      << "\"/>\n<text class=\"axis-label\" x=\"" << kLabelW << "\" y=\"" << y + 16 << "\">0</text><text class=\"axis-label\" x=\""
      << px(kLabelW + plot_w) << "\" y=\"" << y + 16 << "\" text-anchor=\"end\">" << num(max_v) << " " << html_escape(c.unit)
      << "</text>\n</svg>\n";
  return svg.str();
}

std::string svg_accuracy_chart(const std::string& id, const std::string& title, const std::vector<AccuracyPoint>& pts) {
  constexpr double kLo = -12, kHi = 2;  // log10(error / tolerance) axis: 1e-12 .. 100
  const double plot_w = kWidth - kLabelW - kValueW - 60;
  auto x_of = [&](double log_ratio) { return kLabelW + plot_w * (std::clamp(log_ratio, kLo, kHi) - kLo) / (kHi - kLo); };
  const int top = 40, height = top + static_cast<int>(pts.size()) * (kBarH + kGap) + 34;
  std::ostringstream svg;
  svg << "<svg class=\"chart accuracy\" id=\"" << html_escape(id) << "\" role=\"img\" viewBox=\"0 0 " << kWidth << " " << height
      << "\" width=\"100%\" xmlns=\"http://www.w3.org/2000/svg\">\n<title>" << html_escape(title) << "</title>\n"
      << "<text class=\"ctitle\" x=\"10\" y=\"18\">" << html_escape(title) << "</text>\n";
  for (int e = static_cast<int>(kLo); e <= static_cast<int>(kHi); e += 2) {
    const double x = x_of(e);
    svg << "<line class=\"grid\" x1=\"" << px(x) << "\" y1=\"" << top - 6 << "\" x2=\"" << px(x) << "\" y2=\"" << height - 28
        << "\"/><text class=\"axis-label\" x=\"" << px(x) << "\" y=\"" << height - 12 << "\" text-anchor=\"middle\">1e"
        << e << "</text>\n";
  }
  const double x1 = x_of(0);
  svg << "<line class=\"tolerance\" x1=\"" << px(x1) << "\" y1=\"" << top - 10 << "\" x2=\"" << px(x1) << "\" y2=\""
      << height - 28 << "\"/><text class=\"axis-label\" x=\"" << px(x1 + 4) << "\" y=\"" << top - 12
      << "\">tolerance</text>\n";
  int y = top;
  for (const auto& p : pts) {
    const bool finite = std::isfinite(p.ratio);
    const double lr = !finite ? kHi : p.ratio <= 0 ? kLo : std::log10(p.ratio);
    const double w = std::max(2.0, x_of(lr) - kLabelW);
    svg << "<text class=\"group\" x=\"" << kLabelW - 8 << "\" y=\"" << y + kBarH - 3 << "\" text-anchor=\"end\">"
        << html_escape(cut(p.label, 46)) << "<title>" << html_escape(p.label) << "</title></text>\n"
        << "<rect class=\"bar " << (p.passed ? "pass" : "fail") << "\" x=\"" << kLabelW << "\" y=\"" << y << "\" width=\""
        << px(w) << "\" height=\"" << kBarH << "\"><title>" << html_escape(p.detail) << "</title></rect>\n"
        << "<text class=\"value\" x=\"" << px(kLabelW + plot_w + 8) << "\" y=\"" << y + kBarH - 3 << "\">"
        << html_escape(p.detail) << "</text>\n";
    y += kBarH + kGap;
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace dsbench::report
