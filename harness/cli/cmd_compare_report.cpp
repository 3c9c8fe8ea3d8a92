// `dsbench compare BASE NEW` (noise-aware regression verdicts; exit 0 none, 1 any regression, 2 bad
// input) and `dsbench report CARD... --out report.html` (a self-contained HTML report).
#include <iostream>
#include <memory>

#include "harness/cli/commands.hpp"
#include "harness/error.hpp"
#include "harness/report/compare.hpp"
#include "harness/report/compare_format.hpp"
#include "harness/report/html_report.hpp"
#include "harness/report/run_summaries.hpp"
#include "harness/output_file.hpp"
#include "harness/scorecard.hpp"

namespace dsbench::cli {
namespace {

struct CompareArgs {
  std::string base, next;
  std::string threshold = "5%", noise_floor = "auto";
  std::vector<std::string> op_thresholds;
  report::CompareOptions opts;
  std::string format = "text";
  std::string markdown_path, json_path;
  bool changes_only = false;
  bool fixed_floor = false;
};

void add_statistics_options(CLI::App* cmd, CompareArgs* a) {
  cmd->add_option("--threshold", a->threshold, "A slowdown counts only beyond this (0.05 or 5%)")->capture_default_str();
  cmd->add_option("--op-threshold", a->op_thresholds,
                  "PATTERN=THRESHOLD for ops or cases matching the glob, e.g. 'mla_decode=8%' (repeatable; first match wins)");
  cmd->add_option("--noise-floor", a->noise_floor,
                  "Run-to-run variation added to every interval (0.03 or 3%); auto: 3% for device-timed results, "
                  "10% for host-timed (CPU) ones. Raised to the noise the comparison measures when that is larger")
      ->capture_default_str();
  cmd->add_flag("--fixed-noise-floor", a->fixed_floor, "Never raise --noise-floor to the measured run-to-run noise");
  cmd->add_flag("--gate-host-timing", a->opts.stats.gate_host_timing,
                "Let single host-timed (CPU) results regress; by default only device-timed ones and the suite as a "
                "whole do, since single CPU timings on shared hosts move 12-51% between runs");
  cmd->add_option("--confidence", a->opts.stats.confidence, "Two-sided confidence of the interval on the ratio")
      ->check(kFinite)->check(CLI::Range(0.5, 0.9999))->capture_default_str();
  cmd->add_option("--min-samples", a->opts.stats.min_samples, "Fewer timed samples on a side: 'noisy', never a verdict")
      ->check(CLI::Range(2, 1000000))->capture_default_str();
  cmd->add_option("--bootstrap", a->opts.stats.bootstrap, "Bootstrap resamples per result")
      ->check(CLI::Range(200, 1000000))->capture_default_str();
  cmd->add_option("--error-growth", a->opts.error_growth, "cos_diff may grow by this factor before it is an accuracy regression")
      ->check(kFinite)->check(CLI::Range(1.0, 1e12))->capture_default_str();
}

void finish_options(CompareArgs& a) {
  a.opts.threshold = report::parse_fraction(a.threshold, "--threshold");
  if (a.noise_floor != "auto")
    a.opts.stats.noise_floor = a.opts.stats.host_noise_floor = report::parse_fraction(a.noise_floor, "--noise-floor");
  a.opts.stats.measured_floor = !a.fixed_floor;
  for (const std::string& spec : a.op_thresholds) {
    const size_t eq = spec.rfind('=');
    if (eq == std::string::npos || eq == 0)
      DSB_THROW("--op-threshold: \"" + spec + "\" is not PATTERN=THRESHOLD (e.g. 'gemm_fp8_*=8%')");
    a.opts.op_thresholds.emplace_back(spec.substr(0, eq), report::parse_fraction(spec.substr(eq + 1), "--op-threshold " + spec));
  }
}

int compare_command(CompareArgs& a) {
  finish_options(a);
  for (const std::string* p : {&a.markdown_path, &a.json_path})
    if (!p->empty()) check_writable(*p);
  const report::Scorecard base = report::load_scorecard(a.base);
  const report::Scorecard next = report::load_scorecard(a.next);
  const report::CompareResult r = report::compare_scorecards(base, next, a.opts);
  if (a.format == "markdown") std::cout << report::compare_markdown(r);
  else if (a.format == "json") std::cout << report::compare_json(r).dump(2) << "\n";
  else report::print_compare_text(std::cout, r, a.changes_only);
  if (!a.markdown_path.empty()) write_output_file(a.markdown_path, report::compare_markdown(r), "--markdown");
  if (!a.json_path.empty()) write_output_file(a.json_path, report::compare_json(r).dump(2) + "\n", "--json");
  return r.exit_code();
}

size_t pick_baseline(const std::vector<report::Scorecard>& cards, const std::string& which) {
  if (which.empty()) return 0;
  for (size_t i = 0; i < cards.size(); ++i)
    if (cards[i].label == which || cards[i].path == which) return i;
  if (which.find_first_not_of("0123456789") == std::string::npos && which.size() < 6) {
    const size_t n = std::stoul(which);
    if (n >= 1 && n <= cards.size()) return n - 1;
  }
  std::string labels;
  for (const auto& c : cards) labels += (labels.empty() ? "" : ", ") + c.label;
  DSB_THROW("--baseline \"" + which + "\" is not a card's label (" + labels + "), path, or number 1 to " +
            std::to_string(cards.size()));
}

}  // namespace

void setup_compare(CLI::App& app, int* exit_code) {
  auto a = std::make_shared<CompareArgs>();
  auto* cmd = app.add_subcommand("compare", "Compare two scorecards: per (case, kernel, device) the ratio of medians "
                                            "with a confidence interval and a verdict (faster/slower/same/noisy/new/gone), "
                                            "accuracy and coverage changes. Exit 0: no regression, 1: a regression, 2: bad input");
  cmd->add_option("base", a->base, "Baseline scorecard (JSON)")->required();
  cmd->add_option("new", a->next, "New scorecard (JSON)")->required();
  add_statistics_options(cmd, a.get());
  cmd->add_flag("--allow-gone", a->opts.allow_gone, "Results missing from NEW are reported, not regressions");
  cmd->add_option("--format", a->format, "stdout: text, markdown or json")
      ->check(CLI::IsMember({"text", "markdown", "json"}))->capture_default_str();
  cmd->add_option("--markdown", a->markdown_path, "Also write the Markdown summary here (CI step summary)");
  cmd->add_option("--json", a->json_path, "Also write the comparison as JSON here");
  cmd->add_flag("--changes-only", a->changes_only, "Text: leave out rows that are 'same' with nothing to note");
  cmd->callback([a, exit_code] { *exit_code = compare_command(*a); });
}

void setup_report(CLI::App& app, int* exit_code) {
  auto files = std::make_shared<std::vector<std::string>>();
  auto out = std::make_shared<std::string>("dsbench-report.html");
  auto baseline = std::make_shared<std::string>();
  auto prices = std::make_shared<std::vector<std::string>>();
  auto title = std::make_shared<std::string>("dsbench report");
  auto junit = std::make_shared<std::string>();
  auto markdown = std::make_shared<std::string>();
  auto stats = std::make_shared<CompareArgs>();
  auto* cmd = app.add_subcommand("report", "Write one self-contained HTML report (no network) for one scorecard or "
                                           "several side by side");
  cmd->add_option("scorecards", *files, "Scorecard JSON files")->required();
  cmd->add_option("--out", *out, "HTML file to write")->capture_default_str();
  cmd->add_option("--baseline", *baseline, "Card to compare the others with: label, path or 1-based number (default: the first)");
  cmd->add_option("--price", *prices, "NAME=PER_HOUR: price of a card (label), device name or backend, for "
                                      "throughput per unit cost (repeatable)");
  cmd->add_option("--title", *title, "Page title")->capture_default_str();
  cmd->add_option("--junit", *junit, "Also write JUnit XML of the last scorecard given (the new run)");
  cmd->add_option("--markdown", *markdown, "Also write a Markdown summary of the last scorecard given");
  add_statistics_options(cmd, stats.get());
  cmd->callback([=] {
    finish_options(*stats);
    report::ReportOptions o;
    o.title = *title;
    o.compare = stats->opts;
    for (const std::string& p : *prices) o.prices.push_back(report::parse_price(p));
    for (const std::string* p : {out.get(), junit.get(), markdown.get()})
      if (!p->empty()) check_writable(*p);
    std::vector<report::Scorecard> cards;
    for (const std::string& f : *files) cards.push_back(report::load_scorecard(f));
    report::label_scorecards(cards);
    o.baseline = pick_baseline(cards, *baseline);
    write_output_file(*out, report::html_report(cards, o), "--out");
    if (!junit->empty()) write_output_file(*junit, report::scorecard_junit(cards.back().doc), "--junit");
    if (!markdown->empty())
      write_output_file(*markdown, report::scorecard_markdown(cards.back().doc), "--markdown");
    std::cout << "report: " << *out << " (" << cards.size() << " scorecard(s))\n";
    *exit_code = 0;
  });
}

}  // namespace dsbench::cli
