// Subcommands of the `tailor` program; each takes argv starting at its own name.
#pragma once

namespace tailor {
int cmd_bench(int argc, char** argv);
int cmd_train(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_tau_sweep(int argc, char** argv);
int cmd_extract_features(int argc, char** argv);
int cmd_report(int argc, char** argv);
int cmd_cams(int argc, char** argv);
int cmd_verify_data(int argc, char** argv);
int cmd_table(int argc, char** argv);
int cmd_compare(int argc, char** argv);
int cmd_inspect_loss(int argc, char** argv);
int cmd_explore(int argc, char** argv);
}  // namespace tailor
