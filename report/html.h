// HTML helpers shared by the report pages (report.html, table.html, cams.html, explore.html, the t-SNE
// section).
#pragma once
#include <string>

namespace tailor {

// s with &, <, > and " escaped, for HTML text and attribute values.
std::string html_escape(const std::string& s);

}  // namespace tailor
