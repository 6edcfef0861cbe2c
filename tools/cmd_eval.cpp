// `tailor eval`: evaluates a run's final checkpoint (or any checkpoint written by the trainer) on a split:
// top-1 / top-5, balanced accuracy, many / medium / few by training count (the groups of the run's config,
// eval.groups), ECE / MCE; optional eval JSON (the report's format).
#include <fstream>
#include <iostream>
#include <sstream>

#include "engine/precision.h"
#include "rundir/files.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "tools/model_source.h"
#include "train/data_parallel.h"
#include "train/run_model.h"

namespace tailor {

static const char* kEvalUsage =
    "usage: tailor eval (--run DIR [--checkpoint F] | --checkpoint F --config FILE) [--split test|val|train]\n"
    "                   [--set key.path=value ...] [--out FILE.json] [--threads N]\n"
    "                   [--device cpu|cuda]  (default: the run's device when this machine has one, else cpu)\n"
    "Evaluates the run's final checkpoint (best or last, as the run reported it) or the given checkpoint.\n"
    "Under mpirun -np N the batches are shared by the ranks (the same metrics); rank 0 prints and writes.\n";

int cmd_eval(int argc, char** argv) {
  std::string split, out;
  ModelSource src;
  try {
    auto flags = model_source_flags();
    flags.insert(flags.end(), {"split", "out"});
    Args a(argc, argv, flags, {"help"}, {"set"});
    if (a.has("help")) {
      std::cout << kEvalUsage;
      return 0;
    }
    split = a.has("split") ? a.choice("split", "test", {"test", "val", "train"}) : "";
    out = a.output_file("out");
    std::ostringstream quiet;  // under mpirun rank 0 alone says what it loaded (every rank loads the same)
    std::ostream& log = launch_info().rank == 0 ? std::cout : quiet;
    src = open_model_source(a, log);
    split = eval_split_or_default(src.data, split, log);
  } catch (const UsageError& e) {
    std::cerr << "tailor eval: " << e.what() << "\n" << kEvalUsage;
    return 2;
  }
  const data::Dataset& ds = run_split(src.data, split);
  PrecisionScope precision_scope(src.precision);  // the run's (tools/model_source.h)
  std::unique_ptr<Communicator> comm = make_run_comm(DistConfig{}, src.net->device());
  EvalMetrics m = comm->world() > 1
                      ? evaluate_sharded(*src.net, ds, src.data.eval_tf, src.data.train_counts,
                                         parse_shot_rule(src.cfg.at("eval")), src.cfg.at("data").at("eval_batch_size"),
                                         src.cfg.at("data").at("workers"), *comm)
                      : evaluate_dataset(*src.net, ds, src.data.eval_tf, src.data.train_counts,
                                         parse_shot_rule(src.cfg.at("eval")), src.cfg.at("data").at("eval_batch_size"),
                                         src.cfg.at("data").at("workers"));
  if (comm->rank() != 0) return 0;
  std::cout << split << " (" << data::counted(ds.size(), "image") << "):\n" << format_shot_table(m, split);
  if (!out.empty()) {
    Json j = eval_to_json(m, src.data.train_counts, src.data.train.class_names, *src.net);
    j["split"] = split;
    j["checkpoint"] = src.checkpoint;
    write_text_atomic(out, j.dump() + "\n");  // (a full or read-only disk: an error naming the file)
    std::cout << "written: " << out << "\n";
  }
  return 0;
}

}  // namespace tailor
