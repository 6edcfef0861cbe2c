// `tailor train` (and `tailor` with no arguments): a config-driven run (train/trainer.h). With no
// --config it runs the embedded default: Fashion-MNIST-LT (rho 100), ResNet-32, GCL two-stage, a few
// minutes on a CPU, ending with the many / medium / few table and the report's path.
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <stdexcept>

#include "engine/comm.h"
#include "rundir/stop_signal.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "train/config.h"
#include "train/trainer.h"

namespace tailor {

static const int kExitStopped = 75;  // --stop-after: stopped early, state saved (EX_TEMPFAIL)

static const char* kTrainUsage =
    "usage: tailor train [--config FILE] [--set key.path=value ...] [--init-from WEIGHTS] [--overwrite]\n"
    "                    [--device cpu|cuda] [--threads N] [--deterministic] [--no-report] [--stop-after SECONDS]\n"
    "                    [--print-config] [--help-config]\n"
    "       tailor train --resume RUN_DIR [--set data.root=DIR] [--stop-after SECONDS] [--no-report]\n"
    "                    [--accept-changed-eval-images]\n"
    "Trains the run a JSON config describes (dataset + LT subset, model, stages stage1, stage2, ... each with\n"
    "its method) into runs_dir/name (default runs/<config file stem>): config.json, metrics.jsonl, checkpoints/,\n"
    "eval.json, summary.json, report.html. Without --config: the embedded Fashion-MNIST-LT GCL two-stage default.\n"
    "  --set k=v        override one key (beats the file; repeatable), e.g. --set stage1.optim.lr=0.05\n"
    "  --init-from F    load pretrained weights (safetensors, PyTorch names) before stage 1 = model.init_from\n"
    "  --resume DIR     continue an interrupted run exactly (a missing state is an error, never a fresh start);\n"
    "                   --set data.root=DIR when the data has moved (checked to be the same images)\n"
    "  --accept-changed-eval-images  (with --resume) go on although validation / test images changed since\n"
    "                   the run started (a repaired file; training data and every label must be the same)\n"
    "  --overwrite      replace an existing run directory of the same name\n"
    "  --no-report      no report.html at the end (this invocation only: a --resume without it writes one)\n"
    "  --device D       = --set device=D;  --threads N = --set threads=N (part of the run's identity: a resume\n"
    "                   keeps it);  --deterministic = --set deterministic=true (CUDA: only\n"
    "                   deterministic cuDNN algorithms, so a rerun is bit-identical)\n"
    "  --stop-after S   stop after the first epoch that ends past S seconds, with the state saved, exit\n"
    "                   status 75; `--resume` continues (for time-limited jobs). SIGTERM, SIGINT (Ctrl-C) and\n"
    "                   SIGUSR1 stop after the step in progress the same way (a second signal: at once)\n"
    "  --print-config   print the resolved config and exit (its keys and values checked; what needs the data,\n"
    "                   the load / teacher files or a method's own rules is checked when the run starts);\n"
    "  --help-config    list every key\n"
    "Data parallel: mpirun -np N tailor train ... runs N ranks of the run (stageK.batch_size is the global\n"
    "batch; dist.sync_bn, dist.backend mpi|nccl; docs/data_parallel.md).\n"
    "Recipes: recipes/ (CIFAR-10/100-LT, ImageNet-LT, Places-LT, iNaturalist 2018, Fashion-MNIST-LT).\n";

int cmd_train(int argc, char** argv) {
  Json cfg;
  TrainFlags flags;
  std::string dir;
  try {
    Args a(argc, argv, {"config", "resume", "init-from", "device", "threads", "stop-after"},
           {"help", "help-config", "print-config", "overwrite", "no-report", "deterministic",
            "accept-changed-eval-images"},
           {"set"});
    if (a.has("help")) {
      std::cout << kTrainUsage;
      return 0;
    }
    if (a.has("help-config")) {
      std::cout << "config keys (path, type, default, help, range):\n" << describe_schema();
      return 0;
    }
    flags.overwrite = a.has("overwrite");
    flags.report = !a.has("no-report");
    flags.accept_changed_eval_images = a.has("accept-changed-eval-images");
    if (flags.accept_changed_eval_images && !a.has("resume"))
      throw UsageError("--accept-changed-eval-images goes with --resume (a new run reads its data as it is)");
    if (a.has("stop-after")) {
      const std::string v = a.str("stop-after", "");
      char* end = nullptr;
      flags.stop_after_s = std::strtod(v.c_str(), &end);
      if (v.empty() || *end != '\0' || !(flags.stop_after_s > 0))
        throw UsageError("--stop-after expects a positive number of seconds, got '" + v + "'");
    }
    if (a.has("resume")) {
      if (a.has("config") || a.has("init-from") || a.has("overwrite") || a.has("device") || a.has("threads") ||
          a.has("deterministic"))
        throw UsageError("--resume takes the run's own config.json; it cannot be combined with --config, "
                         "--init-from, --overwrite, --device, --threads or --deterministic");
      for (const std::string& s : a.list("set"))
        if (s.rfind("data.root=", 0) != 0)
          throw UsageError("--resume takes the run's own config.json; the only --set it accepts is data.root=DIR "
                           "(the data moved), not '" + s + "'");
      dir = a.str("resume", "");
      const std::string state = dir + "/checkpoints/train_state.safetensors";
      if (!std::filesystem::is_regular_file(state))
        throw std::runtime_error("--resume " + dir + ": no training state at " + state +
                                 " (refusing to start a fresh run in its place)");
      Json doc = Json::object();
      merge_config(doc, load_config_file(dir + "/config.json"), dir + "/config.json");
      for (const std::string& s : a.list("set")) apply_set(doc, s);
      cfg = expand_config(doc);
      flags.resume = true;
    } else {
      std::vector<std::string> sets = a.list("set");
      // a flag is its key's --set: both given would leave one unread
      for (auto [flag, key] : {std::pair<const char*, const char*>{"init-from", "model.init_from"}, {"device", "device"},
                               {"threads", "threads"}, {"deterministic", "deterministic"}})
        for (const std::string& s : sets)
          if (a.has(flag) && s.rfind(std::string(key) + "=", 0) == 0)
            throw UsageError(std::string("--") + flag + " and --set " + key + "= both given: --" + flag + " is --set " +
                             key + "=..., give it once");
      if (a.has("init-from")) sets.push_back("model.init_from=" + a.str("init-from", ""));
      if (a.has("device")) sets.push_back("device=" + a.str("device", ""));
      if (a.has("threads")) sets.push_back("threads=" + a.str("threads", ""));
      if (a.has("deterministic")) sets.push_back("deterministic=true");
      cfg = resolve_config(a.str("config", ""), sets, true);
      dir = run_dir_of(cfg);
    }
    if (a.has("print-config")) {
      std::cout << cfg.dump(2) << "\n";
      return 0;
    }
  } catch (const UsageError& e) {
    std::cerr << "tailor train: " << e.what() << "\n" << kTrainUsage;
    return 2;
  } catch (const ConfigError& e) {
    std::cerr << "tailor train: config error: " << e.what() << "\n";
    return 2;
  }
  // Under mpirun every rank runs this; rank 0 prints the log (train/data_parallel.h), the others only errors.
  std::ostream null_log(nullptr);
  const LaunchInfo launch = launch_info();
  install_stop_signals(launch.rank, launch.world);  // SIGTERM / SIGINT / SIGUSR1: the state saved after the step
                                                    // in progress, exit 75
  const Json summary = train_run(cfg, dir, flags, launch.rank == 0 ? std::cout : null_log);
  return summary.contains("stopped") ? kExitStopped : 0;
}

}  // namespace tailor
