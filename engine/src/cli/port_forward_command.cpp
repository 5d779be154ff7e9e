// `matchlock port-forward ID [ADDR:]HOST:GUEST... [--address IP]...`: forwards host ports to a
// running sandbox for as long as this command runs. The listeners live in the sandbox's owner
// (rpc port_forward over the control socket) and belong to this connection, so Ctrl-C — or
// this process dying — closes them.
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>

#include <cstdio>
#include <vector>

#include "cli/arg_parser.h"
#include "cli/commands.h"
#include "cli/control_client.h"
#include "core/json.h"
#include "sandbox/port_forward_spec.h"

namespace matchlock::cli {
namespace {

ArgParser port_forward_parser() {
  ArgParser p("matchlock port-forward [flags] ID [ADDR:]HOST:GUEST...",
              "Forward host TCP ports to ports inside a running sandbox until interrupted. The "
              "connections go through the sandbox's agent, so --no-network sandboxes work too.");
  p.add_repeated("address", 0, "IP",
                 "host address to listen on for specs that name none (default 127.0.0.1)");
  return p;
}

rapidjson::Document request_params(const std::vector<sandbox::PortForwardSpec>& specs,
                                   const std::vector<std::string>& addresses) {
  rapidjson::Document d(rapidjson::kObjectType);
  auto& a = d.GetAllocator();
  rapidjson::Value forwards(rapidjson::kArrayType);
  for (const auto& s : specs) {
    rapidjson::Value f(rapidjson::kObjectType);
    f.AddMember("local_port", s.host_port, a);
    f.AddMember("remote_port", s.guest_port, a);
    if (s.address) f.AddMember("address", json::str(*s.address, a), a);
    forwards.PushBack(f, a);
  }
  d.AddMember("forwards", forwards, a);
  if (!addresses.empty()) d.AddMember("addresses", json::str_array(addresses, a), a);
  return d;
}

// Blocks until SIGINT/SIGTERM/SIGHUP (0) or until the owner closes the connection (1).
int wait_until_interrupted_or_stopped(int sock, const std::string& id) {
  sigset_t set;
  sigemptyset(&set);
  for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&set, s);
  sigprocmask(SIG_BLOCK, &set, nullptr);
  UniqueFd sigfd(::signalfd(-1, &set, SFD_CLOEXEC));
  if (!sigfd) return fail("signalfd failed", 1);
  pollfd fds[2] = {{sigfd.get(), POLLIN, 0}, {sock, POLLIN, 0}};
  for (;;) {
    if (::poll(fds, 2, -1) < 0) continue;  // EINTR
    if (fds[0].revents) return 0;
    if (fds[1].revents) {
      char buf[4096];
      if (::read(sock, buf, sizeof buf) > 0) continue;  // a notification: nothing to do
      return fail("sandbox " + id + " stopped; its forwards are gone", 1);
    }
  }
}

}  // namespace

int cmd_port_forward(Args args) {
  auto parser = port_forward_parser();
  auto parsed = parser.parse(args, /*stop_at_first_positional=*/false);
  if (!parsed.ok()) return fail(parsed.error().message);
  if (parsed->help) {
    std::printf("%s", parser.help_text().c_str());
    return 0;
  }
  const auto& words = parsed->positionals;
  if (words.size() < 2) return fail("usage: matchlock port-forward ID [ADDR:]HOST:GUEST...");
  std::vector<std::string> addresses;
  for (const auto& v : parsed->values("address")) {
    auto addr = sandbox::parse_listen_address(v);
    if (!addr.ok()) return fail("invalid --address: " + addr.error().message);
    addresses.push_back(*addr);
  }
  std::vector<sandbox::PortForwardSpec> specs;
  for (size_t i = 1; i < words.size(); ++i) {
    auto spec = sandbox::parse_port_forward_spec(words[i]);
    if (!spec.ok()) return fail(spec.error().message);
    specs.push_back(*spec);
  }

  const std::string& id = words[0];
  auto sock = connect_sandbox(id);
  if (!sock.ok()) return fail(sock.error().message, 1);
  auto reply = call_blocking(sock->get(), "port_forward", request_params(specs, addresses));
  if (!reply.ok()) return fail(reply.error().message, 1);
  const auto* result = json::member(*reply, "result");
  const auto* bindings = result ? json::member(*result, "bindings") : nullptr;
  if (bindings && bindings->IsArray()) {
    for (const auto& b : bindings->GetArray()) {
      std::printf("Forwarding %s:%lld -> %lld\n", json::get_string(b, "address").c_str(),
                  static_cast<long long>(json::get_int(b, "local_port")),
                  static_cast<long long>(json::get_int(b, "remote_port")));
    }
  }
  std::fflush(stdout);
  return wait_until_interrupted_or_stopped(sock->get(), id);
}

}  // namespace matchlock::cli
