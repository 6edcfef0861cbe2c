// The run's stages checked as a whole before any of them trains. A stage's setup refuses what it cannot start
// from — a classifier of the wrong kind, a teacher of other classes, an augmentation the data cannot take —
// but only when that stage starts, after the stages before it trained; and a resume then refuses the
// corrected config. These checks find the same problems first: the classifier heads (from the config alone,
// while the config is resolved, and again with the load files' heads once the trainer starts), the files a
// stage loads or distils from, and what needs the data (train/trainer.cpp, after the data is loaded).
#pragma once
#include <ostream>
#include <functional>
#include <string>
#include <vector>

#include "train/config.h"
#include "train/run_config.h"
#include "train/run_data.h"

namespace tailor {

// The head a stage's `load` file gives the model, as checkpoints name it (head_kind), given the head before
// it; "" when it is not known (then no stage's head is checked until one sets a known head).
using LoadFileHead = std::function<std::string(const std::string& stage_key, const std::string& path,
                                               const std::string& head_before)>;

// Follows the classifier head through the stages of a resolved config: stage 1 and a fresh stage start from
// model.head, a stage loading the previous stage's checkpoint from the head that stage leaves
// (MethodSpec::leaves_head), a stage loading a file from load_file_head's answer (nullptr: not known).
// Throws ConfigError naming the stage, its method, the head and where it comes from when a method cannot
// start from it (MethodSpec::starts_from). `trained_heads` (optional) gets each stage's trained head ("": not
// known).
void check_stage_heads(const Json& cfg, const LoadFileHead& load_file_head = nullptr,
                       std::vector<std::string>* trained_heads = nullptr);

// A loss on a head it does not expect, per training stage (the head followed as check_stage_heads does): a
// cosine-margin loss (ldam, gcl, gcl_ang) on a head whose logits are not raw cosines, another loss on the raw
// cosines of a normed head.
std::vector<std::string> head_loss_warnings(const RunConfig& cfg);

// What the stages from `from` on (1, or the stage a resume continues) need of the file system, checked before
// any data is read: each method's own checks (MethodSpec::check: a teacher file exists) and each load file.
// A finished stage's files are not needed again.
void check_stage_files(const RunConfig& cfg, int from);

// Before stage `from` trains (1, or the stage a resume continues): the heads with the load files' own;
// every load and teacher file of stage `from` on read (its checksum verified) and checked against the run's
// architecture, classes and input channels; each training stage's augmentation and its method's second view
// against the data; each method's own checks on the data and the ranks (MethodSpec::check_data). A wrong
// setting is a ConfigError, an unreadable or damaged file the reader's error, both naming the key.
// `warnings` (optional) gets what can run but may not do what the config means (an EQL threshold that marks no
// class rare: the loss is plain cross-entropy).
void check_stage_plan(const RunConfig& cfg, const RunData& data, int world, int from, std::ostream* warnings = nullptr);

// model.init_from failed to load strictly: when the file is a checkpoint tailor wrote of another architecture,
// class count, channel count or head, throws a ConfigError saying which (the load's own error names tensors);
// else returns, and the load's error stands.
void explain_init_from_failure(const RunConfig& cfg, const RunData& data);

}  // namespace tailor
