// Minimal strict flag parsing for the subcommands: `--name value` or `--name=value`; every flag must
// be declared; a bad flag or value throws UsageError (the caller prints usage and exits 2).
#pragma once
#include <cmath>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

namespace tailor {

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class Args {
 public:
  // `flags`: names (without --) that take a value; `switches`: names that take none; `repeatable`: flags
  // that may be given several times (read with list()). An unknown flag suggests the closest known one.
  Args(int argc, char** argv, const std::vector<std::string>& flags, const std::vector<std::string>& switches = {},
       const std::vector<std::string>& repeatable = {});
  bool has(const std::string& name) const { return values_.count(name) > 0; }
  std::string str(const std::string& name, const std::string& def) const;
  long long integer(const std::string& name, long long def, long long lo, long long hi) const;
  double number(const std::string& name, double def, double lo, double hi) const;
  std::vector<std::string> list(const std::string& name) const;
  // "a,b,c" -> numbers, each finite and in [lo, hi]; empty when the flag is absent. Throws on a bad item or an
  // empty list.
  std::vector<double> numbers(const std::string& name, double lo = -INFINITY, double hi = INFINITY) const;
  std::string choice(const std::string& name, const std::string& def, const std::vector<std::string>& allowed) const;
  // A file to write (empty when the flag is absent): refused now, before any work, when its folder does not
  // exist or the path is a folder.
  std::string output_file(const std::string& name) const;

 private:
  std::map<std::string, std::string> values_;
  std::map<std::string, std::vector<std::string>> lists_;
};

}  // namespace tailor
