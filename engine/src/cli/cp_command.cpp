// `matchlock cp SRC DST`: copies one regular file between the host and a running sandbox,
// streamed in 4 MiB chunks over the control socket (rpc read_file / write_file with offsets).
// One side is ID:/guest/path, the other a host path.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

#include "cli/commands.h"
#include "cli/control_client.h"
#include "cli/sandbox_lookup.h"
#include "core/base64.h"
#include "core/json.h"
#include "core/unique_fd.h"

namespace matchlock::cli {
namespace {

constexpr const char* kUsage =
    "Usage: matchlock cp SRC DST\n\n"
    "Copy a regular file between the host and a running sandbox. Exactly one of SRC and DST is\n"
    "ID:/guest/path (ID: the sandbox's id or a unique prefix of it); the other is a host path.\n"
    "A DST ending in / (or an existing host directory) receives the file under its own name.\n"
    "The file's permission bits are kept. Directories are not supported yet.\n";

constexpr size_t kChunkBytes = 4 * 1024 * 1024;

struct GuestPath {
  std::string id;
  std::string path;
};

// "ID:/path" (the id has no '/', so "./a:b" and "/x:y" stay host paths).
std::optional<GuestPath> guest_path(const std::string& word) {
  const auto colon = word.find(':');
  if (colon == std::string::npos || colon == 0) return std::nullopt;
  if (word.find('/') < colon) return std::nullopt;
  return GuestPath{word.substr(0, colon), word.substr(colon + 1)};
}

std::string base_name(const std::string& path) {
  auto end = path.find_last_not_of('/');
  if (end == std::string::npos) return "";
  auto slash = path.rfind('/', end);
  return path.substr(slash == std::string::npos ? 0 : slash + 1,
                     end - (slash == std::string::npos ? 0 : slash + 1) + 1);
}

bool is_host_dir(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

Result<rapidjson::Document> call(int fd, const char* method, rapidjson::Document& params) {
  return call_blocking(fd, method, params);
}

// Whether an existing guest directory is at `path` (it then receives the file under its own
// name, as with cp): looked up in the parent's listing, which tells a directory from a file.
bool is_guest_dir(int fd, const std::string& path) {
  const auto slash = path.find_last_of('/');
  const std::string parent = slash == 0 ? "/" : path.substr(0, slash);
  const std::string name = path.substr(slash + 1);
  if (name == "." || name == "..") return true;
  rapidjson::Document p(rapidjson::kObjectType);
  p.AddMember("path", json::str(parent, p.GetAllocator()), p.GetAllocator());
  auto reply = call(fd, "list_files", p);
  if (!reply.ok()) return false;
  const auto* result = json::member(*reply, "result");
  const auto* files = result ? json::member(*result, "files") : nullptr;
  if (!files || !files->IsArray()) return false;
  for (const auto& f : files->GetArray()) {
    const auto* n = json::member(f, "name");
    const auto* dir = json::member(f, "is_dir");
    if (n && n->IsString() && name == n->GetString() && dir && dir->IsBool()) return dir->GetBool();
  }
  return false;
}

// The copy lands in a temporary file beside `dst` and is renamed over it only when complete,
// so a failed copy leaves neither a partial file nor a clobbered old one.
class PartialFile {
 public:
  explicit PartialFile(std::string dst) : dst_(std::move(dst)), temp_(dst_ + ".cp-XXXXXX") {}
  ~PartialFile() {
    if (fd_) ::unlink(temp_.c_str());
  }
  Status open(mode_t mode) {
    fd_ = UniqueFd(::mkostemp(temp_.data(), O_CLOEXEC));
    if (!fd_) return io_error(dst_ + ": " + std::strerror(errno));
    if (::fchmod(fd_.get(), mode) != 0) return io_error(dst_ + ": " + std::strerror(errno));
    return Status();
  }
  bool is_open() const { return fd_.valid(); }
  int fd() const { return fd_.get(); }
  Status commit() {
    if (::rename(temp_.c_str(), dst_.c_str()) != 0) {
      return io_error(dst_ + ": " + std::strerror(errno));
    }
    fd_.reset();
    return Status();
  }

 private:
  std::string dst_;
  std::string temp_;
  UniqueFd fd_;
};

int copy_from_guest(int fd, const GuestPath& src, std::string dst) {
  const std::string label = src.id + ":" + src.path;
  if (dst.ends_with('/') || is_host_dir(dst)) {
    if (!dst.ends_with('/')) dst += '/';
    dst += base_name(src.path);
  }
  PartialFile out(dst);
  uint64_t offset = 0;
  for (;;) {
    rapidjson::Document p(rapidjson::kObjectType);
    auto& a = p.GetAllocator();
    p.AddMember("path", json::str(src.path, a), a);
    p.AddMember("offset", offset, a);
    p.AddMember("limit", static_cast<uint64_t>(kChunkBytes), a);
    auto reply = call(fd, "read_file", p);
    if (!reply.ok()) return fail("cp " + label + ": " + reply.error().message, 1);
    const auto* result = json::member(*reply, "result");
    const auto* content = result ? json::member(*result, "content") : nullptr;
    const auto* size = result ? json::member(*result, "size") : nullptr;
    if (!content || !content->IsString() || !size || !size->IsUint64()) {
      return fail("cp " + label + ": the sandbox's engine does not support chunked reads", 1);
    }
    auto bytes = base64::decode({content->GetString(), content->GetStringLength()});
    if (!bytes) return fail("cp " + label + ": bad content from the sandbox", 1);
    if (!out.is_open()) {
      const auto* m = json::member(*result, "mode");
      const mode_t mode = m && m->IsUint() ? static_cast<mode_t>(m->GetUint() & 07777) : 0644;
      if (auto st = out.open(mode); !st.ok()) return fail("cp: " + st.error().message, 1);
    }
    for (size_t done = 0; done < bytes->size();) {
      ssize_t n = ::write(out.fd(), bytes->data() + done, bytes->size() - done);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return fail("cp: " + dst + ": " + std::strerror(errno), 1);
      done += static_cast<size_t>(n);
    }
    offset += bytes->size();
    // The size is the file's when this chunk was read: a file that shrinks ends the copy early.
    if (bytes->empty() || offset >= size->GetUint64()) break;
  }
  if (auto st = out.commit(); !st.ok()) return fail("cp: " + st.error().message, 1);
  return 0;
}

int copy_to_guest(int fd, const std::string& src, GuestPath dst) {
  UniqueFd in(::open(src.c_str(), O_RDONLY | O_CLOEXEC));
  if (!in) return fail("cp: " + src + ": " + std::strerror(errno), 1);
  struct stat st {};
  if (::fstat(in.get(), &st) != 0) return fail("cp: " + src + ": " + std::strerror(errno), 1);
  if (S_ISDIR(st.st_mode))
    return fail("cp: " + src + ": copying directories is not supported yet", 1);
  if (!S_ISREG(st.st_mode)) return fail("cp: " + src + ": not a regular file", 1);
  if (dst.path.ends_with('/') || is_guest_dir(fd, dst.path)) {
    if (!dst.path.ends_with('/')) dst.path += '/';
    dst.path += base_name(src);
  }
  const std::string label = dst.id + ":" + dst.path;
  std::string chunk(kChunkBytes, '\0');
  uint64_t offset = 0;
  for (bool first = true;; first = false) {
    ssize_t n = ::read(in.get(), chunk.data(), chunk.size());
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return fail("cp: " + src + ": " + std::strerror(errno), 1);
    if (n == 0 && !first) break;
    rapidjson::Document p(rapidjson::kObjectType);
    auto& a = p.GetAllocator();
    p.AddMember("path", json::str(dst.path, a), a);
    p.AddMember("content", json::str(base64::encode({chunk.data(), static_cast<size_t>(n)}), a), a);
    p.AddMember("mode", static_cast<uint32_t>(st.st_mode & 07777), a);
    p.AddMember("offset", offset, a);
    p.AddMember("truncate", true, a);  // each chunk ends the file: no stale tail survives
    auto reply = call(fd, "write_file", p);
    if (!reply.ok()) return fail("cp " + label + ": " + reply.error().message, 1);
    offset += static_cast<uint64_t>(n);
    if (n == 0) break;
  }
  return 0;
}

}  // namespace

int cmd_cp(Args args) {
  if (!args.empty() && (args[0] == "-h" || args[0] == "--help")) {
    std::printf("%s", kUsage);
    return 0;
  }
  if (args.size() != 2) return fail("usage: matchlock cp SRC DST");
  auto src = guest_path(args[0]);
  auto dst = guest_path(args[1]);
  if (src.has_value() == dst.has_value()) {
    return fail("cp: exactly one of SRC and DST must be ID:/guest/path");
  }
  const GuestPath& guest = src ? *src : *dst;
  if (guest.path.empty() || guest.path.front() != '/') {
    return fail("cp: guest path must be absolute: " + guest.id + ":" + guest.path);
  }
  const std::string& host = src ? args[1] : args[0];
  if (host.empty()) return fail("cp: empty host path");
  // A unique id prefix names the sandbox, as for the lifecycle commands.
  auto store = open_state();
  if (!store.ok()) return fail(store.error().message, 1);
  auto row = find_sandbox(**store, guest.id);
  if (!row.ok()) return fail(row.error().message, 1);
  auto sock = connect_sandbox(row->id);
  if (!sock.ok()) return fail(sock.error().message, 1);
  return src ? copy_from_guest(sock->get(), *src, host) : copy_to_guest(sock->get(), host, *dst);
}

}  // namespace matchlock::cli
