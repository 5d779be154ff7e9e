#include <catch2/catch.hpp>

#include "build_test_util.h"
#include "dockerbuild/build_steps.h"

using namespace matchlock;
using namespace matchlock::dockerbuild;
using namespace matchlock::dockerbuild::testing;

namespace {

const std::string kPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// The steps of the target stage of `df` (FROM first), from `base`.
Result<std::vector<Step>> steps_of(const Dockerfile& df, const BuildArgs& build_args = {},
                                   ImageSettings base = {}) {
  auto plan = plan_build(df, build_args, "");
  if (!plan) return plan.error();
  return StageEvaluator(*plan, plan->target, std::move(base), build_args).evaluate();
}

// One stage `FROM busybox` + `body`; the last step.
Step last_step(std::vector<Instruction> body, const BuildArgs& build_args = {},
               ImageSettings base = {}) {
  std::vector<Instruction> all{shell_form(1, "FROM", "busybox")};
  for (auto& i : body) all.push_back(std::move(i));
  static Dockerfile df;  // steps point into it
  df = dockerfile(std::move(all));
  auto steps = steps_of(df, build_args, std::move(base));
  if (!steps) FAIL(steps.error().message);
  REQUIRE(!steps->empty());
  return steps->back();
}

std::string error_of(std::vector<Instruction> body, const BuildArgs& build_args = {}) {
  std::vector<Instruction> all{shell_form(1, "FROM", "busybox")};
  for (auto& i : body) all.push_back(std::move(i));
  Dockerfile df = dockerfile(std::move(all));
  auto steps = steps_of(df, build_args);
  if (steps) return "";
  return steps.error().message;
}

bool has(const std::vector<std::string>& v, const std::string& s) {
  return std::find(v.begin(), v.end(), s) != v.end();
}

}  // namespace

TEST_CASE("steps_scratch_gets_a_default_path", "[build][steps]") {
  auto s = last_step({shell_form(2, "USER", "app")});
  CHECK(s.after.env == std::vector<std::string>{kPath});
  ImageSettings base;
  base.env = {"PATH=/bin"};
  auto kept = last_step({shell_form(2, "USER", "app")}, {}, base);
  CHECK(kept.after.env == std::vector<std::string>{"PATH=/bin"});
}

TEST_CASE("steps_env_replaces_keys_in_place_and_expands_with_previous_values", "[build][steps]") {
  ImageSettings base;
  base.env = {"PATH=/bin", "A=old", "B=b"};
  auto s = last_step({shell_form(2, "ENV", "A=new C=$A D=\"two words\"")}, {}, base);
  CHECK(s.kind == Step::Kind::kMetadata);
  CHECK(s.after.env ==
        std::vector<std::string>{"PATH=/bin", "A=new", "B=b", "C=old", "D=two words"});
  CHECK(s.created_by == "ENV A=new C=old D=two words");
}

TEST_CASE("steps_env_legacy_space_form", "[build][steps]") {
  auto s = last_step({shell_form(2, "ENV", "GREETING hello world")});
  CHECK(has(s.after.env, "GREETING=hello world"));
}

TEST_CASE("steps_arg_default_build_arg_override_and_scope", "[build][steps]") {
  auto df = dockerfile({shell_form(1, "FROM", "busybox"), shell_form(2, "ARG", "A=1 B=$A"),
                        shell_form(3, "ARG", "C"), shell_form(4, "RUN", "echo $A")});
  SECTION("defaults") {
    auto steps = steps_of(df);
    REQUIRE(steps);
    CHECK((*steps)[0].created_by == "ARG A=1 B=1");
    CHECK((*steps)[1].created_by == "ARG C");
    const RunStep& run = (*steps)[2].run;
    CHECK(has(run.env, "A=1"));
    CHECK(has(run.env, "B=1"));
    CHECK_FALSE(std::any_of(run.env.begin(), run.env.end(),
                            [](const std::string& e) { return e.rfind("C=", 0) == 0; }));
    // ARGs are not persisted into the image.
    CHECK((*steps)[2].after.env == std::vector<std::string>{kPath});
    CHECK((*steps)[2].created_by == "RUN |3 A=1 B=1 C= /bin/sh -c echo $A # buildkit");
  }
  SECTION("overridden") {
    BuildArgs ba{{{"A", "9"}, {"C", "c"}}};
    auto steps = steps_of(df, ba);
    REQUIRE(steps);
    CHECK((*steps)[0].created_by == "ARG A=9 B=9");
    CHECK(has((*steps)[2].run.env, "C=c"));
  }
}

TEST_CASE("steps_arg_redeclared_in_stage_takes_the_global_value", "[build][steps]") {
  auto df = dockerfile({shell_form(1, "ARG", "VERSION=1.0"), shell_form(2, "FROM", "busybox"),
                        shell_form(3, "RUN", "echo $VERSION"), shell_form(4, "ARG", "VERSION"),
                        shell_form(5, "RUN", "echo $VERSION")});
  auto steps = steps_of(df);
  REQUIRE(steps);
  CHECK_FALSE(has((*steps)[0].run.env, "VERSION=1.0"));  // not in scope before the ARG
  CHECK(has((*steps)[2].run.env, "VERSION=1.0"));
  auto overridden = steps_of(df, BuildArgs{{{"VERSION", "2.0"}}});
  REQUIRE(overridden);
  CHECK(has((*overridden)[2].run.env, "VERSION=2.0"));
}

TEST_CASE("steps_env_wins_over_an_arg_of_the_same_name", "[build][steps]") {
  auto df = dockerfile({shell_form(1, "FROM", "busybox"), shell_form(2, "ARG", "V=arg"),
                        shell_form(3, "ENV", "V=env"), shell_form(4, "WORKDIR", "/$V"),
                        shell_form(5, "RUN", "true")});
  auto steps = steps_of(df);
  REQUIRE(steps);
  CHECK((*steps)[2].after.workdir == "/env");
  const auto& env = (*steps)[3].run.env;
  CHECK(std::count_if(env.begin(), env.end(),
                      [](const std::string& e) { return e.rfind("V=", 0) == 0; }) == 1);
  CHECK(has(env, "V=env"));
}

TEST_CASE("steps_predefined_proxy_args_reach_run_but_not_cache_or_history", "[build][steps]") {
  BuildArgs ba{{{"HTTP_PROXY", "http://proxy:3128"}, {"no_proxy", "localhost"}}};
  auto s = last_step({shell_form(2, "RUN", "apk add curl")}, ba);
  CHECK(has(s.run.env, "HTTP_PROXY=http://proxy:3128"));
  CHECK(has(s.run.env, "no_proxy=localhost"));
  CHECK(s.cache_text.find("proxy") == std::string::npos);
  CHECK(s.created_by == "RUN /bin/sh -c apk add curl # buildkit");
}

TEST_CASE("steps_workdir_joins_relative_paths_and_expands", "[build][steps]") {
  auto df = dockerfile({shell_form(1, "FROM", "busybox"), shell_form(2, "ENV", "APP=srv"),
                        shell_form(3, "WORKDIR", "/opt"), shell_form(4, "WORKDIR", "$APP/./x/.."),
                        shell_form(5, "WORKDIR", "../lib")});
  auto steps = steps_of(df);
  REQUIRE(steps);
  CHECK((*steps)[1].after.workdir == "/opt");
  CHECK((*steps)[2].after.workdir == "/opt/srv");
  CHECK((*steps)[3].after.workdir == "/opt/lib");
  CHECK((*steps)[3].created_by == "WORKDIR /opt/lib");
  auto rel = last_step({shell_form(2, "WORKDIR", "app")});
  CHECK(rel.after.workdir == "/app");
}

TEST_CASE("steps_user_expands", "[build][steps]") {
  auto s = last_step({shell_form(2, "ARG", "UID=1000"), shell_form(3, "USER", "${UID}:${GID:-0}")});
  CHECK(s.after.user == "1000:0");
  CHECK(s.created_by == "USER 1000:0");
  CHECK(error_of({shell_form(2, "USER", "")}) == "line 2: USER requires exactly one argument");
}

TEST_CASE("steps_label_multiple_pairs_and_maintainer", "[build][steps]") {
  auto s = last_step({shell_form(2, "ENV", "V=1.0"),
                      shell_form(3, "LABEL", "a=1 \"b c\"=2 version=$V desc=\"two words\"")});
  CHECK(s.after.labels.at("a") == "1");
  CHECK(s.after.labels.at("b c") == "2");
  CHECK(s.after.labels.at("version") == "1.0");
  CHECK(s.after.labels.at("desc") == "two words");
  auto m = last_step({shell_form(2, "MAINTAINER", "Jane <jane@example.com>")});
  CHECK(m.after.labels.at("maintainer") == "Jane <jane@example.com>");
  CHECK(m.created_by == "MAINTAINER Jane <jane@example.com>");
}

TEST_CASE("steps_expose_defaults_to_tcp_and_expands_ranges", "[build][steps]") {
  auto s = last_step(
      {shell_form(2, "ARG", "P=8080"), shell_form(3, "EXPOSE", "80 53/udp $P 9000-9002/TCP")});
  CHECK(s.after.exposed_ports ==
        std::set<std::string>{"80/tcp", "53/udp", "8080/tcp", "9000/tcp", "9001/tcp", "9002/tcp"});
  CHECK(s.created_by == "EXPOSE 80/tcp 53/udp 8080/tcp 9000-9002/TCP");
}

TEST_CASE("steps_expose_bad_ports_are_errors", "[build][steps]") {
  CHECK(error_of({shell_form(2, "EXPOSE", "http")}) == "line 2: EXPOSE: invalid port 'http'");
  CHECK(error_of({shell_form(2, "EXPOSE", "70000")}) == "line 2: EXPOSE: invalid port '70000'");
  CHECK(error_of({shell_form(2, "EXPOSE", "0")}) == "line 2: EXPOSE: invalid port '0'");
  CHECK(error_of({shell_form(2, "EXPOSE", "90-80")}) == "line 2: EXPOSE: invalid port '90-80'");
  CHECK(error_of({shell_form(3, "EXPOSE", "80/icmp")}) ==
        "line 3: EXPOSE: invalid protocol 'icmp' in '80/icmp'");
}

TEST_CASE("steps_volume_json_or_words", "[build][steps]") {
  auto j = last_step({shell_form(2, "ENV", "D=/data"), json_form(3, "VOLUME", {"$D", "/logs"})});
  CHECK(j.after.volumes == std::set<std::string>{"/data", "/logs"});
  CHECK(j.created_by == "VOLUME [/data /logs]");
  auto w = last_step({shell_form(2, "VOLUME", "/a /b")});
  CHECK(w.after.volumes == std::set<std::string>{"/a", "/b"});
  CHECK(error_of({json_form(2, "VOLUME", {""})}) ==
        "line 2: VOLUME specified can not be an empty string");
}

TEST_CASE("steps_stopsignal_names_and_numbers", "[build][steps]") {
  CHECK(last_step({shell_form(2, "STOPSIGNAL", "SIGQUIT")}).after.stop_signal == "SIGQUIT");
  CHECK(last_step({shell_form(2, "STOPSIGNAL", "9")}).after.stop_signal == "9");
  CHECK(last_step({shell_form(2, "STOPSIGNAL", "term")}).after.stop_signal == "term");
  CHECK(last_step({shell_form(2, "STOPSIGNAL", "SIGRTMIN+3")}).after.stop_signal == "SIGRTMIN+3");
  CHECK(error_of({shell_form(2, "STOPSIGNAL", "SIGNOPE")}) == "line 2: invalid signal: SIGNOPE");
}

TEST_CASE("steps_healthcheck_cmd_forms_and_durations", "[build][steps]") {
  auto s = last_step({shell_form(2, "HEALTHCHECK", "CMD curl -f http://localhost/",
                                 {{"interval", "1m30s"},
                                  {"timeout", "5s"},
                                  {"start-period", "1.5s"},
                                  {"start-interval", "500ms"},
                                  {"retries", "4"}})});
  REQUIRE(s.after.healthcheck);
  const Healthcheck& h = *s.after.healthcheck;
  CHECK(h.test == std::vector<std::string>{"CMD-SHELL", "curl -f http://localhost/"});
  CHECK(h.interval_ns == 90'000'000'000);
  CHECK(h.timeout_ns == 5'000'000'000);
  CHECK(h.start_period_ns == 1'500'000'000);
  CHECK(h.start_interval_ns == 500'000'000);
  CHECK(h.retries == 4);

  auto exec = last_step({shell_form(2, "HEALTHCHECK", "cmd [\"/bin/check\", \"-q\"]")});
  CHECK(exec.after.healthcheck->test == std::vector<std::string>{"CMD", "/bin/check", "-q"});
  CHECK(exec.created_by == "HEALTHCHECK [\"CMD\" \"/bin/check\" \"-q\"]");

  auto none = last_step({shell_form(2, "HEALTHCHECK", "NONE")});
  CHECK(none.after.healthcheck->test == std::vector<std::string>{"NONE"});
}

TEST_CASE("steps_healthcheck_errors", "[build][steps]") {
  CHECK(error_of({shell_form(2, "HEALTHCHECK", "CMD true", {{"interval", "10"}})}) ==
        "line 2: HEALTHCHECK --interval: invalid duration '10'");
  CHECK(error_of({shell_form(2, "HEALTHCHECK", "CMD true", {{"timeout", "1us"}})}) ==
        "line 2: HEALTHCHECK --timeout cannot be less than 1ms");
  CHECK(error_of({shell_form(2, "HEALTHCHECK", "CMD true", {{"timeout", "-1s"}})}) ==
        "line 2: HEALTHCHECK --timeout cannot be negative");
  CHECK(error_of({shell_form(2, "HEALTHCHECK", "CMD true", {{"retries", "-1"}})}) ==
        "line 2: --retries cannot be negative (-1)");
  CHECK(error_of({shell_form(2, "HEALTHCHECK", "CMD true", {{"every", "1s"}})}) ==
        "line 2: unknown flag: every");
  CHECK(error_of({shell_form(2, "HEALTHCHECK", "CMD")}) ==
        "line 2: Missing command after HEALTHCHECK CMD");
  CHECK(error_of({shell_form(2, "HEALTHCHECK", "NONE true")}) ==
        "line 2: HEALTHCHECK NONE takes no arguments");
  CHECK(error_of({shell_form(2, "HEALTHCHECK", "RUN true")}) ==
        "line 2: Unknown type \"RUN\" in HEALTHCHECK (try CMD)");
  // "0" alone needs no unit.
  auto zero = last_step({shell_form(2, "HEALTHCHECK", "CMD true", {{"interval", "0"}})});
  CHECK(zero.after.healthcheck->interval_ns == 0);
}

TEST_CASE("steps_shell_json_only_and_used_by_shell_forms", "[build][steps]") {
  auto df = dockerfile({shell_form(1, "FROM", "busybox"),
                        json_form(2, "SHELL", {"/bin/bash", "-eo", "pipefail", "-c"}),
                        shell_form(3, "RUN", "make | tee log"), shell_form(4, "CMD", "serve")});
  auto steps = steps_of(df);
  REQUIRE(steps);
  CHECK((*steps)[0].created_by == "SHELL [\"/bin/bash\" \"-eo\" \"pipefail\" \"-c\"]");
  CHECK((*steps)[1].run.argv ==
        std::vector<std::string>{"/bin/bash", "-eo", "pipefail", "-c", "make | tee log"});
  CHECK((*steps)[2].after.cmd ==
        std::vector<std::string>{"/bin/bash", "-eo", "pipefail", "-c", "serve"});
  CHECK(error_of({shell_form(2, "SHELL", "/bin/bash -c")}) ==
        "line 2: SHELL requires the arguments to be in JSON form");
}

TEST_CASE("steps_cmd_and_entrypoint_forms_are_not_expanded", "[build][steps]") {
  auto cmd = last_step({shell_form(2, "CMD", "echo $HOME")});
  CHECK(cmd.after.cmd == std::vector<std::string>{"/bin/sh", "-c", "echo $HOME"});
  CHECK(cmd.created_by == "CMD [\"/bin/sh\" \"-c\" \"echo $HOME\"]");
  auto ep = last_step({json_form(2, "ENTRYPOINT", {"/app", "$X"})});
  CHECK(ep.after.entrypoint == std::vector<std::string>{"/app", "$X"});
}

TEST_CASE("steps_entrypoint_clears_only_a_cmd_from_the_base_image", "[build][steps]") {
  ImageSettings base;
  base.cmd = std::vector<std::string>{"sh"};
  SECTION("inherited cmd is dropped") {
    auto s = last_step({json_form(2, "ENTRYPOINT", {"/app"})}, {}, base);
    CHECK_FALSE(s.after.cmd.has_value());
  }
  SECTION("cmd set earlier in the stage stays") {
    auto s = last_step({json_form(2, "CMD", {"--help"}), json_form(3, "ENTRYPOINT", {"/app"})}, {},
                       base);
    CHECK(s.after.cmd == std::vector<std::string>{"--help"});
  }
  SECTION("cmd set after entrypoint is kept") {
    auto s =
        last_step({json_form(2, "ENTRYPOINT", {"/app"}), json_form(3, "CMD", {"-v"})}, {}, base);
    CHECK(s.after.cmd == std::vector<std::string>{"-v"});
    CHECK(s.after.entrypoint == std::vector<std::string>{"/app"});
  }
}

TEST_CASE("steps_onbuild_is_recorded_not_run", "[build][steps]") {
  auto s = last_step({shell_form(2, "ONBUILD", "RUN make")});
  CHECK(s.kind == Step::Kind::kMetadata);
  CHECK(s.after.onbuild == std::vector<std::string>{"RUN make"});
  CHECK(error_of({shell_form(2, "ONBUILD", "ONBUILD RUN x")}) ==
        "line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed");
  CHECK(error_of({shell_form(2, "ONBUILD", "from busybox")}) ==
        "line 2: FROM isn't allowed as an ONBUILD trigger");
}

TEST_CASE("steps_run_shell_and_exec_forms", "[build][steps]") {
  ImageSettings base;
  base.env = {"PATH=/bin", "HOME=/root"};
  base.user = "nobody";
  base.workdir = "/w";
  auto shell = last_step({shell_form(2, "RUN", "make $TARGET")}, {}, base);
  CHECK(shell.kind == Step::Kind::kRun);
  CHECK(shell.run.argv == std::vector<std::string>{"/bin/sh", "-c", "make $TARGET"});
  CHECK(shell.run.env == std::vector<std::string>{"PATH=/bin", "HOME=/root"});
  CHECK(shell.run.user == "nobody");
  CHECK(shell.run.workdir == "/w");
  CHECK(shell.run.network == "default");
  CHECK(shell.created_by == "RUN /bin/sh -c make $TARGET # buildkit");
  auto exec = last_step({json_form(2, "RUN", {"/bin/echo", "a b"})});
  CHECK(exec.run.argv == std::vector<std::string>{"/bin/echo", "a b"});
  CHECK(exec.run.workdir == "/");
  CHECK(exec.created_by == "RUN /bin/echo a b # buildkit");
}

TEST_CASE("steps_run_network_flag", "[build][steps]") {
  CHECK(last_step({shell_form(2, "RUN", "x", {{"network", "none"}})}).run.network == "none");
  CHECK(last_step({shell_form(2, "RUN", "x", {{"network", "host"}})}).run.network == "host");
  CHECK(last_step({shell_form(2, "RUN", "x", {{"network", "default"}})}).run.network == "default");
  CHECK(error_of({shell_form(2, "RUN", "x", {{"network", "bridge"}})}) ==
        "line 2: RUN --network: expected default, none or host, got 'bridge'");
  CHECK(error_of({shell_form(2, "RUN", "x", {{"mount", "type=cache,target=/c"}})}) ==
        "line 2: RUN --mount is not supported");
  CHECK(error_of({shell_form(2, "RUN", "x", {{"privileged", ""}})}) ==
        "line 2: unknown flag: privileged");
  CHECK(error_of({shell_form(2, "RUN", "x", {{"network", "none"}, {"network", "host"}})}) ==
        "line 2: duplicate flag specified: network");
  CHECK(error_of({shell_form(5, "RUN", "")}) == "line 5: RUN requires at least one argument");
}

TEST_CASE("steps_run_heredoc_forms", "[build][steps]") {
  SECTION("the heredoc is the script") {
    Instruction run = shell_form(2, "RUN", "<<EOF");
    run.heredocs.push_back({"EOF", "apk add git\n\techo done\n", true, false});
    auto s = last_step({run});
    CHECK(s.run.argv == std::vector<std::string>{"/bin/sh", "-c", "apk add git\n\techo done\n"});
  }
  SECTION("tabs stripped with <<-") {
    Instruction run = shell_form(2, "RUN", "<<-EOF");
    run.heredocs.push_back({"EOF", "\tapk add git\n\t\techo done\n", true, true});
    auto s = last_step({run});
    CHECK(s.run.argv[2] == "apk add git\necho done\n");
  }
  SECTION("a #! script runs through its interpreter") {
    Instruction run = shell_form(2, "RUN", "<<EOF");
    run.heredocs.push_back({"EOF", "#!/usr/bin/env python3\nprint(1)\n", true, false});
    auto s = last_step({run});
    REQUIRE(s.run.argv.size() == 5);
    CHECK(s.run.argv[0] == "/bin/sh");
    CHECK(s.run.argv[4] == "#!/usr/bin/env python3\nprint(1)\n");
  }
  SECTION("heredocs inside a command go to the shell whole") {
    Instruction run = shell_form(2, "RUN", "cat <<'A' > /a && cat <<B > /b");
    run.heredocs.push_back({"A", "one $x\n", false, false});
    run.heredocs.push_back({"B", "two\n", true, false});
    auto s = last_step({run});
    CHECK(s.run.argv == std::vector<std::string>{
                            "/bin/sh", "-c", "cat <<'A' > /a && cat <<B > /b\none $x\nA\ntwo\nB"});
  }
}

TEST_CASE("steps_run_cache_text_covers_every_input", "[build][steps]") {
  auto base_text = last_step({shell_form(2, "RUN", "make")}).cache_text;
  CHECK(base_text.find("\"argv\":[\"/bin/sh\",\"-c\",\"make\"]") != std::string::npos);
  CHECK(last_step({shell_form(2, "RUN", "make", {{"network", "none"}})}).cache_text != base_text);
  CHECK(last_step({shell_form(2, "USER", "u"), shell_form(3, "RUN", "make")}).cache_text !=
        base_text);
  CHECK(last_step({shell_form(2, "WORKDIR", "/x"), shell_form(3, "RUN", "make")}).cache_text !=
        base_text);
  CHECK(last_step({shell_form(2, "ENV", "A=1"), shell_form(3, "RUN", "make")}).cache_text !=
        base_text);
  auto with_arg = last_step({shell_form(2, "ARG", "A=1"), shell_form(3, "RUN", "make")});
  auto with_other_arg = last_step({shell_form(2, "ARG", "A=1"), shell_form(3, "RUN", "make")},
                                  BuildArgs{{{"A", "2"}}});
  CHECK(with_arg.cache_text != base_text);
  CHECK(with_arg.cache_text != with_other_arg.cache_text);
  // A LABEL before changes nothing RUN depends on.
  CHECK(last_step({shell_form(2, "LABEL", "a=b"), shell_form(3, "RUN", "make")}).cache_text ==
        base_text);
}

TEST_CASE("steps_copy_sources_dest_and_flags", "[build][steps]") {
  auto df = dockerfile({shell_form(1, "FROM", "busybox AS build"), shell_form(2, "FROM", "busybox"),
                        shell_form(3, "WORKDIR", "/app"), shell_form(4, "ARG", "OWNER=1000"),
                        shell_form(5, "COPY", "src/*.c include/ ./",
                                   {{"chown", "$OWNER:$OWNER"}, {"chmod", "0644"}, {"link", ""}}),
                        shell_form(6, "COPY", "/out/bin bin", {{"from", "build"}}),
                        json_form(7, "ADD", {"a b.txt", "/abs/"})});
  auto steps = steps_of(df);
  REQUIRE(steps);
  const Step& c = (*steps)[2];
  CHECK(c.kind == Step::Kind::kCopy);
  CHECK_FALSE(c.copy.add);
  CHECK(c.copy.sources == std::vector<std::string>{"src/*.c", "include/"});
  CHECK(c.copy.dest == "/app/");
  CHECK(c.copy.chown == "1000:1000");
  CHECK(c.copy.chmod == 0644u);
  CHECK_FALSE(c.copy.from);
  CHECK(c.created_by == "COPY --chown=1000:1000 --chmod=0644 src/*.c include/ ./ # buildkit");

  const Step& from = (*steps)[3];
  CHECK(from.copy.from == "build");
  CHECK(from.copy.from_stage == 0u);
  CHECK(from.copy.dest == "/app/bin");
  CHECK(from.created_by == "COPY --from=build /out/bin bin # buildkit");

  const Step& add = (*steps)[4];
  CHECK(add.copy.add);
  CHECK(add.copy.sources == std::vector<std::string>{"a b.txt"});
  CHECK(add.copy.dest == "/abs/");
}

TEST_CASE("steps_copy_from_an_image_has_no_stage", "[build][steps]") {
  auto s = last_step({shell_form(2, "COPY", "/etc/nginx /etc/nginx", {{"from", "nginx:1.25"}})});
  CHECK(s.copy.from == "nginx:1.25");
  CHECK_FALSE(s.copy.from_stage);
}

TEST_CASE("steps_copy_errors", "[build][steps]") {
  CHECK(error_of({shell_form(2, "COPY", "a b /dir")}) ==
        "line 2: When using COPY with more than one source file, the destination must be a "
        "directory and end with a /");
  CHECK(error_of({shell_form(2, "ADD", "a b /dir")}) ==
        "line 2: When using ADD with more than one source file, the destination must be a "
        "directory and end with a /");
  CHECK(error_of({shell_form(2, "COPY", "onlyone")}) ==
        "line 2: COPY requires at least two arguments, but only one was provided. Destination "
        "could not be determined.");
  CHECK(error_of({shell_form(2, "COPY", "a /b", {{"chmod", "755x"}})}) ==
        "line 2: invalid chmod parameter '755x': it must be an octal number between 0 and 07777");
  CHECK(error_of({shell_form(2, "COPY", "a /b", {{"chmod", "0888"}})})
            .rfind("line 2: invalid chmod parameter", 0) == 0);
  CHECK(error_of({shell_form(2, "COPY", "a /b", {{"exclude", "*.o"}})}) ==
        "line 2: unknown flag: exclude");
  CHECK(error_of({shell_form(2, "ADD", "a /b", {{"from", "x"}})}) == "line 2: unknown flag: from");
  CHECK(error_of({shell_form(2, "ADD", "a /b", {{"checksum", "sha256:0"}})}) ==
        "line 2: ADD --checksum is not supported");
}

TEST_CASE("steps_copy_heredoc_is_an_inline_file", "[build][steps]") {
  Instruction copy = shell_form(3, "COPY", "<<EOF <<'RAW' /etc/conf/");
  copy.heredocs.push_back({"EOF", "name=$NAME\nprice=\\$5\n", true, false});
  copy.heredocs.push_back({"RAW", "keep $NAME\n", false, false});
  auto s = last_step({shell_form(2, "ENV", "NAME=app"), copy});
  CHECK(s.kind == Step::Kind::kCopy);
  CHECK(s.copy.sources == std::vector<std::string>{"EOF", "RAW"});
  REQUIRE(s.copy.inline_files.size() == 2);
  CHECK(s.copy.inline_files[0].body == "name=app\nprice=$5\n");
  CHECK(s.copy.inline_files[1].body == "keep $NAME\n");
  CHECK(s.copy.dest == "/etc/conf/");
  CHECK(s.cache_text.find("name=app") != std::string::npos);

  Instruction single = shell_form(2, "COPY", "<<EOF /hello");
  single.heredocs.push_back({"EOF", "hi\n", true, false});
  auto one = last_step({single});
  CHECK(one.copy.dest == "/hello");
  CHECK(one.copy.inline_files.size() == 1);
}

TEST_CASE("steps_copy_cache_text_covers_flags_sources_and_dest", "[build][steps]") {
  auto base = last_step({shell_form(2, "COPY", "a /b")}).cache_text;
  CHECK(last_step({shell_form(2, "COPY", "a /c")}).cache_text != base);
  CHECK(last_step({shell_form(2, "COPY", "z /b")}).cache_text != base);
  CHECK(last_step({shell_form(2, "COPY", "a /b", {{"chown", "1"}})}).cache_text != base);
  CHECK(last_step({shell_form(2, "COPY", "a /b", {{"chmod", "600"}})}).cache_text != base);
  CHECK(last_step({shell_form(2, "COPY", "a /b", {{"from", "img"}})}).cache_text != base);
  CHECK(last_step({shell_form(2, "ADD", "a /b")}).cache_text != base);
  // --link changes nothing.
  CHECK(last_step({shell_form(2, "COPY", "a /b", {{"link", ""}})}).cache_text == base);
}

TEST_CASE("steps_flags_on_instructions_without_flags_are_errors", "[build][steps]") {
  CHECK(error_of({shell_form(2, "ENV", "A=1", {{"x", ""}})}) == "line 2: unknown flag: x");
}

TEST_CASE("steps_after_carries_settings_forward", "[build][steps]") {
  auto df = dockerfile({shell_form(1, "FROM", "busybox"), shell_form(2, "USER", "u"),
                        shell_form(3, "RUN", "id"), shell_form(4, "COPY", "a /a")});
  auto steps = steps_of(df);
  REQUIRE(steps);
  CHECK((*steps)[1].after.user == "u");
  CHECK((*steps)[2].after.user == "u");
  CHECK((*steps)[2].instruction == &df.instructions[3]);
}
