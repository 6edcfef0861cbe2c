// Runs the `tailor` program (tailor_bin()) with arguments and optional environment assignments, capturing
// stdout + stderr and the exit code (128 + signal when killed).
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <string>

struct Run {
  int code;
  std::string out;
};

// The tailor program: $TAILOR_BIN when set (tests run from a bundle on another machine), else the one built
// beside the tests.
inline std::string tailor_bin() {
  const char* e = std::getenv("TAILOR_BIN");
  return e && *e ? std::string(e) : std::string(TAILOR_BIN);
}

inline Run run(const std::string& args, const std::string& env = "") {
  std::string cmd = env + " " + tailor_bin() + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1), out};
}
