// Runs the `tailor` program (TAILOR_BIN) with arguments and optional environment assignments, capturing
// stdout + stderr and the exit code (128 + signal when killed).
#pragma once
#include <doctest/doctest.h>
#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <string>

struct Run {
  int code;
  std::string out;
};

inline Run run(const std::string& args, const std::string& env = "") {
  std::string cmd = env + " " + std::string(TAILOR_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  std::array<char, 512> buf;
  while (fgets(buf.data(), buf.size(), p)) out += buf.data();
  int status = pclose(p);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : (WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1), out};
}
