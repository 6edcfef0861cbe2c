// `tailor table` end to end on tables/ci_tiny.json (Fashion-MNIST-LT, 2 methods x 2 ratios x 2 seeds, a few
// steps per cell): the uninterrupted table equals one whose first cells were killed mid-epoch (SIGKILL through
// TAILOR_KILL_AT_STEP, no further cell started: --stop-after) and then resumed, cell by cell (eval.json) and
// in table.md (all but the timing section); a rerun keeps every finished cell; a changed config is refused;
// a failing cell does not stop the others. `tailor compare` on two of the runs. Skipped without the
// Fashion-MNIST package (like test_train_cli).
#include <doctest/doctest.h>

#include <algorithm>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>

#include "cli_run.h"
#include "engine/version.h"
#include "train_cli.h"

namespace fs = std::filesystem;
using train_cli::slurp;

namespace {

const std::string kSpec = std::string(TAILOR_SOURCE_DIR) + "/tables/ci_tiny.json";

// table.md without its timing section (the only part that may differ between two executions).
std::string results(const fs::path& out) {
  const std::string md = slurp(out / "table.md");
  REQUIRE(md.find("\n## Timing") != std::string::npos);
  return md.substr(0, md.find("\n## Timing"));
}

size_t count(const std::string& s, const std::string& what) {
  size_t n = 0;
  for (size_t p = s.find(what); p != std::string::npos; p = s.find(what, p + 1)) ++n;
  return n;
}

const char* kCells[] = {"ce.r10.seed0",  "ce.r10.seed1",  "ce.r20.seed0",  "ce.r20.seed1",
                        "gcl.r10.seed0", "gcl.r10.seed1", "gcl.r20.seed0", "gcl.r20.seed1"};

}  // namespace

TEST_CASE("tailor table: killed and resumed equals uninterrupted; reruns keep finished cells") {
  if (!train_cli::have_fashion_mnist()) {
    MESSAGE("skipped: the Fashion-MNIST package is not installed");
    return;
  }
  const fs::path tmp = train_cli::temp_folder("tailor_table_cli_");
  const std::string env = "OMP_NUM_THREADS=1";
  const std::string common = "table --spec " + kSpec + " --jobs 2 --threads 1 --status-every 1000 --out ";

  const Run a = run(common + (tmp / "a").string(), env);
  INFO(a.out);
  REQUIRE(a.code == 0);
  CHECK(a.out.find("done 8/8") != std::string::npos);
  for (const char* f : {"table.md", "table.html", "table.json", "plots/group0.png"}) CHECK(fs::exists(tmp / "a" / f));
  const std::string engine_line = "Engine: tailor " + std::string(tailor::version_commit()) + " (" +
                                  tailor::version_build() + "), every finished run.";
  CHECK(slurp(tmp / "a" / "table.md").find("\n" + engine_line + "\n") != std::string::npos);
  CHECK(slurp(tmp / "a" / "table.html").find(engine_line) != std::string::npos);
  CHECK(a.out.find(engine_line) != std::string::npos);  // (stdout shows table.md up to its cell list)

  // the first two cells are SIGKILLed after their second step (before the end of their first epoch; that step's state is saved), and
  // the table starts no other (--stop-after: its time is up at once)
  const fs::path b = tmp / "b";
  const Run b1 = run(common + b.string() + " --stop-after 0.001", env + " TAILOR_KILL_AT_STEP=2");
  INFO(b1.out);
  CHECK(b1.code == 1);
  CHECK(count(b1.out, "killed by signal 9") == 2);
  CHECK(fs::exists(b / "runs" / "ce.r10.seed1" / "checkpoints" / "train_state.safetensors"));
  CHECK_FALSE(fs::exists(b / "runs" / "ce.r10.seed1" / "summary.json"));
  CHECK(count(slurp(b / "table.md"), "- not finished: ") == 6);
  CHECK(slurp(b / "table.md").find("- failed: ce.r10.seed0: killed by signal 9") != std::string::npos);
  fs::create_directories(b / "runs" / "gcl.r20.seed1");  // a directory without a state: restarted
  {  // a data.root set in the spec (the data moved) reaches the cells that resume, as a command-line one does
    std::string moved = slurp(kSpec);
    const std::string marker = "\"set\": [\n";
    moved.insert(moved.find(marker) + marker.size(), "    \"data.root=/usr/share/datasets/fashion-mnist/\",\n");
    for (size_t p = moved.find("../recipes/"); p != std::string::npos; p = moved.find("../recipes/"))
      moved.replace(p, 3, std::string(TAILOR_SOURCE_DIR) + "/");
    std::ofstream((tmp / "moved.json").string()) << moved;
    const Run dry = run("table --spec " + (tmp / "moved.json").string() + " --dry-run --out " + b.string(), env);
    CHECK(dry.code == 0);
    CHECK_MESSAGE(dry.out.find("--resume " + (b / "runs" / "ce.r10.seed1").string() +
                               " --set data.root=/usr/share/datasets/fashion-mnist/ --no-report") != std::string::npos,
                  dry.out);
  }

  const Run b2 = run(common + b.string(), env);
  INFO(b2.out);
  REQUIRE(b2.code == 0);
  CHECK(b2.out.find("resume ce.r10.seed0") != std::string::npos);
  CHECK(b2.out.find("resume ce.r10.seed1") != std::string::npos);
  CHECK(b2.out.find("restart (no state: --overwrite) gcl.r20.seed1") != std::string::npos);
  for (const char* c : kCells) {
    CAPTURE(c);
    CHECK(slurp(tmp / "a" / "runs" / c / "eval.json") == slurp(b / "runs" / c / "eval.json"));
  }
  CHECK(results(tmp / "a") == results(b));

  const Run b3 = run(common + b.string(), env);  // nothing left to do
  INFO(b3.out);
  CHECK(b3.code == 0);
  CHECK(b3.out.find("8 already done") != std::string::npos);
  CHECK(b3.out.find("start ") == std::string::npos);
  CHECK(results(tmp / "a") == results(b));
  // thirds of other counts per ratio: each column's rule, by its label, in table.md and table.html
  for (const std::string page : {"table.md", "table.html"}) {
    CAPTURE(page);
    const std::string text = slurp(b / page);
    const std::string item = page == "table.md" ? "\n- " : "<li>";
    CHECK(text.find(item + "rho 10: thirds of the classes by training count") != std::string::npos);
    CHECK(text.find(item + "rho 20: thirds of the classes by training count") != std::string::npos);
  }

  // other shot groups than the cells were evaluated with: the finished cells are kept and regrouped from their
  // per-class accuracies, to the numbers `tailor eval` gives under those groups
  const std::string groups = " --set eval.groups=counts --set eval.many_above=30 --set eval.few_below=10";
  const Run g = run(common + b.string() + groups, env);
  INFO(g.out);
  CHECK(g.code == 0);
  CHECK(g.out.find("8 already done") != std::string::npos);
  const std::string gmd = slurp(b / "table.md");
  CHECK(gmd.find("Shot groups (many / medium / few): many > 30, medium 10-30, few < 10 training images") !=
        std::string::npos);
  CHECK(gmd.find("Regrouped from their per-class accuracies (evaluated under other shot groups than the spec's): "
                 "ce.r10.seed0 ce.r10.seed1 ce.r20.seed0") != std::string::npos);
  const std::string ghtml = slurp(b / "table.html");
  CHECK(ghtml.find("Shot groups (many / medium / few): many &gt; 30, medium 10-30, few &lt; 10 training images") !=
        std::string::npos);
  CHECK(ghtml.find("Regrouped from their per-class accuracies (evaluated under other shot groups than the spec's): "
                   "ce.r10.seed0 ce.r10.seed1 ce.r20.seed0") != std::string::npos);
  const nlohmann::json tj = nlohmann::json::parse(slurp(b / "table.json"));
  double many = 0, few = 0;
  for (const char* seed : {"seed0", "seed1"}) {
    const fs::path out = tmp / (std::string("regroup_") + seed + ".json");
    const Run e = run("eval --run " + (b / "runs" / ("gcl.r10." + std::string(seed))).string() + groups + " --out " +
                      out.string(), env);
    REQUIRE_MESSAGE(e.code == 0, e.out);
    const nlohmann::json ej = nlohmann::json::parse(slurp(out));
    many += ej["many"].get<double>() / 2, few += ej["few"].get<double>() / 2;
  }
  int matched = 0;
  for (auto& cell : tj["cells"])
    if (cell["row"] == "gcl" && cell["column"] == "r10") {
      ++matched;
      CHECK(cell["many"]["mean"].get<double>() == doctest::Approx(many).epsilon(1e-6));
      CHECK(cell["few"]["mean"].get<double>() == doctest::Approx(few).epsilon(1e-6));
    }
  CHECK(matched == 1);
  CHECK(run(common + b.string(), env).code == 0);  // the cells' own groups again: nothing regrouped
  CHECK(results(tmp / "a") == results(b));

  // the same output folder with another config: every finished cell refused, none rerun or lost
  const Run b4 = run(common + b.string() + " --set stage1.optim.lr=0.5", env);
  INFO(b4.out);
  CHECK(b4.code == 1);
  CHECK(count(b4.out, "holds a run of another config") == 8);
  CHECK(fs::exists(b / "runs" / "ce.r10.seed0" / "summary.json"));

  // a row whose cells fail (no data at its root) next to the finished ones: they are marked failed with their
  // log's last line, the others are kept and aggregated as before
  const fs::path c = tmp / "c";
  fs::copy(tmp / "a", c, fs::copy_options::recursive);
  std::string spec = slurp(kSpec);
  const std::string marker = "\"rows\": [";
  spec.insert(spec.find(marker) + marker.size(),
              R"({"name": "broken", "recipe": "../recipes/fashion_mnist_lt/gcl_default.json",
                  "set": ["data.root=/nonexistent/fashion-mnist"]},)");
  for (size_t p = spec.find("../recipes/"); p != std::string::npos; p = spec.find("../recipes/"))
    spec.replace(p, 3, std::string(TAILOR_SOURCE_DIR) + "/");
  std::ofstream((tmp / "broken.json").string()) << spec;
  const Run cr = run("table --spec " + (tmp / "broken.json").string() + " --jobs 2 --threads 1 --out " + c.string(), env);
  INFO(cr.out);
  CHECK(cr.code == 1);
  CHECK(cr.out.find("8 already done") != std::string::npos);
  CHECK(count(cr.out, "FAILED broken.") == 4);
  const std::string md = slurp(c / "table.md");
  CHECK(count(md, "- failed: broken.") == 4);
  CHECK(md.find("/nonexistent/fashion-mnist") != std::string::npos);
  CHECK(md.find("| broken | failed | failed |") != std::string::npos);
  const std::string ra = results(tmp / "a");
  for (const char* row : {"| ce | r10 |", "| gcl | r20 |"}) {  // the finished cells' lines are unchanged
    const size_t p = ra.find(row);
    REQUIRE(p != std::string::npos);
    CHECK(md.find(ra.substr(p, ra.find('\n', p) - p)) != std::string::npos);
  }

  // compare: markdown with the differences to the first run, and the HTML page
  const Run cmp = run("compare " + (tmp / "a" / "runs" / "ce.r10.seed0").string() + " " +
                      (tmp / "a" / "runs" / "gcl.r10.seed0").string() + " --html " + (tmp / "cmp.html").string());
  INFO(cmp.out);
  CHECK(cmp.code == 0);
  CHECK(cmp.out.find("| ce.r10.seed0 | stage1_") != std::string::npos);
  CHECK(cmp.out.find("diff gcl.r10.seed0") != std::string::npos);
  CHECK(count(cmp.out, "\n| ") >= 2 + 10);  // the overall rows and one row per class
  CHECK(slurp(tmp / "cmp.html").find("<h2>Per class") != std::string::npos);
  CHECK(run("compare " + (tmp / "a" / "runs" / "ce.r10.seed0").string()).code == 2);
  CHECK(run("compare " + (tmp / "a").string() + " " + (tmp / "b").string()).code == 1);
  // --html into a missing folder: refused before any run is read
  const Run nofolder = run("compare " + (tmp / "a" / "runs" / "ce.r10.seed0").string() + " " +
                           (tmp / "a" / "runs" / "gcl.r10.seed0").string() + " --html /nonexistent/x.html");
  CHECK(nofolder.code == 2);
  CHECK(nofolder.out.find("--html /nonexistent/x.html: the folder /nonexistent does not exist") != std::string::npos);
  CHECK(nofolder.out.find("# Comparison") == std::string::npos);
  // a run on other classes (class 3 named otherwise): no per-class table, and said why
  const fs::path other = tmp / "other_classes";
  fs::copy(tmp / "a" / "runs" / "gcl.r10.seed0", other, fs::copy_options::recursive);
  nlohmann::json ev = nlohmann::json::parse(slurp(other / "eval.json"));
  REQUIRE(ev["class_names"].size() == 10);
  const std::string third = ev["class_names"][3];
  ev["class_names"][3] = "Anorak";
  std::ofstream((other / "eval.json").string()) << ev.dump();
  const Run diff = run("compare " + (tmp / "a" / "runs" / "ce.r10.seed0").string() + " " + other.string());
  CHECK(diff.code == 0);
  CHECK_MESSAGE(diff.out.find("The runs do not have the same classes (class 3 is '" + third + "' in ce.r10.seed0, "
                              "'Anorak' in other_classes): no per-class table") != std::string::npos, diff.out);
  // the same classes, other test images and training counts: said; a run that has not finished: said so
  ev["class_names"][3] = third;
  ev["samples"] = ev["samples"].get<int>() - 1;
  ev["test_counts"][0] = ev["test_counts"][0].get<int>() - 1;
  ev["train_counts"][9] = ev["train_counts"][9].get<int>() + 1;
  std::ofstream((other / "eval.json").string()) << ev.dump();
  const Run data = run("compare " + (tmp / "a" / "runs" / "ce.r10.seed0").string() + " " + other.string());
  CHECK(data.code == 0);
  CHECK_MESSAGE(data.out.find("Note: other_classes was tested on other images than ce.r10.seed0 (") !=
                    std::string::npos, data.out);
  CHECK(data.out.find("Note: other_classes trained on other counts per class than ce.r10.seed0: its many / medium / "
                      "few hold other classes.") != std::string::npos);
  CHECK(diff.out.find("Note:") == std::string::npos);  // (a per-class name differs, the data is the same)
  CHECK(diff.out.find("Engine: tailor " + std::string(tailor::version_commit()) + " (" + tailor::version_build() +
                      "), every run.") != std::string::npos);
  // a run trained by another commit: said, with each run's engine
  nlohmann::json sum = nlohmann::json::parse(slurp(other / "summary.json"));
  sum["engine_version"] = "0123456789ab";
  std::ofstream((other / "summary.json").string()) << sum.dump();
  const Run engines = run("compare " + (tmp / "a" / "runs" / "ce.r10.seed0").string() + " " + other.string());
  CHECK(engines.code == 0);
  CHECK_MESSAGE(engines.out.find("Note: the runs were trained by different tailor builds (other code, not only other "
                                 "settings, may explain a difference):\n- ce.r10.seed0: tailor " +
                                 std::string(tailor::version_commit()) + " (" + tailor::version_build() +
                                 ")\n- other_classes: tailor 0123456789ab (" + tailor::version_build() + ")\n") !=
                    std::string::npos,
                engines.out);
  fs::remove(other / "summary.json");
  const Run unfinished = run("compare " + (tmp / "a" / "runs" / "ce.r10.seed0").string() + " " + other.string());
  CHECK(unfinished.code == 1);
  CHECK(unfinished.out.find(other.string() + ": the run has not finished: continue it with `tailor train --resume " +
                            other.string() + "`") != std::string::npos);
  // 150 classes (as ImageNet-LT's 1,000): stdout lists the 40 that changed most, the HTML page every class
  const fs::path wide_a = tmp / "wide_a", wide_b = tmp / "wide_b";
  for (const fs::path& w : {wide_a, wide_b}) {
    fs::copy(tmp / "a" / "runs" / "ce.r10.seed0", w, fs::copy_options::recursive);
    nlohmann::json e = nlohmann::json::parse(slurp(w / "eval.json"));
    nlohmann::json acc = nlohmann::json::array(), names = nlohmann::json::array(), n = nlohmann::json::array();
    for (int c = 0; c < 150; ++c) {
      acc.push_back(w == wide_b && c >= 100 ? 10.0 + c % 7 : 50.0);  // b: classes 100..149 lose 34..40 points
      names.push_back("class" + std::to_string(c));
      n.push_back(200 - c);
    }
    e["per_class_acc"] = acc, e["class_names"] = names, e["train_counts"] = n, e["test_counts"] = n;
    e.erase("confusion");
    e.erase("weight_norms");
    std::ofstream((w / "eval.json").string()) << e.dump();
  }
  const Run wide = run("compare " + wide_a.string() + " " + wide_b.string() + " --html " + (tmp / "wide.html").string());
  CHECK_MESSAGE(wide.code == 0, wide.out);
  CHECK_MESSAGE(wide.out.find("150 classes: the 40 whose accuracy differs most from wide_a's (" +
                              (tmp / "wide.html").string() + " has every class).") != std::string::npos, wide.out);
  CHECK(wide.out.find("| 105 | class105 |") != std::string::npos);  // -40, the largest change
  CHECK(wide.out.find("| 104 | class104 |") == std::string::npos);  // -34, the smallest of the 50 changes
  CHECK(wide.out.find("| 99 | class99 |") == std::string::npos);    // unchanged
  CHECK(std::count(wide.out.begin(), wide.out.end(), '\n') < 80);
  CHECK(slurp(tmp / "wide.html").find(">class99<") != std::string::npos);
}

TEST_CASE("tailor table: bad flags, scoped overrides and config errors before anything runs") {
  Run r = run("table --spec " + kSpec + " --jobz 2");
  CHECK(r.code == 2);
  CHECK(r.out.find("did you mean --jobs?") != std::string::npos);
  CHECK(run("table --jobs 2").out.find("--spec FILE is required") != std::string::npos);
  r = run("table --spec " + kSpec + " --dry-run --set name=x");
  CHECK(r.code == 2);
  CHECK(r.out.find("the table sets runs_dir, name and seed") != std::string::npos);
  r = run("table --spec " + kSpec + " --dry-run --set Nope:data.root=/d");
  CHECK(r.code == 2);
  CHECK(r.out.find("has the group or name 'Nope'") != std::string::npos);
  r = run("table --spec " + kSpec + " --dry-run --set Fashion-MNIST-LT:data.root=/d --out /nonexistent/t");
  CHECK(r.code == 0);
  CHECK(count(r.out, "--set data.root=/d ") == 8);
  CHECK(count(r.out, ": start\n") == 8);
  CHECK_FALSE(fs::exists("/nonexistent/t"));
  r = run("table --spec " + kSpec + " --dry-run --set stage1.nope=1");
  CHECK(r.code == 2);
  CHECK(r.out.find("config error: cell ce.r10.seed0") != std::string::npos);
  r = run("table --spec /nonexistent/spec.json");
  CHECK(r.code == 2);  // the spec's errors are config errors, like a cell's
  CHECK(r.out.find("cannot read table spec /nonexistent/spec.json") != std::string::npos);
  const fs::path tmp = train_cli::temp_folder("tailor_table_spec_");
  for (const auto& [seeds, why] : {std::pair<std::string, std::string>{"[4294967296]", "expected integers in [0, 2147483647]"},
                                   {"[2147483648]", "expected integers in [0, 2147483647]"},
                                   {"[1, 1]", "seed 1 given twice"}}) {
    std::string spec = slurp(kSpec);
    spec.replace(spec.find("[0, 1]"), 6, seeds);
    std::ofstream((tmp / "seeds.json").string()) << spec;
    r = run("table --dry-run --spec " + (tmp / "seeds.json").string());
    CHECK(r.code == 2);
    CHECK_MESSAGE(r.out.find((tmp / "seeds.json").string() + ": seeds: " + why) != std::string::npos, r.out);
  }
  fs::remove_all(tmp);
}

TEST_CASE("tailor table: every shipped spec resolves every cell (dry run)") {
  // the specs in tables/ are read with their recipes and every cell's config resolved (a renamed key, a recipe
  // moved or a refused setting fails here, naming the cell), nothing run
  const fs::path tmp = train_cli::temp_folder("tailor_table_specs_");
  size_t specs = 0;
  for (const auto& e : fs::directory_iterator(std::string(TAILOR_SOURCE_DIR) + "/tables")) {
    if (e.path().extension() != ".json") continue;
    CAPTURE(e.path().string());
    const Run r = run("table --dry-run --spec " + e.path().string() + " --out " + (tmp / e.path().stem()).string());
    CHECK_MESSAGE(r.code == 0, r.out);
    CHECK(count(r.out, ": start\n") > 0);
    ++specs;
  }
  CHECK(specs >= 9);
  // the seed methods' tables: a row without a recipe for a dataset has no cell there
  const Run large = run("table --dry-run --spec " + std::string(TAILOR_SOURCE_DIR) +
                        "/tables/seed_methods_large.json --out " + (tmp / "large").string());
  CHECK(large.out.find("17 cells (8 rows x 3 columns x 1 seed)") != std::string::npos);
  CHECK(large.out.find("recipes/inat2018/cbd_ens.json") != std::string::npos);
  CHECK(large.out.find("ssd.places_lt") == std::string::npos);
  fs::remove_all(tmp);
}
