// Reads a committed JSON fixture from tests/fixtures (TAILOR_FIXTURES), failing the test with the
// command that regenerates it when the file is missing.
#pragma once
#include <doctest/doctest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

namespace tailor::test {

inline nlohmann::json load_json_fixture(const std::string& name, const char* generator) {
  std::ifstream f(std::string(TAILOR_FIXTURES) + "/" + name);
  REQUIRE_MESSAGE(f.good(), "missing fixture " << name << " (run /usr/bin/python3 " << generator << ")");
  nlohmann::json j;
  f >> j;
  return j;
}

}  // namespace tailor::test
