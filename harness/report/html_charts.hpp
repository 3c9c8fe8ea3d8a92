// Inline SVG charts for the HTML report, generated here so the report needs no chart library and no
// network: a grouped horizontal bar chart (throughput per case, one bar per kernel x device x card)
// and an accuracy chart (measured error over its tolerance, log scale, the tolerance drawn at 1).
// Every label is html_escape'd; callers pass raw scorecard strings.
#pragma once

#include <string>
#include <vector>

namespace dsbench::report {

struct Bar {
  int series = 0;     // index into BarChart::series (colour and legend)
  double value = 0;   // in BarChart::unit; bars with value <= 0 are drawn as "not measured"
  std::string note;   // after the value, e.g. "63% of HBM3 peak"
};

struct BarGroup {
  std::string name;   // e.g. a case id
  std::vector<Bar> bars;
};

struct BarChart {
  std::string id;     // element id (unique in the page)
  std::string title;
  std::string unit;   // "GFLOP/s", "TFLOP/s", "GB/s"
  std::vector<std::string> series;
  std::vector<BarGroup> groups;
};

struct AccuracyPoint {
  std::string label;   // "case · kernel · card"
  double ratio = 0;    // measured error / tolerance (1 = at the tolerance); NaN = not finite
  bool passed = true;
  std::string detail;  // "cos_diff 3.1e-12 / 1e-05"
};

std::string svg_bar_chart(const BarChart& chart);
std::string svg_accuracy_chart(const std::string& id, const std::string& title, const std::vector<AccuracyPoint>& points);

// Colour of series i (Okabe-Ito palette, readable by colour-blind readers; cycles after 8).
const char* series_colour(int i);

}  // namespace dsbench::report
