// The client the guest-facing context's security level 0 exists for: BusyBox's own TLS code
// (wget's https helper, `busybox ssl_client`), which sends no signature_algorithms extension.
// An OpenSSL client cannot be made to omit that extension at TLS 1.2+, so this runs the real
// thing from the host's busybox, over a socketpair, against the guest-facing context in this
// process. Skipped (with a warning) when the host has no busybox with ssl_client.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>
#include <catch2/catch.hpp>

#include <array>
#include <cstdio>
#include <set>
#include <string>

#include "core/unique_fd.h"
#include "net/policy/ip_address.h"
#include "net/tls/contexts.h"
#include "tls_test_util.h"

extern char** environ;

using namespace matchlock;
using namespace matchlock::net::tls;
using matchlock::net::test::make_test_ca;

namespace {

constexpr const char* kBusybox = "/usr/bin/busybox";
constexpr int kSignatureAlgorithmsExtension = 13;

bool busybox_has_ssl_client() {
  if (access(kBusybox, X_OK) != 0) return false;
  std::string command = std::string(kBusybox) + " --list 2>/dev/null";
  FILE* list = popen(command.c_str(), "r");
  if (list == nullptr) return false;
  bool found = false;
  std::array<char, 128> line{};
  while (fgets(line.data(), line.size(), list) != nullptr) {
    if (std::string(line.data()) == "ssl_client\n") found = true;
  }
  pclose(list);
  return found;
}

// Extension types of a ClientHello handshake message (type, u24 length, body); test input is
// the real client's, parsed with bounds checks all the same.
std::set<int> client_hello_extensions(const std::string& hello) {
  std::set<int> types;
  size_t at = 4 + 2 + 32;  // header, legacy_version, random
  auto u8 = [&](size_t i) { return static_cast<size_t>(static_cast<unsigned char>(hello[i])); };
  auto u16 = [&](size_t i) { return (u8(i) << 8) | u8(i + 1); };
  if (hello.size() < at + 1) return types;
  at += 1 + u8(at);  // session id
  if (hello.size() < at + 2) return types;
  at += 2 + u16(at);  // cipher suites
  if (hello.size() < at + 1) return types;
  at += 1 + u8(at);  // compression methods
  if (hello.size() < at + 2) return types;
  size_t end = at + 2 + u16(at);
  at += 2;
  while (at + 4 <= end && end <= hello.size()) {
    types.insert(static_cast<int>(u16(at)));
    at += 4 + u16(at + 2);
  }
  return types;
}

void record_client_hello(int write_p, int /*version*/, int content_type, const void* buf,
                         size_t len, SSL* /*ssl*/, void* arg) {
  const auto* bytes = static_cast<const unsigned char*>(buf);
  if (!write_p && content_type == SSL3_RT_HANDSHAKE && len > 0 && bytes[0] == 1) {
    static_cast<std::string*>(arg)->assign(reinterpret_cast<const char*>(buf), len);
  }
}

struct BusyboxRun {
  bool handshake_ok = false;
  std::string client_hello;     // as the server received it
  std::string client_output;    // what ssl_client wrote to stdout
  std::string server_received;  // what ssl_client sent from its stdin
  int exit_status = -1;
};

// Serves one `busybox ssl_client -n <sni>` connection with `server` (blocking, over a
// socketpair): reads the client's request, answers "pong", closes.
BusyboxRun run_busybox_client(SSL* server, const std::string& sni) {
  BusyboxRun run;
  int sockets[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sockets) == 0);
  UniqueFd server_socket(sockets[0]);
  UniqueFd client_socket(sockets[1]);
  int in_pipe[2];
  int out_pipe[2];
  REQUIRE(pipe2(in_pipe, O_CLOEXEC) == 0);
  REQUIRE(pipe2(out_pipe, O_CLOEXEC) == 0);
  UniqueFd stdin_read(in_pipe[0]), stdin_write(in_pipe[1]);
  UniqueFd stdout_read(out_pipe[0]), stdout_write(out_pipe[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, stdin_read.get(), 0);
  posix_spawn_file_actions_adddup2(&actions, stdout_write.get(), 1);
  posix_spawn_file_actions_adddup2(&actions, client_socket.get(), 3);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);  // expected failures
  std::string sni_arg = sni;
  const char* argv[] = {kBusybox, "ssl_client", "-s", "3", "-n", sni_arg.c_str(), nullptr};
  pid_t pid = -1;
  int spawned = posix_spawn(&pid, kBusybox, &actions, nullptr, const_cast<char**>(argv), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(spawned == 0);
  client_socket.reset();
  stdin_read.reset();
  stdout_write.reset();

  REQUIRE(write(stdin_write.get(), "ping", 4) == 4);
  stdin_write.reset();

  // Never hang the suite on a client that stalls.
  timeval timeout{5, 0};
  setsockopt(server_socket.get(), SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  SSL_set_msg_callback(server, record_client_hello);
  SSL_set_msg_callback_arg(server, &run.client_hello);
  REQUIRE(SSL_set_fd(server, server_socket.get()) == 1);
  if (SSL_accept(server) == 1) {
    run.handshake_ok = true;
    std::array<char, 64> buffer{};
    int n = SSL_read(server, buffer.data(), static_cast<int>(buffer.size()));
    if (n > 0) run.server_received.assign(buffer.data(), static_cast<size_t>(n));
    SSL_write(server, "pong", 4);
    SSL_shutdown(server);
  }
  ERR_clear_error();
  server_socket.reset();  // the client sees EOF whatever happened

  std::array<char, 256> buffer{};
  ssize_t n;
  while ((n = read(stdout_read.get(), buffer.data(), buffer.size())) > 0) {
    run.client_output.append(buffer.data(), static_cast<size_t>(n));
  }
  int status = 0;
  REQUIRE(waitpid(pid, &status, 0) == pid);
  run.exit_status = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return run;
}

}  // namespace

TEST_CASE("busybox ssl_client without signature_algorithms completes the guest handshake",
          "[net][tls]") {
  if (!busybox_has_ssl_client()) {
    WARN("no " << kBusybox << " with ssl_client on this host: the BusyBox handshake is untested");
    return;
  }
  auto old_sigpipe = ::signal(SIGPIPE, SIG_IGN);
  auto ca = make_test_ca();
  auto leaves = std::make_shared<LeafCache>(ca);
  auto context = make_guest_facing_context(leaves);
  REQUIRE(context.ok());
  auto server = new_guest_connection(**context, *net::policy::IpAddress::parse("10.0.2.99"));
  REQUIRE(server.ok());

  BusyboxRun run = run_busybox_client(server->get(), "api.example.com");
  ::signal(SIGPIPE, old_sigpipe);

  // The premise: this client really omits signature_algorithms.
  REQUIRE(!run.client_hello.empty());
  std::set<int> extensions = client_hello_extensions(run.client_hello);
  CHECK(extensions.count(0) == 1);  // server_name
  CHECK(extensions.count(kSignatureAlgorithmsExtension) == 0);

  CHECK(run.handshake_ok);
  CHECK(SSL_version(server->get()) == TLS1_2_VERSION);
  CHECK(run.server_received == "ping");
  CHECK(run.client_output == "pong");
  CHECK(run.exit_status == 0);
  CHECK(leaves->size() == 1);
}

TEST_CASE("busybox ssl_client fails against the same leaf at the default security level",
          "[net][tls]") {
  // The control for the test above: what makes the difference is the guest-facing context.
  if (!busybox_has_ssl_client()) {
    WARN("no " << kBusybox << " with ssl_client on this host: the BusyBox handshake is untested");
    return;
  }
  auto old_sigpipe = ::signal(SIGPIPE, SIG_IGN);
  LeafCache leaves(make_test_ca());
  auto leaf = leaves.leaf_for("api.example.com");
  REQUIRE(leaf.ok());
  SslCtxPtr plain(SSL_CTX_new(TLS_server_method()));
  REQUIRE(plain);
  REQUIRE(SSL_CTX_use_certificate(plain.get(), (*leaf)->certificate.get()) == 1);
  REQUIRE(SSL_CTX_use_PrivateKey(plain.get(), (*leaf)->key.get()) == 1);
  SslPtr server(SSL_new(plain.get()));
  REQUIRE(server);

  BusyboxRun run = run_busybox_client(server.get(), "api.example.com");
  ::signal(SIGPIPE, old_sigpipe);
  CHECK(!run.handshake_ok);
  CHECK(run.exit_status != 0);
}
