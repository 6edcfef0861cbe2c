// A graceful stop of `tailor train` on SIGTERM (what a batch scheduler sends at the end of a job's time, before
// it kills), SIGINT (Ctrl-C) and SIGUSR1 (a scheduler's early warning, e.g. SLURM's --signal=USR1@120): the
// signal only sets a flag; the training loop sees it after the step in progress, saves the training state
// there (mid-epoch, as checkpoint.every_steps does) and the run ends with exit status 75, like --stop-after;
// `tailor train --resume` continues bit-exactly. A second signal acts at once (the default action: the run
// resumes from its last saved state, as after a kill).
#pragma once

namespace tailor {

// Installs the handlers (once per process; clears a flag left by an earlier run of this process). rank / world:
// this process's place in a data-parallel job, named in the message a signal prints.
void install_stop_signals(int rank = 0, int world = 1);
// The signal that asked for a stop (SIGTERM, SIGINT, SIGUSR1), 0 when none has.
int pending_stop_signal();
// "SIGTERM", "SIGINT", "SIGUSR1", else "signal N".
const char* stop_signal_name(int sig);

}  // namespace tailor
