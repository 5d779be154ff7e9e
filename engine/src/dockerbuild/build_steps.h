// What each instruction of a stage means, as docker/BuildKit defines it: the image settings it
// changes, the command a RUN runs, the files a COPY/ADD copies, and the text that keys the cache
// and names the step in the image history. Nothing runs here; the executor carries the steps out.
//
// History text (Step::created_by) follows BuildKit's style: "RUN /bin/sh -c make # buildkit"
// (with "|N K=V ..." before the command when ARGs are in scope), "COPY --chown=1:1 a b /dst/ #
// buildkit", "ENV K=V", "LABEL k=v", "ARG K=V", "USER u", "WORKDIR /w", "EXPOSE 80/tcp",
// "VOLUME [/data]", "CMD [\"a\" \"b\"]" (Go's %q of a list), "SHELL [...]", "ENTRYPOINT [...]",
// "STOPSIGNAL SIGTERM", "HEALTHCHECK ...", "ONBUILD ...", "MAINTAINER ...". Steps that make a
// layer (RUN, COPY, ADD) end with " # buildkit"; the others are empty-layer entries.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/result.h"
#include "dockerbuild/build_plan.h"
#include "dockerbuild/dockerfile.h"
#include "dockerbuild/image_settings.h"

namespace matchlock::dockerbuild {

struct RunStep {
  std::vector<std::string> argv;
  // Image ENV then the ARGs in scope (not shadowed by ENV), then undeclared predefined proxy
  // --build-args: "K=V". ARGs are not persisted into the image.
  std::vector<std::string> env;
  std::string user;     // "" = the image default (root)
  std::string workdir;  // absolute; "/" when the image has none
  std::string network;  // RUN --network: "default" (also for absent), "none" or "host"
                        // (matchlock treats host as default)
};

struct CopyStep {
  bool add = false;  // ADD rather than COPY
  // Expanded, as written (relative to the context or the --from root; a leading '/' means the
  // same). For heredoc sources (`COPY <<EOF /f`): the heredoc's name, whose body is in
  // inline_files.
  std::vector<std::string> sources;
  std::vector<Heredoc> inline_files;  // bodies already expanded (unless quoted) and tab-stripped
  std::string dest;  // absolute, resolved against WORKDIR, cleaned; a trailing '/' is kept and
                     // means "a directory" (also added for "." and for several sources)
  std::optional<std::string> from;   // --from as written: a stage name/index or an image
  std::optional<size_t> from_stage;  // set when `from` names a stage of the plan
  std::string chown;                 // --chown, expanded: "user[:group]", "" = root
  std::optional<uint32_t> chmod;     // --chmod, octal
};

struct Step {
  enum class Kind { kMetadata, kRun, kCopy };
  const Instruction* instruction = nullptr;
  Kind kind = Kind::kMetadata;
  RunStep run;          // kRun only
  CopyStep copy;        // kCopy only
  ImageSettings after;  // the image settings once this step is done
  // Everything about the instruction that changes its result, expanded, as one canonical JSON
  // object (the cache key adds the parent's key and, for COPY, the digest of the copied files).
  std::string cache_text;
  std::string created_by;  // history text (see the top of this file)
};

// Evaluates one stage of a plan, instruction by instruction, from its base image's settings.
class StageEvaluator {
 public:
  StageEvaluator(const BuildPlan& plan, size_t stage_index, ImageSettings base,
                 const BuildArgs& build_args);

  // The steps of the stage, in order. Errors name the line: "line 7: ...".
  Result<std::vector<Step>> evaluate();

 private:
  struct ArgValue {
    std::string name;
    std::optional<std::string> value;
  };

  Status apply(const Instruction& ins, Step& step);
  Status apply_arg(const Instruction& ins, Step& step);
  Status apply_env(const Instruction& ins, Step& step);
  Status apply_label(const Instruction& ins, Step& step);
  Status apply_workdir(const Instruction& ins, Step& step);
  Status apply_user(const Instruction& ins, Step& step);
  Status apply_expose(const Instruction& ins, Step& step);
  Status apply_volume(const Instruction& ins, Step& step);
  Status apply_stopsignal(const Instruction& ins, Step& step);
  Status apply_healthcheck(const Instruction& ins, Step& step);
  Status apply_shell(const Instruction& ins, Step& step);
  Status apply_cmd_or_entrypoint(const Instruction& ins, Step& step);
  Status apply_onbuild(const Instruction& ins, Step& step);
  Status apply_run(const Instruction& ins, Step& step);
  Status apply_copy(const Instruction& ins, Step& step);

  std::optional<std::string> lookup(std::string_view name) const;
  Result<std::string> expand(std::string_view word) const;
  std::vector<std::string> shell() const;
  std::vector<std::string> run_env() const;

  const BuildPlan& plan_;
  const Stage& stage_;
  const BuildArgs& build_args_;
  ImageSettings settings_;
  std::vector<ArgValue> args_;  // ARGs declared in this stage so far, in order
  bool cmd_set_ = false;        // a CMD earlier in this stage (ENTRYPOINT keeps it then)
};

}  // namespace matchlock::dockerbuild
