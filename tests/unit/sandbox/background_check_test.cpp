#include <uv.h>

#include <catch2/catch.hpp>

#include <atomic>
#include <optional>
#include <string>
#include <vector>

#include "sandbox/warm_start.h"

using namespace matchlock;
using namespace matchlock::sandbox;

namespace {

// Runs `checks` on a loop of their own and returns what when_all_done reported.
std::optional<Status> all_done(const std::vector<std::function<Status()>>& work) {
  uv_loop_t loop;
  uv_loop_init(&loop);
  std::vector<std::shared_ptr<BackgroundCheck>> checks;
  for (const auto& w : work) checks.push_back(BackgroundCheck::start(&loop, w));
  std::optional<Status> reported;
  int reports = 0;
  BackgroundCheck::when_all_done(checks, [&](Status st) {
    ++reports;
    reported = std::move(st);
  });
  uv_run(&loop, UV_RUN_DEFAULT);
  uv_loop_close(&loop);
  CHECK(reports == 1);
  return reported;
}

}  // namespace

TEST_CASE("a restore waits for every background check and reports the first failure", "[sandbox]") {
  std::atomic<int> ran{0};
  auto ok = [&ran] {
    ++ran;
    return Status();
  };
  auto fails = [&ran](const std::string& why) {
    return [&ran, why] {
      ++ran;
      return Status(Error(ErrorCode::kIo, why));
    };
  };

  auto all_ok = all_done({ok, ok});
  REQUIRE(all_ok.has_value());
  CHECK(all_ok->ok());
  CHECK(ran == 2);

  auto second = all_done({ok, fails("copy")});
  REQUIRE(second.has_value());
  REQUIRE_FALSE(second->ok());
  CHECK(second->error().message == "copy");

  // Both fail: the first in the given order is reported, once.
  ran = 0;
  auto both = all_done({fails("state"), fails("copy")});
  REQUIRE(both.has_value());
  CHECK(both->error().message == "state");
  CHECK(ran == 2);

  auto none = all_done({});
  REQUIRE(none.has_value());
  CHECK(none->ok());
}
