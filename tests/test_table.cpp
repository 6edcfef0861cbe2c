// The table's aggregation (report/table.h) against NumPy: tests/make_table_fixture.py fabricates finished
// (and one unfinished) cell directories under tests/fixtures/table_cells and computes, per cell, mean and
// sample std over the seeds of top-1 last / best, balanced and many / medium / few; the C++ aggregation of
// the same directories must give the same numbers. Also: the spec's errors, mean_std's edge cases, the
// rendering's determinism and the plots.
#include <doctest/doctest.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "report/table.h"
#include "train_cli.h"

namespace fs = std::filesystem;
using tailor::Json;

namespace {

const fs::path kCells = fs::path(TAILOR_FIXTURES) / "table_cells";

Json load(const fs::path& p) {
  std::ifstream in(p);
  return Json::parse(in);
}

void check_stat(const Json& got, const Json& want, const std::string& what) {
  CAPTURE(what);
  CHECK(got["n"] == want["n"]);
  for (const char* k : {"mean", "std"}) {
    CAPTURE(k);
    REQUIRE(got[k].is_null() == want[k].is_null());
    if (!want[k].is_null()) CHECK(got[k].get<double>() == doctest::Approx(want[k].get<double>()).epsilon(1e-12));
  }
}

// A spec file with `body` in a fresh folder; returns its path.
std::string spec_file(const std::string& body) {
  const std::string dir = train_cli::temp_folder("tailor_table_spec_");
  std::ofstream(dir + "/recipe.json") << "{}";
  std::ofstream(dir + "/t.json") << body;
  return dir + "/t.json";
}

std::string load_error(const std::string& body) {
  try {
    tailor::load_table_spec(spec_file(body));
  } catch (const std::exception& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST_CASE("table: mean and sample std of every cell equal NumPy's") {
  const tailor::TableSpec spec = tailor::load_table_spec((kCells / "spec.json").string());
  const auto cells = tailor::table_cells(spec, kCells.string(), {});
  REQUIRE(cells.size() == 12);
  const Json t = tailor::aggregate_table(spec, cells, kCells.string(), {});
  const Json want = load(kCells / "expected.json");
  REQUIRE(t["cells"].size() == want["cells"].size());
  for (size_t i = 0; i < want["cells"].size(); ++i) {
    const Json& g = t["cells"][i];
    const Json& w = want["cells"][i];
    CAPTURE(w["row"].get<std::string>() + "." + w["column"].get<std::string>());
    CHECK(g["row"] == w["row"]);
    CHECK(g["column"] == w["column"]);
    CHECK(g["status"] == w["status"]);
    CHECK(g["seeds"] == w["seeds"]);
    CHECK(g["best_by"] == w["best_by"]);
    for (const char* k : {"top1_last", "top1_best", "balanced", "many", "medium", "few"}) check_stat(g[k], w[k], k);
    REQUIRE(g["paper"].is_null() == w["paper"].is_null());
    if (!w["paper"].is_null()) {
      CHECK(g["paper"].get<double>() == w["paper"].get<double>());
      CHECK(g["diff"].get<double>() == doctest::Approx(w["diff"].get<double>()).epsilon(1e-12));
    }
  }
  // the unfinished seed is listed, a failure reported by the runner wins over the files
  const Json f = tailor::aggregate_table(spec, cells, kCells.string(), {{"one_stage.g1_r10.seed0", "exit status 1"}});
  CHECK(f["cells"][2]["status"] == "partial");
  CHECK(f["cells"][2]["failed"][0] == "one_stage.g1_r10.seed0: exit status 1");
  CHECK(f["cells"][2]["top1_best"]["n"] == 2);
  CHECK(t["cells"][3]["pending"][0] == "one_stage.g2_r100.seed2");
}

TEST_CASE("table: rendering is deterministic and writes the page and one plot per group") {
  const tailor::TableSpec spec = tailor::load_table_spec((kCells / "spec.json").string());
  const auto cells = tailor::table_cells(spec, kCells.string(), {});
  const Json t = tailor::aggregate_table(spec, cells, kCells.string(), {});
  const std::string md = tailor::table_markdown(t);
  CHECK(md == tailor::table_markdown(tailor::aggregate_table(spec, cells, kCells.string(), {})));
  CHECK(md.find("## G1 (top-1 best)") != std::string::npos);
  CHECK(md.find("65.24 ± 8.47 (paper 61.50, +3.74)") != std::string::npos);  // expected.json's first cell
  CHECK(md.find("| one_stage | g2_r100 | 2/3 |") != std::string::npos);
  CHECK(md.find("- not finished: one_stage.g2_r100.seed2") != std::string::npos);
  CHECK(md.find("## Timing") != std::string::npos);
  const std::string out = train_cli::temp_folder("tailor_table_page_");
  tailor::write_table_files(t, out);
  for (const char* f : {"table.json", "table.md", "table.html", "plots/group0.png", "plots/group1.png"}) {
    CAPTURE(f);
    CHECK(fs::file_size(fs::path(out) / f) > 100);
  }
  CHECK(train_cli::slurp(fs::path(out) / "table.md") == md);
  CHECK(train_cli::slurp(fs::path(out) / "table.html").find("<img src=\"plots/group1.png\"") != std::string::npos);
}

TEST_CASE("table: which tailor builds trained the finished runs") {
  const tailor::TableSpec spec = tailor::load_table_spec((kCells / "spec.json").string());
  Json t = tailor::aggregate_table(spec, tailor::table_cells(spec, kCells.string(), {}), kCells.string(), {});
  // the fixture's summary.json files predate engine_version: one entry, not recorded, no line
  REQUIRE(t["engines"].size() == 1);
  CHECK(t["engines"][0]["engine"] == "");
  CHECK(t["engines"][0]["runs"].size() == 11);  // every finished run (12 cells, one unfinished)
  CHECK(tailor::table_engine_lines(t).empty());
  CHECK(tailor::table_markdown(t).find("Engine:") == std::string::npos);
  t["engines"] = Json::array({Json{{"engine", "0123456789ab (CUDA off, MPI on, NCCL off, native)"},
                                   {"runs", {"a.seed0", "a.seed1"}}}});
  CHECK(tailor::table_engine_lines(t) ==
        std::vector<std::string>{"Engine: tailor 0123456789ab (CUDA off, MPI on, NCCL off, native), every finished run."});
  // a table resumed after the code changed: a note, then each build with its runs
  t["engines"].push_back(Json{{"engine", "ba9876543210-dirty (CUDA off, MPI on, NCCL off, native)"}, {"runs", {"b.seed0"}}});
  t["engines"].push_back(Json{{"engine", ""}, {"runs", {"c.seed0"}}});
  const std::string md = tailor::table_markdown(t);
  CHECK_MESSAGE(md.find("\nNote: the finished runs were trained by 3 tailor builds (other code, not only other settings, "
                        "may explain a difference):\n- tailor 0123456789ab (CUDA off, MPI on, NCCL off, native): a.seed0, "
                        "a.seed1\n- tailor ba9876543210-dirty (CUDA off, MPI on, NCCL off, native): b.seed0\n- not "
                        "recorded (before engine_version): c.seed0\n") != std::string::npos, md);
  CHECK(md.find("Note: the finished runs") < md.find("\n## "));  // in the part `tailor table` prints
  const std::string out = train_cli::temp_folder("tailor_table_engines_");
  tailor::write_table_files(t, out);
  CHECK(train_cli::slurp(fs::path(out) / "table.html").find("<li>tailor ba9876543210-dirty (CUDA off, MPI on, NCCL off, "
                                                            "native): b.seed0</li>") != std::string::npos);
}

TEST_CASE("table: run numbers of one directory") {
  const tailor::RunNumbers n = tailor::read_run_numbers((kCells / "runs" / "one_stage.g1_r10.seed0").string());
  CHECK(n.error.empty());
  CHECK(n.select == "last");
  CHECK(n.best_by == "test");
  CHECK(n.top1 == n.top1_last);
  CHECK(n.top1_best >= n.top1_last);
  CHECK(n.per_class.size() == 3);
  const tailor::RunNumbers u = tailor::read_run_numbers((kCells / "runs" / "one_stage.g2_r100.seed2").string());
  CHECK(u.error == "no summary.json");
  CHECK_FALSE(tailor::run_finished((kCells / "runs" / "one_stage.g2_r100.seed2").string()));
}

TEST_CASE("table: mean_std") {
  auto nan = std::nan("");
  tailor::MeanStd s = tailor::mean_std({1, 2, 3, 4, nan});
  CHECK(s.n == 4);
  CHECK(s.mean == doctest::Approx(2.5));
  CHECK(s.std == doctest::Approx(std::sqrt(5.0 / 3.0)));
  s = tailor::mean_std({7});
  CHECK(s.n == 1);
  CHECK(s.mean == 7);
  CHECK(std::isnan(s.std));
  s = tailor::mean_std({nan});
  CHECK(s.n == 0);
  CHECK(std::isnan(s.mean));
}

TEST_CASE("table: spec errors name the file and the key") {
  const std::string cols = R"("columns": [{"name": "a", "x": 1}])";
  const std::string rows = R"("rows": [{"name": "r", "recipe": "recipe.json"}])";
  CHECK(load_error("{" + cols + ", " + rows + "}").empty());
  CHECK(load_error("{" + cols + ", " + rows + ", \"colums\": 1}").find("t.json: colums: unknown key") !=
        std::string::npos);
  CHECK(load_error(R"({"columns": [{"name": "a b", "x": 1}], )" + rows + "}").find("columns[0].name: 'a b'") !=
        std::string::npos);
  CHECK(load_error(R"({"columns": [{"name": "a"}], )" + rows + "}").find("columns[0].x: expected a number") !=
        std::string::npos);
  CHECK(load_error("{" + cols + R"(, "rows": [{"name": "r", "recipe": "nope.json"}]})").find("recipe file not found") !=
        std::string::npos);
  CHECK(load_error("{" + cols + R"(, "rows": [{"name": "r", "recipe": "recipe.json", "paper": {"b": 1}}]})")
            .find("rows[0].paper.b: no column has this name") != std::string::npos);
  CHECK(load_error("{" + cols + R"(, "rows": [{"name": "r", "recipe": {"G": "recipe.json"}}]})")
            .find("rows[0].recipe.G: no column has this group") != std::string::npos);
  CHECK(load_error("{" + cols + ", " + rows + R"(, "seeds": [1, 1]})").find("seeds: seed 1 given twice") !=
        std::string::npos);
  CHECK(load_error("{" + cols + ", " + rows + R"(, "set": ["nokey"]})").find("set: expected \"key.path=value\"") !=
        std::string::npos);
  CHECK(load_error("{" + cols + ", " + rows + R"(, "set": ["seed=5"]})").find("the table sets runs_dir, name and seed of "
                                                                            "its cells itself") != std::string::npos);
  CHECK(load_error("{" + cols + ",\n" + rows + ",\n}").find("t.json:3") != std::string::npos);  // JSON syntax: line
}

TEST_CASE("table: cells are rows x columns x seeds with the overrides in order") {
  const std::string p = spec_file(R"({"seeds": [3, 4], "set": ["a=1"],
    "columns": [{"name": "c1", "group": "A", "x": 1, "set": ["b=2"]}, {"name": "c2", "group": "B", "x": 2}],
    "rows": [{"name": "r1", "recipe": {"A": "recipe.json"}, "set": ["c=3"]}, {"name": "r2", "recipe": "recipe.json"}]})");
  const tailor::TableSpec s = tailor::load_table_spec(p);
  const auto cells = tailor::table_cells(s, "/out", {"d=4"});
  REQUIRE(cells.size() == 6);  // r1 has no recipe for group B
  CHECK(cells[0].id == "r1.c1.seed3");
  CHECK(cells[1].id == "r1.c1.seed4");
  CHECK(cells[2].id == "r2.c1.seed3");
  CHECK(cells[5].id == "r2.c2.seed4");
  CHECK(cells[0].sets == std::vector<std::string>{"a=1", "c=3", "b=2", "d=4", "runs_dir=/out/runs", "name=r1.c1.seed3",
                                                  "seed=3"});
  CHECK(cells[0].recipe == (fs::path(p).parent_path() / "recipe.json").string());
}

TEST_CASE("table: a row's set scoped to a column (or a group) reaches only its cells; an unknown scope is refused") {
  const std::string p = spec_file(R"({"columns": [{"name": "c1", "group": "A", "x": 1}, {"name": "c2", "group": "A", "x": 2},
                                                  {"name": "c3", "group": "B", "x": 3}],
    "rows": [{"name": "r1", "recipe": "recipe.json", "set": ["a=1", "c2:b=2", "B:c=3"]}]})");
  const auto cells = tailor::table_cells(tailor::load_table_spec(p), "/out", {"c1:d=4"});
  REQUIRE(cells.size() == 3);
  CHECK(cells[0].sets == std::vector<std::string>{"a=1", "d=4", "runs_dir=/out/runs", "name=r1.c1.seed0", "seed=0"});
  CHECK(cells[1].sets == std::vector<std::string>{"a=1", "b=2", "runs_dir=/out/runs", "name=r1.c2.seed0", "seed=0"});
  CHECK(cells[2].sets == std::vector<std::string>{"a=1", "c=3", "runs_dir=/out/runs", "name=r1.c3.seed0", "seed=0"});
  const std::string bad = spec_file(R"({"columns": [{"name": "c1", "group": "A", "x": 1}],
    "rows": [{"name": "r1", "recipe": "recipe.json", "set": ["c9:b=2"]}]})");
  CHECK_THROWS_WITH_AS(tailor::load_table_spec(bad), doctest::Contains("\"c9:b=2\": c9 is no column's name or group"),
                       std::exception);
  // the spec's own set, a column's set of another column, a scoped key the table sets itself
  const std::string cols = R"("columns": [{"name": "c1", "group": "A", "x": 1}, {"name": "c2", "group": "B", "x": 2,
                                           "set": ["c1:b=2"]}])";
  CHECK_THROWS_WITH_AS(tailor::load_table_spec(spec_file(R"({"columns": [{"name": "c1", "group": "A", "x": 1}],
    "set": ["c9:b=2"], "rows": [{"name": "r1", "recipe": "recipe.json"}]})")),
                       doctest::Contains("set: \"c9:b=2\": c9 is no column's name or group"), std::exception);
  CHECK_THROWS_WITH_AS(tailor::load_table_spec(spec_file("{" + cols + R"(, "rows": [{"name": "r1", "recipe": "recipe.json"}]})")),
                       doctest::Contains("columns[1].set: \"c1:b=2\": c1 is not this column's name or group"),
                       std::exception);
  CHECK_THROWS_WITH_AS(tailor::load_table_spec(spec_file(R"({"columns": [{"name": "c1", "group": "A", "x": 1}],
    "rows": [{"name": "r1", "recipe": "recipe.json", "set": ["c1:seed=7"]}]})")),
                       doctest::Contains("the table sets runs_dir, name and seed of its cells itself"), std::exception);
}
