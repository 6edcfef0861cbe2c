#include "rundir/stop_signal.h"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <csignal>
#include <cstdio>
#include <initializer_list>

namespace tailor {

namespace {

// The kernel runs the handler on any thread that does not block the signal (a loader worker, an OpenMP or MPI
// thread) while the training loop reads the flag on the main thread: a lock-free atomic, which a handler may
// use (a volatile sig_atomic_t is only safe on the thread it interrupted).
std::atomic<int> g_stop_signal{0};
static_assert(std::atomic<int>::is_always_lock_free, "the stop flag is set inside a signal handler");

// The handler's message, written when the handlers are installed (a handler may not format).
char g_message[400];
size_t g_message_length = 0;

// Only async-signal-safe calls here: the flag, and write(2) of the prepared message.
void on_stop_signal(int sig) {
  g_stop_signal.store(sig, std::memory_order_relaxed);
  ssize_t ignored = ::write(STDERR_FILENO, g_message, g_message_length);
  (void)ignored;
}

}  // namespace

void install_stop_signals(int rank, int world) {
  g_stop_signal.store(0);
  // A job of several ranks saves only what every rank reaches: mpirun also sends SIGTERM to the ranks left
  // when one has died, and those cannot finish the step, so the state is the last one saved.
  const int n = world > 1 ? std::snprintf(g_message, sizeof g_message,
                                          "\ntailor (rank %d of %d): stop requested: the ranks stop together after "
                                          "the step in progress and save the state; if a rank has ended, --resume "
                                          "continues from the last state saved (a second signal stops at once)\n",
                                          rank, world)
                          : std::snprintf(g_message, sizeof g_message,
                                          "\ntailor: stop requested: the state is saved after the step in progress (a "
                                          "second signal stops at once)\n");
  g_message_length = std::min((size_t)n, sizeof g_message - 1);
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESETHAND | SA_RESTART;  // the next signal: the default action (the process ends)
  for (int sig : {SIGTERM, SIGINT, SIGUSR1}) sigaction(sig, &sa, nullptr);
}

int pending_stop_signal() { return g_stop_signal.load(std::memory_order_relaxed); }

const char* stop_signal_name(int sig) {
  if (sig == SIGTERM) return "SIGTERM";
  if (sig == SIGINT) return "SIGINT";
  if (sig == SIGUSR1) return "SIGUSR1";
  static thread_local char buf[24];
  std::snprintf(buf, sizeof buf, "signal %d", sig);
  return buf;
}

}  // namespace tailor
