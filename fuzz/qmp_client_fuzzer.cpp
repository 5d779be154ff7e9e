// The QMP client (engine/src/vm/qmp_client.cpp) and the engine's readers of what it delivers
// (query-status, VSERPORT_CHANGE for the agent's port, MIGRATION) on whatever QEMU writes: QEMU
// parses guest-controlled device state, so a subverted QEMU is part of the threat model. The
// input is QEMU's side of the socket, sent in pieces of 16 to 271 bytes (the first byte); once
// capabilities are negotiated the engine has a few commands outstanding.
// Invariants: readiness is reported once; every command hears exactly one answer (a reply, an
// error, or the end of the connection); a reply is one JSON value; events carry a name and a
// JSON object; subscribers hear of the end once and nothing after it; closing leaves nothing on
// the loop.
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "fuzz_check.h"
#include "fuzz_loop.h"
#include "sandbox/agent_port_watch.h"
#include "vm/qemu_command.h"
#include "vm/qmp_client.h"

namespace vm = matchlock::vm;
using matchlock::fuzz::shared_loop;

namespace {

void check_json(const std::string& text, bool object) {
  matchlock::json::Document d;
  d.Parse(text.data(), text.size());
  FUZZ_CHECK(!d.HasParseError() && (!object || d.IsObject()));
}

struct Counts {
  int ready = 0;
  int commands_sent = 0;
  int answers = 0;
  int ends = 0;
};

void pump(int qemu_fd) {
  uv_run(shared_loop(), UV_RUN_NOWAIT);  // one read of what was just sent
  char sink[4096];
  while (::recv(qemu_fd, sink, sizeof sink, MSG_DONTWAIT) > 0) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = 16 + data[0];
  std::string_view input = matchlock::fuzz::as_text(data + 1, size - 1);

  int sv[2];
  FUZZ_CHECK(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv) == 0);
  matchlock::UniqueFd qemu(sv[1]);
  auto counts = std::make_shared<Counts>();
  auto client = std::make_unique<vm::QmpClient>(shared_loop(), matchlock::UniqueFd(sv[0]),
                                                [counts](matchlock::Status) { ++counts->ready; });
  vm::QmpClient* c = client.get();
  // What the sandbox and a migration do with events.
  c->subscribe([counts](matchlock::Result<vm::QmpEvent> event) {
    FUZZ_CHECK(counts->ends == 0);
    if (!event.ok()) {
      ++counts->ends;
      return;
    }
    check_json(event->data, true);
    (void)matchlock::sandbox::is_port_change(*event, vm::kAgentPortId);
  });
  bool commands_issued = false;

  for (size_t off = 0; off < input.size(); off += chunk) {
    const std::string_view piece = input.substr(off, chunk);
    (void)::send(qemu.get(), piece.data(), piece.size(), MSG_NOSIGNAL);
    pump(qemu.get());
    if (c->ready() && !commands_issued) {
      commands_issued = true;
      for (const char* command : {"query-status", "stop", "cont"}) {
        ++counts->commands_sent;
        c->execute(command, [counts](matchlock::Result<std::string> r) {
          ++counts->answers;
          if (r.ok()) check_json(*r, false);
        });
      }
      ++counts->commands_sent;
      c->query_status([counts](matchlock::Result<vm::VmStatus>) { ++counts->answers; });
    }
    FUZZ_CHECK(counts->ready <= 1 && counts->answers <= counts->commands_sent);
  }
  // QEMU goes away: whatever is outstanding hears of it.
  qemu.reset();
  for (int i = 0; i < 3; ++i) uv_run(shared_loop(), UV_RUN_NOWAIT);
  FUZZ_CHECK(counts->ready == 1);
  FUZZ_CHECK(counts->answers == counts->commands_sent);
  FUZZ_CHECK(counts->ends == 1);
  client.reset();
  matchlock::fuzz::check_loop_empty();
  return 0;
}
