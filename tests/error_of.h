// The message of the exception `f` throws, "" when it throws none: tests compare error texts with it.
#pragma once
#include <exception>
#include <functional>
#include <string>

inline std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}
