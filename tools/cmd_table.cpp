// `tailor table`: runs every cell of a table spec (report/table.h) as its own `tailor train` process, N at
// a time, resumably, with one progress view of the whole table, then writes table.md / .html / .json.
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <thread>

#include "report/table.h"
#include "rundir/progress.h"
#include "rundir/stop_signal.h"
#include "tools/args.h"
#include "tools/commands.h"
#include "train/run_config.h"

namespace tailor {

namespace fs = std::filesystem;

static const int kExitStopped = 75;  // as `tailor train --stop-after`

static const char* kTableUsage =
    "usage: tailor table --spec FILE [--out DIR] [--jobs N] [--threads T] [--set key.path=value ...]\n"
    "                    [--stop-after SECONDS] [--status-every SECONDS] [--dry-run]\n"
    "Runs a table of runs: rows (a recipe + overrides) x columns (overrides, e.g. the imbalance ratio) x seeds,\n"
    "each cell an ordinary run directory OUT/runs/<row>.<column>.seed<k> trained by `tailor train` (its output in\n"
    "OUT/logs/<cell>.log), then writes OUT/table.md, table.html (+ plots/) and table.json: per cell mean ± std\n"
    "over the seeds of top-1 (last and best epoch), balanced, many / medium / few, the paper's number and the\n"
    "difference. Rerunning the same command continues: finished cells are kept, interrupted ones resumed.\n"
    "  --spec FILE        the table (format: docs/cli.md, examples: tables/)\n"
    "  --out DIR          output folder (default runs/tables/<spec name>)\n"
    "  --jobs N           cells trained at the same time (default 1)\n"
    "  --threads T        CPU threads per cell (default cores / N)\n"
    "  --set k=v          override a key in every cell (beats the spec), e.g. --set data.root=DIR;\n"
    "                     --set GROUP:k=v only in the columns of that group, e.g. CIFAR-100-LT:data.root=DIR;\n"
    "                     --set COLUMN:k=v only in that column\n"
    "  --stop-after S     start no cell after S seconds, and stop the running ones at their first epoch end\n"
    "                     past it with their state saved (exit status 75; rerun to continue)\n"
    "  --status-every S   seconds between the table's status lines (default 30)\n"
    "  --dry-run          list the cells, what would be done with each and the commands, and exit\n";

namespace {

// What a cell needs when the table starts.
enum class Action { Done, Resume, Restart, Start, Mismatch };
const char* action_name(Action a) {
  switch (a) {
    case Action::Done: return "done";
    case Action::Resume: return "resume";
    case Action::Restart: return "restart (no state: --overwrite)";
    case Action::Start: return "start";
    default: return "refused";
  }
}

// The resolved config with what may legitimately differ between two invocations of the same table removed:
// the thread count (--jobs / --threads) and the output folder (moved). data.root is not in config_hash.
std::string comparable_hash(Json cfg) {
  cfg["threads"] = 0;
  cfg["runs_dir"] = "";
  return config_hash(cfg);
}

// The last lines of a log, for a failed cell.
std::vector<std::string> log_tail(const fs::path& log, size_t n) {
  std::ifstream in(log);
  std::vector<std::string> lines;
  for (std::string l; std::getline(in, l);)
    if (l.find_first_not_of(" \t\r") != std::string::npos) lines.push_back(l);
  if (lines.size() > n) lines.erase(lines.begin(), lines.end() - n);
  return lines;
}

// Where a running cell is: "stage 1 epoch 3/200  40/97 steps" from its log's last progress line (the plain
// lines rundir/progress.h writes every tenth of an epoch), else the last epoch of its metrics.jsonl, else
// "starting".
std::string cell_epoch(const fs::path& run_dir, const fs::path& log) {
  for (const std::string& l : log_tail(log, 1))
    if (l.rfind("stage ", 0) == 0 && l.find(" steps") != std::string::npos) return l.substr(0, l.find(" steps") + 6);
  std::ifstream in(run_dir / "metrics.jsonl");
  std::string last;
  for (std::string l; std::getline(in, l);)
    if (!l.empty()) last = l;
  const Json j = Json::parse(last, nullptr, false);
  if (!j.is_object()) return "starting";
  return "stage " + std::to_string(j.value("stage", 0)) + " epoch " + std::to_string(j.value("epoch", 0)) + "/" +
         std::to_string(j.value("epochs", 0));
}

// Starts `args` (argv[0] = the program) with stdout and stderr appended to `log`, stdin from /dev/null. The
// child is killed when this process dies (so an interrupted table leaves no orphan writing its run).
pid_t spawn(const std::vector<std::string>& args, const fs::path& log) {
  const int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot open " + log.string() + " for writing");
  std::string header = "\n==== tailor table:";
  for (auto& a : args) header += " " + a;
  header += "\n";
  if (write(fd, header.data(), header.size()) < 0) { /* the log header is informative only */ }
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t parent = getpid();
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    // a table that dies (however) stops its cells as a stop signal does: state saved after the step
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (getppid() != parent) _exit(127);
    setpgid(0, 0);  // Ctrl-C on the terminal reaches the table alone, which passes one SIGTERM on
    const int nul = open("/dev/null", O_RDONLY);
    if (nul >= 0) dup2(nul, 0);
    dup2(fd, 1);
    dup2(fd, 2);
    execv(argv[0], argv.data());
    std::fprintf(stderr, "tailor table: cannot run %s\n", argv[0]);
    _exit(127);
  }
  close(fd);
  return pid;
}

struct Running {
  size_t cell;
  pid_t pid;
  double t0;
};

}  // namespace

int cmd_table(int argc, char** argv) {
  std::string spec_path, out;
  int jobs = 1, threads = 1;
  double stop_after = 0, status_every = 30;
  bool dry_run = false;
  std::vector<std::string> sets;
  try {
    Args a(argc, argv, {"spec", "out", "jobs", "threads", "stop-after", "status-every"}, {"help", "dry-run"}, {"set"});
    if (a.has("help")) {
      std::cout << kTableUsage;
      return 0;
    }
    if (!a.has("spec")) throw UsageError("--spec FILE is required");
    spec_path = a.str("spec", "");
    jobs = (int)a.integer("jobs", 1, 1, 1024);
    const int cores = (int)std::max(1u, std::thread::hardware_concurrency());
    threads = (int)a.integer("threads", std::max(1, cores / jobs), 1, 1024);
    stop_after = a.number("stop-after", 0, 1e-3, 1e9);
    status_every = a.number("status-every", 30, 0.1, 1e9);
    dry_run = a.has("dry-run");
    sets = a.list("set");
    for (auto& s : sets) {
      const std::string kv = s.find(':') < s.find('=') ? s.substr(s.find(':') + 1) : s;
      if (kv.rfind("runs_dir=", 0) == 0 || kv.rfind("name=", 0) == 0 || kv.rfind("seed=", 0) == 0)
        throw UsageError("--set " + s + ": the table sets runs_dir, name and seed of its cells itself");
    }
    out = a.str("out", "");
  } catch (const UsageError& e) {
    std::cerr << "tailor table: " << e.what() << "\n" << kTableUsage;
    return 2;
  }
  const TableSpec spec = load_table_spec(spec_path);
  if (out.empty()) out = (fs::path("runs") / "tables" / spec.stem).string();
  for (auto& s : sets)
    if (s.find(':') < s.find('=')) {
      const std::string scope = s.substr(0, s.find(':'));
      bool known = false;
      for (auto& c : spec.columns) known = known || c.group == scope || c.name == scope;
      if (!known) {
        std::cerr << "tailor table: --set " << s << ": no column of " << spec_path << " has the group or name '"
                  << scope << "'\n";
        return 2;
      }
    }
  std::vector<std::string> extra = sets;
  extra.push_back("threads=" + std::to_string(threads));
  std::vector<TableCell> cells = table_cells(spec, out, extra);
  if (cells.empty()) throw std::runtime_error(spec_path + ": no cell (no row has a recipe for any column's group)");

  // each cell's config, checked before anything runs; what to do with its directory
  std::vector<Action> action(cells.size());
  std::vector<std::string> moved_root(cells.size());  // a cell to resume whose data.root is not its run's
  std::map<std::string, std::string> failures;
  for (size_t i = 0; i < cells.size(); ++i) {
    TableCell& c = cells[i];
    Json cfg;
    try {
      cfg = resolve_config(c.recipe, c.sets, false);
      c.shot_rule = parse_shot_rule(cfg.at("eval"));  // a finished run grouped otherwise is regrouped (table.h)
      c.has_shot_rule = true;
    } catch (const ConfigError& e) {
      throw ConfigError("cell " + c.id + " (" + c.recipe + "): " + e.what());
    }
    const fs::path dir = fs::path(out) / "runs" / c.id;
    if (!fs::exists(dir)) {
      action[i] = Action::Start;
      continue;
    }
    if (!run_finished(dir.string()) && !fs::is_regular_file(dir / "checkpoints" / "train_state.safetensors")) {
      action[i] = Action::Restart;  // nothing to lose: no state to resume from
      continue;
    }
    Json saved = Json::object();
    try {
      merge_config(saved, load_config_file((dir / "config.json").string()), (dir / "config.json").string());
      saved = expand_config(saved);
    } catch (const std::exception& e) {
      saved = Json();
    }
    if (saved.is_null() || comparable_hash(saved) != comparable_hash(cfg)) {
      action[i] = Action::Mismatch;
      failures[c.id] = "its run directory " + dir.string() +
                       " holds a run of another config (the spec or --set changed since); move it away to rerun";
      continue;
    }
    action[i] = run_finished(dir.string()) ? Action::Done : Action::Resume;
    if (saved["data"]["root"] != cfg["data"]["root"]) moved_root[i] = cfg["data"]["root"].get<std::string>();
  }
  const int cores = (int)std::max(1u, std::thread::hardware_concurrency());
  if (jobs * threads > cores)
    std::cout << "table: warning: " << jobs << " cells x " << threads << " threads > " << cores
              << " cores: the cells will slow each other down\n";
  size_t n_done = std::count(action.begin(), action.end(), Action::Done);
  std::cout << "table: " << spec.title << ": " << cells.size() << " cells (" << spec.rows.size() << " rows x "
            << spec.columns.size() << " columns x " << spec.seeds.size() << (spec.seeds.size() == 1 ? " seed), " : " seeds), ") << n_done
            << " already done, " << std::count(action.begin(), action.end(), Action::Resume) << " to resume; "
            << jobs << " at a time, " << threads << " thread" << (threads == 1 ? "" : "s") << " each; output "
            << out << "\n";

  char exe_buf[4096];
  const ssize_t len = readlink("/proc/self/exe", exe_buf, sizeof exe_buf - 1);
  if (len <= 0) throw std::runtime_error("cannot find this program's path (/proc/self/exe)");
  const std::string exe(exe_buf, (size_t)len);
  auto command = [&](size_t i, double stop_s) {
    const TableCell& c = cells[i];
    std::vector<std::string> args = {exe, "train"};
    if (action[i] == Action::Resume) {
      args.insert(args.end(), {"--resume", (fs::path(out) / "runs" / c.id).string()});
      // a moved dataset (the spec's, a row's or column's, or the command line's data.root): the only --set a
      // resume accepts
      if (!moved_root[i].empty()) args.insert(args.end(), {"--set", "data.root=" + moved_root[i]});
    } else {
      args.insert(args.end(), {"--config", c.recipe});
      for (auto& s : c.sets) args.insert(args.end(), {"--set", s});
      if (action[i] == Action::Restart) args.push_back("--overwrite");
    }
    args.push_back("--no-report");
    if (stop_s > 0) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%.3f", std::max(stop_s, 0.001));  // never "0.000", which train refuses
      args.insert(args.end(), {"--stop-after", buf});
    }
    return args;
  };
  if (dry_run) {
    for (size_t i = 0; i < cells.size(); ++i) {
      std::cout << cells[i].id << ": " << action_name(action[i]);
      if (action[i] == Action::Mismatch) std::cout << ": " << failures[cells[i].id];
      std::cout << "\n";
      if (action[i] != Action::Done && action[i] != Action::Mismatch) {
        std::cout << " ";
        for (auto& a : command(i, stop_after))  // quoted for a shell where needed
          std::cout << " " << (a.find_first_of(" \"'{}$\\") == std::string::npos ? a : "'" + a + "'");
        std::cout << "\n";
      }
    }
    return 0;
  }

  fs::create_directories(fs::path(out) / "logs");
  fs::create_directories(fs::path(out) / "runs");
  std::vector<size_t> pending;
  for (size_t i = 0; i < cells.size(); ++i)
    if (action[i] != Action::Done && action[i] != Action::Mismatch) pending.push_back(i);
  std::reverse(pending.begin(), pending.end());  // popped from the back: spec order
  std::vector<Running> running;
  size_t n_failed = failures.size(), n_stopped = 0;
  const double t0 = monotonic_seconds();
  double last_status = t0;
  auto status_line = [&]() {
    std::cout << "[table " << format_duration(monotonic_seconds() - t0) << "] done " << n_done << "/" << cells.size()
              << "  running " << running.size() << "  failed " << n_failed << "  pending " << pending.size();
    for (auto& r : running)
      std::cout << (&r == &running.front() ? "  |  " : "; ") << cells[r.cell].id << ": "
                << cell_epoch(fs::path(out) / "runs" / cells[r.cell].id,
                              fs::path(out) / "logs" / (cells[r.cell].id + ".log"));
    std::cout << std::endl;
  };
  for (size_t i = 0; i < cells.size(); ++i)
    if (action[i] == Action::Mismatch) std::cout << "refused " << cells[i].id << ": " << failures[cells[i].id] << "\n";
  install_stop_signals();
  bool forwarded = false;  // a stop signal passed on to the running cells
  while (!pending.empty() || !running.empty()) {
    const double now = monotonic_seconds();
    const int signal = pending_stop_signal();  // SIGTERM / SIGINT / SIGUSR1: no new cell, the running ones stop
    if (signal != 0 && !forwarded) {
      std::cout << stop_signal_name(signal) << ": the running cells stop with their state saved; no new cell starts"
                << std::endl;
      for (auto& r : running) kill(r.pid, SIGTERM);
      forwarded = true;
    }
    const bool out_of_time = (stop_after > 0 && now - t0 >= stop_after) || signal != 0;
    while (!pending.empty() && (int)running.size() < jobs && !out_of_time) {
      const size_t i = pending.back();
      pending.pop_back();
      const fs::path log = fs::path(out) / "logs" / (cells[i].id + ".log");
      running.push_back({i, spawn(command(i, stop_after > 0 ? stop_after - (now - t0) : 0), log), now});
      std::cout << action_name(action[i]) << " " << cells[i].id << " (log " << log.string() << ")" << std::endl;
    }
    if (out_of_time && running.empty()) break;
    int status = 0;
    const pid_t pid = waitpid(-1, &status, WNOHANG);
    if (pid <= 0) {
      if (monotonic_seconds() - last_status >= status_every) {
        status_line();
        last_status = monotonic_seconds();
      }
      usleep(100000);
      continue;
    }
    auto it = std::find_if(running.begin(), running.end(), [pid](const Running& r) { return r.pid == pid; });
    if (it == running.end()) continue;
    const TableCell& c = cells[it->cell];
    const fs::path dir = fs::path(out) / "runs" / c.id;
    const std::string took = format_duration(monotonic_seconds() - it->t0);
    running.erase(it);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    if (code == 0 && run_finished(dir.string())) {
      ++n_done;
      const RunNumbers n = read_run_numbers(dir.string());
      std::cout << "done " << c.id << "  top-1 " << fmt_num(n.top1) << " (last " << fmt_num(n.top1_last)
                << ", best " << fmt_num(n.top1_best) << " by " << n.best_by << ")  " << took << std::endl;
    } else if (code == kExitStopped) {
      ++n_stopped;
      std::cout << "stopped " << c.id << " (state saved; rerun the table to continue)  " << took << std::endl;
    } else {
      ++n_failed;
      const std::string why = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                              : code == 0       ? "exit status 0 without a complete summary.json"
                                                : "exit status " + std::to_string(code);
      const std::vector<std::string> tail = log_tail(fs::path(out) / "logs" / (c.id + ".log"), 5);
      std::cout << "FAILED " << c.id << ": " << why << "; last lines of logs/" << c.id << ".log:\n";
      for (auto& l : tail) std::cout << "    " << l << "\n";
      std::cout.flush();
      failures[c.id] = why + (tail.empty() ? "" : ": " + tail.back());
    }
  }
  status_line();
  const Json table = aggregate_table(spec, cells, out, failures);
  write_table_files(table, out);
  const std::string md = table_markdown(table);
  std::cout << "\n" << md.substr(0, md.find("\n## All cells")) << "\n\ntable: " << (fs::path(out) / "table.md").string()
            << ", table.html, table.json\n";
  if (n_failed) return 1;
  return n_stopped || !pending.empty() ? kExitStopped : 0;
}

}  // namespace tailor
