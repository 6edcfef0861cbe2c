// Config text: JSON parsed with the checks a config needs (a key given twice, nesting no config has, errors at
// file:line:col), and config files read (train/config.h).
#include <cerrno>
#include <cfloat>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "train/config.h"

namespace tailor {

namespace {

[[noreturn]] void config_fail(const std::string& msg) { throw ConfigError(msg); }

}  // namespace

// JSON nested deeper than any config (a recursive parser would overflow the stack on 100,000 levels), and
// numbers the float32 settings cannot hold: 1e400 fails in the parser, but 1e-400 (or 1e-50) would read as 0 (an
// lr of 0) silently.
void check_config_text(const std::string& text, const std::string& origin) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (in_string) {
      if (escaped) escaped = false;
      else if (c == '\\') escaped = true;
      else if (c == '"') in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > 64) config_fail(origin + ": JSON nested deeper than 64 levels (a config has a few)");
    } else if (c == ']' || c == '}') {
      --depth;
    } else if (c == '-' || (c >= '0' && c <= '9')) {  // a number: its characters up to the next separator
      size_t j = i;
      while (j < text.size() && std::strchr("0123456789+-.eE", text[j])) ++j;
      const std::string number = text.substr(i, j - i);
      const size_t exponent = number.find_first_of("eE");
      const bool nonzero = number.substr(0, exponent).find_first_of("123456789") != std::string::npos;
      const double v = std::strtod(number.c_str(), nullptr);
      if (nonzero && std::fabs(v) < FLT_MIN) {  // the settings are float32: 0 or subnormal there, the value is lost
        size_t line = 1, col = 1;
        for (size_t k = 0; k < i; ++k) (text[k] == '\n') ? (++line, col = 1) : ++col;
        config_fail(origin + (text.find('\n') == std::string::npos ? "" : ":" + std::to_string(line) + ":" +
                                                                            std::to_string(col)) +
                    ": the number " + number + " is below float32's normal range (1.2e-38), which most settings are "
                    "read in: it would be " + (std::fabs((float)v) == 0.f ? "0" : "a rounded subnormal"));
      }
      i = j - 1;
    }
  }
}

Json parse_config_text(const std::string& text, const std::string& origin) {
  check_config_text(text, origin);
  // A key given twice in one object: JSON parsers keep the last silently; a config refuses it, naming it.
  struct Frame {
    std::set<std::string> keys;
    std::string last;
  };
  std::vector<Frame> frames;
  std::string duplicate;
  auto find_duplicates = [&](int, Json::parse_event_t ev, Json& parsed) {
    if (ev == Json::parse_event_t::object_start) frames.emplace_back();
    if (ev == Json::parse_event_t::object_end && !frames.empty()) frames.pop_back();
    if (ev == Json::parse_event_t::key && !frames.empty()) {
      frames.back().last = parsed.get<std::string>();
      if (!frames.back().keys.insert(frames.back().last).second && duplicate.empty())
        for (const Frame& f : frames) duplicate += (duplicate.empty() ? "" : ".") + f.last;
    }
    return true;
  };
  try {
    Json j = Json::parse(text, find_duplicates);
    if (!duplicate.empty())
      config_fail(origin + ": key " + duplicate + " is given twice (JSON would keep only the last); remove one");
    return j;
  } catch (const Json::out_of_range& e) {  // e.g. a number beyond double's range (1e400)
    std::string what = e.what();
    auto p = what.find("number overflow");
    config_fail(origin + ": invalid JSON (" + (p == std::string::npos ? what : what.substr(p)) + ")");
  } catch (const Json::parse_error& e) {
    // e.byte is 1-based; count lines and columns up to it
    size_t byte = e.byte == 0 ? 0 : e.byte - 1, line = 1, col = 1;
    for (size_t i = 0; i < byte && i < text.size(); ++i) {
      if (text[i] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    std::string what = e.what();
    auto p = what.find("syntax error");
    config_fail(origin + ":" + std::to_string(line) + ":" + std::to_string(col) + ": invalid JSON (" +
                (p == std::string::npos ? what : what.substr(p)) + ")");
  }
}

Json load_config_file(const std::string& path) {
  if (std::filesystem::is_directory(path)) config_fail(path + ": a folder, not a config file");
  std::ifstream in(path, std::ios::binary);
  if (!in) config_fail(path + ": cannot open the config file (" + std::strerror(errno) + ")");
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_config_text(ss.str(), path);
}

}  // namespace tailor
