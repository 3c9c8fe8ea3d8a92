// Escaping for every output format the reports write. Scorecard strings (case ids, kernel and device
// names, reasons, plugin names) are untrusted: nothing from a scorecard reaches HTML, XML or
// Markdown without passing through one of these.
#pragma once

#include <string>

namespace dsbench::report {

// & < > " ' as entities: safe in HTML text, in quoted attributes and in SVG <text>.
std::string html_escape(const std::string& s);

// XML 1.0 text and attributes: html_escape, plus characters XML 1.0 forbids (controls other than
// tab/newline/CR, invalid UTF-8 bytes) replaced by U+FFFD, so a JUnit file always parses.
std::string xml_escape(const std::string& s);

// One table cell or inline span of GitHub-flavoured Markdown: HTML-escaped, Markdown punctuation
// backslash-escaped, newlines folded to spaces, so text can neither break the table nor inject markup.
std::string md_escape(const std::string& s);

}  // namespace dsbench::report
