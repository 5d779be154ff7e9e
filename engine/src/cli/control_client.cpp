#include "cli/control_client.h"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "core/json.h"
#include "core/paths.h"
#include "rpc/control_socket.h"
#include "rpc/line_framer.h"

namespace matchlock::cli {

Result<state::SandboxRow> find_running_sandbox(const std::string& id) {
  auto store = state::StateStore::open(matchlock_home());
  if (!store.ok()) return store.error();
  auto row = (*store)->get_sandbox(id);
  if (!row.ok()) return row.error();
  if (!row->has_value()) return not_found("no such sandbox: " + id);
  const auto& r = row->value();
  if (r.status != "running") {
    return Error(ErrorCode::kInvalidArgument,
                 "sandbox " + id + " is not running (status: " + r.status + ")");
  }
  return r;
}

Result<UniqueFd> connect_sandbox(const std::string& id) {
  auto row = find_running_sandbox(id);
  if (!row.ok()) return row.error();
  auto fd = rpc::connect_control_socket(id);
  if (!fd.ok() && fd.error().code == ErrorCode::kNotFound) {
    return Error(ErrorCode::kInvalidArgument,
                 "sandbox " + id + " is not running (its owner process is gone)");
  }
  return fd;
}

namespace {

Status write_all(int fd, const std::string& bytes) {
  size_t off = 0;
  while (off < bytes.size()) {
    ssize_t n = ::send(fd, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error(std::string("control socket: ") + std::strerror(errno));
    off += static_cast<size_t>(n);
  }
  return {};
}

}  // namespace

Result<rapidjson::Document> call_blocking(int fd, const std::string& method,
                                          const rapidjson::Value& params) {
  constexpr uint64_t kId = 1;
  json::Document req(rapidjson::kObjectType);
  auto& a = req.GetAllocator();
  req.AddMember("jsonrpc", "2.0", a);
  req.AddMember("method", json::str(method, a), a);
  req.AddMember("params", rapidjson::Value(params, a), a);
  req.AddMember("id", kId, a);
  MATCHLOCK_TRY(write_all(fd, json::to_string(req) + "\n"));

  std::optional<Result<rapidjson::Document>> answer;
  rpc::LineFramer framer(
      [&](std::string_view line) {
        if (answer) return;
        json::Document d;
        d.Parse(line.data(), line.size());
        if (d.HasParseError() || !d.IsObject()) return;
        const auto* id = json::member(d, "id");
        if (!id || !id->IsUint64() || id->GetUint64() != kId) return;  // notifications
        if (const auto* err = json::member(d, "error")) {
          answer = Error(ErrorCode::kInternal, json::get_string(*err, "message", "unknown error"));
          return;
        }
        answer = std::move(d);
      },
      [] {});
  char buf[65536];
  while (!answer) {
    ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error("the sandbox's owner closed the control connection");
    framer.feed(std::string_view(buf, static_cast<size_t>(n)));
  }
  return std::move(*answer);
}

}  // namespace matchlock::cli
