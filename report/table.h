// Tables of runs: a spec (JSON) of rows (a recipe + overrides) x columns (overrides, grouped by dataset,
// each with a value on the table's axis, e.g. the imbalance ratio) x seeds, the cells it makes (each an
// ordinary run directory), and the aggregated table written from the cells' files: table.json, table.md,
// table.html and one plot per column group. `tailor table` (tools/cmd_table.cpp) runs the cells; `tailor
// compare` (tools/cmd_compare.cpp) puts arbitrary finished runs side by side. The spec format is in
// docs/cli.md ("tailor table").
#pragma once
#include <map>
#include <string>
#include <vector>

#include "data/shots.h"
#include "train/config.h"  // Json

namespace tailor {

struct TableColumn {
  std::string name;   // [A-Za-z0-9_-]+, part of the cells' directory names and of the rows' "paper" keys
  std::string group;  // e.g. the dataset: one summary table and one plot per group ("" = one group)
  double x = 0;       // its value on the table's axis (the plot's x)
  std::string label;  // column heading ("" = x)
  std::vector<std::string> sets;  // key=value overrides of its cells
};

struct TableRow {
  std::string name, label;                    // label "" = name
  std::map<std::string, std::string> recipe;  // per column group ("" = every group); paths made absolute
  std::vector<std::string> sets;
  std::map<std::string, double> paper;  // column name -> the paper's top-1 (%)
  std::string paper_source;             // where the paper's numbers come from
};

struct TableSpec {
  std::string path, stem;  // the spec file, its name without .json
  std::string title, description, axis = "x";
  std::string compare = "best";  // which of our top-1 numbers the paper's is compared with: best | last
  std::vector<int> seeds = {0};
  std::vector<std::string> sets;  // every cell
  std::vector<TableColumn> columns;
  std::vector<TableRow> rows;
};

// Reads and checks a spec; an unknown key, a wrong type, a duplicate or malformed name, a paper number for
// an unknown column or a missing recipe file is an error naming the file and the key.
TableSpec load_table_spec(const std::string& path);

// One run of the table: row x column x seed, the run directory <out>/runs/<id> and its log <out>/logs/<id>.log.
struct TableCell {
  int row = 0, col = 0, seed = 0;
  std::string id;      // "<row>.<column>.seed<seed>"
  std::string recipe;  // "" = the row has no recipe for the column's group: no cell
  std::vector<std::string> sets;  // spec sets, row sets, column sets, `extra_sets`, then runs_dir / name / seed
  // The shot groups its config asks for (set by the table runner from the resolved config): a finished run
  // evaluated under other groups (eval.groups changed in the spec since) is regrouped from its eval.json.
  bool has_shot_rule = false;
  data::ShotRule shot_rule;
};
// Every cell with a recipe, in row, column, seed order; extra_sets (the command line's --set) beat the spec's.
// An extra set "GROUP:key=value" applies only to the columns of that group (e.g. each dataset's data.root).
std::vector<TableCell> table_cells(const TableSpec& spec, const std::string& out_dir,
                                   const std::vector<std::string>& extra_sets);
// "key=value" of `set` for a cell of column `col`: the set itself, its part after "SCOPE:" when SCOPE is the
// column's group or name, "" when it is scoped to another column.
std::string set_for_column(const std::string& set, const TableColumn& col);

// The numbers of one finished run directory (summary.json, eval.json, metrics.jsonl, config.json). NaN = n/a.
struct RunNumbers {
  std::string dir, name, error;  // error: why the run is not (completely) finished; "" = finished
  double top1 = 0;               // eval.json's: the checkpoint the run reports
  double top1_last = 0, top1_best = 0;  // the last stage's last epoch / best epoch, test split
  std::string best_by;   // the split that chose "best": test | val (eval.select), or "-" (no selection)
  std::string checkpoint, select;  // eval.json's checkpoint, config eval.select
  double balanced = 0, many = 0, medium = 0, few = 0;
  std::string groups;             // the shot-group rule in one line (eval.json's shot_groups)
  double wall_s = 0, img_per_s = 0;
  std::vector<std::string> class_names;
  std::vector<double> per_class, train_counts, test_counts;
  double samples = 0;  // test images evaluated
  std::string engine;  // engine_text(summary.json)
};
// Reads a run directory; never throws: a missing or malformed file sets `error`.
RunNumbers read_run_numbers(const std::string& dir);
// Many / medium / few (and `groups`) of a finished run under `rule` instead of the rule it was evaluated
// with: each group's accuracy is the mean of its classes' accuracies (classes without test images left out),
// as the evaluation computes it, from eval.json's per_class_acc and train_counts. True when they changed.
bool regroup_run_numbers(RunNumbers& r, const data::ShotRule& rule);
// True when summary.json and eval.json of `dir` are complete (a finished run).
bool run_finished(const std::string& dir);

// Mean and sample standard deviation (n - 1) of the finite values; std NaN when n < 2, mean NaN when n = 0.
struct MeanStd {
  int n = 0;
  double mean = 0, std = 0;
};
MeanStd mean_std(const std::vector<double>& values);

// The aggregated table (table.json's document): per cell the statistics over its seeds. `failures`: cell id
// -> why it failed this time (the runner's exit status and log tail); a cell that is neither finished nor
// failed is "pending". Deterministic: the same cells' files give the same document (timing under "timing").
Json aggregate_table(const TableSpec& spec, const std::vector<TableCell>& cells, const std::string& out_dir,
                     const std::map<std::string, std::string>& failures);

// The shot-group rules of the finished cells, each with the columns whose cells used it (in spec order):
// {rule, "rho 10, rho 50"} (their labels); one entry when every cell shares one rule. For table.md and table.html.
std::vector<std::pair<std::string, std::string>> shot_group_rules(const Json& table);
// Which tailor trained a run, from its summary.json: "<commit> (<build>)" (engine_version, engine_build); for a run
// continued by other builds (engine_history) "<commit> (<build>) to global step N, then tailor <commit> (<build>)";
// "" for a run written before engine_version was kept.
std::string engine_text(const Json& summary);
// Which tailor builds trained the finished runs (table.json "engines"): {"Engine: tailor <commit> (<build>), every
// finished run."} when one did, {} when none recorded it, else a "Note: ..." line then one line per build with its
// runs' cell ids. For table.md and table.html.
std::vector<std::string> table_engine_lines(const Json& table);
// table.md: the results (deterministic), then a "## Timing" section (wall time, img/s) that may differ.
std::string table_markdown(const Json& table);
// table.html (self-contained but for the PNGs beside it) and the plots <out>/plots/<group>.png.
void write_table_page(const Json& table, const std::string& out_dir);
// table.json, table.md, table.html and the plots, each written atomically.
void write_table_files(const Json& table, const std::string& out_dir);

// The page style of report.html, for the table and compare pages (HTML escaping: report/html.h).
extern const char* const kTablePageStyle;
// "12.34" / "n/a" (NaN); "12.34 ± 0.56" for a MeanStd (± only when n >= 2).
std::string fmt_num(double v, int decimals = 2);
std::string fmt_mean_std(const Json& stat, int decimals = 2);

}  // namespace tailor
