#include <catch2/catch.hpp>

#include "guest_client/guest_connection.h"
#include "sandbox/exec.h"

using namespace matchlock;

TEST_CASE("an empty exec handle is finished and ignores every call", "[sandbox]") {
  sandbox::ExecHandle h;
  CHECK(h.finished());
  h.write_stdin("ignored");
  h.close_stdin();
  h.resize(10, 20);
  h.signal(15);
  h.cancel(0);
  h.set_on_stdin_drained([] {});
  CHECK(h.stdin_backlog() == 0);
}

TEST_CASE("an exec handle on a disconnected process reports what the guest handle does",
          "[sandbox]") {
  auto process = std::make_shared<guest_client::ExecHandle>();
  sandbox::ExecHandle h(process);
  CHECK(h.finished() == process->finished());
  h.cancel(0);
  h.close_stdin();
  CHECK(h.stdin_backlog() == process->stdin_backlog());
}
