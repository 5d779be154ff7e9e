#include "sandbox/mount_spec.h"

#include <sys/stat.h>

#include <array>
#include <set>

namespace matchlock::sandbox {
namespace {

// Directories the guest itself needs: a FUSE tree there would hide the system (or the kernel's
// pseudo filesystems, for which nothing beneath works either). /tmp is refused only as a whole
// (the agent and many tools keep scratch files there); a directory beneath it is fine.
constexpr std::array kSystemDirs = {"/bin",   "/boot",  "/dev",    "/etc",  "/lib",
                                    "/lib32", "/lib64", "/libx32", "/proc", "/run",
                                    "/sbin",  "/sys",   "/tmp",    "/usr",  "/var"};
constexpr std::array kNothingBeneath = {"/dev", "/proc", "/run", "/sys"};

bool is_within(const std::string& path, const std::string& dir) {
  if (dir == "/") return true;
  return path == dir || (path.size() > dir.size() && path.compare(0, dir.size(), dir) == 0 &&
                         path[dir.size()] == '/');
}

Error volume_error(std::string_view value, const std::string& why) {
  return invalid_argument("invalid volume mount \"" + std::string(value) + "\": " + why);
}

std::optional<MountMode> parse_mode(std::string_view mode) {
  if (mode == "overlay") return MountMode::kOverlay;
  if (mode == "host_fs") return MountMode::kHostFs;
  if (mode == "ro" || mode == "readonly") return MountMode::kReadOnly;
  return std::nullopt;
}

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

}  // namespace

const char* mount_mode_name(MountMode mode) {
  switch (mode) {
    case MountMode::kOverlay:
      return "overlay";
    case MountMode::kHostFs:
      return "host_fs";
    case MountMode::kReadOnly:
      return "ro";
    case MountMode::kMemory:
      return "memory";
  }
  return "?";
}

std::string clean_absolute_path(std::string_view path) {
  std::vector<std::string_view> parts;
  size_t i = 0;
  while (i < path.size()) {
    size_t end = path.find('/', i);
    if (end == std::string_view::npos) end = path.size();
    std::string_view part = path.substr(i, end - i);
    if (part == "..") {
      if (!parts.empty()) parts.pop_back();
    } else if (!part.empty() && part != ".") {
      parts.push_back(part);
    }
    i = end + 1;
  }
  std::string out;
  for (auto part : parts) out.append("/").append(part);
  return out.empty() ? "/" : out;
}

Result<std::string> parse_workspace(std::string_view value, std::string_view field) {
  auto fail = [&](const std::string& why) {
    return invalid_argument("invalid " + std::string(field) + " \"" + std::string(value) +
                            "\": " + why);
  };
  if (value.empty() || value.front() != '/') return fail("must be an absolute path");
  for (char c : value) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '/' || c == '_' || c == '.' || c == '-';
    if (!ok) return fail("may only contain letters, digits and / _ . -");
  }
  std::string clean = clean_absolute_path(value);
  if (clean == "/") return fail("must not be /");
  for (const char* dir : kSystemDirs) {
    if (clean == dir) return fail("is a system directory the guest needs");
  }
  for (const char* dir : kNothingBeneath) {
    if (is_within(clean, dir)) return fail("is inside a system directory the guest needs");
  }
  return clean;
}

Result<MountSpec> parse_volume(std::string_view value, const std::string& cwd,
                               const std::string& workspace) {
  // HOST:GUEST[:MODE]; a host path containing ':' is not supported (as with docker -v).
  std::vector<std::string_view> fields;
  size_t start = 0;
  for (;;) {
    size_t colon = value.find(':', start);
    fields.push_back(value.substr(start, colon - start));
    if (colon == std::string_view::npos) break;
    start = colon + 1;
  }
  if (fields.size() < 2 || fields.size() > 3 || fields[0].empty() || fields[1].empty()) {
    return volume_error(value, "expected HOST:GUEST[:overlay|host_fs|ro]");
  }
  MountSpec spec;
  if (fields.size() == 3) {
    auto mode = parse_mode(fields[2]);
    if (!mode) {
      return volume_error(value,
                          "unknown mode \"" + std::string(fields[2]) + "\" (overlay, host_fs, ro)");
    }
    spec.mode = *mode;
  }
  std::string host(fields[0]);
  if (host.front() != '/') host = cwd + "/" + host;
  spec.host_path = clean_absolute_path(host);
  struct stat st {};
  if (::stat(spec.host_path.c_str(), &st) != 0) {
    return volume_error(value, "host path does not exist");
  }
  if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) {
    return volume_error(value, "host path is neither a directory nor a regular file");
  }
  std::string guest(fields[1]);
  if (guest.front() != '/') guest = workspace + "/" + guest;
  spec.guest_path = clean_absolute_path(guest);
  if (!is_within(spec.guest_path, workspace)) {
    return volume_error(value, "guest path must be within workspace: \"" + spec.guest_path +
                                   "\" not in \"" + workspace + "\"");
  }
  return spec;
}

Status validate_mounts(const VfsOptions& vfs,
                       const std::function<std::string(const MountSpec&)>& label) {
  std::set<std::string> seen;
  for (const auto& m : vfs.mounts) {
    if (!is_within(m.guest_path, vfs.workspace)) {
      return invalid_argument(label(m) + ": guest path must be within workspace: \"" +
                              m.guest_path + "\" not in \"" + vfs.workspace + "\"");
    }
    if (!seen.insert(m.guest_path).second) {
      return invalid_argument(label(m) + ": \"" + m.guest_path + "\" is mounted twice");
    }
  }
  for (const auto& file : vfs.mounts) {
    if (file.mode == MountMode::kMemory || !is_regular_file(file.host_path)) continue;
    if (file.guest_path == vfs.workspace) {
      return invalid_argument(label(file) + ": the workspace itself cannot be a file");
    }
    for (const auto& m : vfs.mounts) {
      if (&m != &file && is_within(m.guest_path, file.guest_path)) {
        return invalid_argument(label(m) + ": \"" + m.guest_path +
                                "\" is beneath the file mount \"" + file.guest_path + "\"");
      }
    }
  }
  return {};
}

Result<VfsOptions> parse_cli_vfs(const std::vector<std::string>& volumes,
                                 const std::string& workspace, const std::string& cwd) {
  VfsOptions vfs;
  if (!workspace.empty()) {
    auto ws = parse_workspace(workspace, "--workspace");
    if (!ws.ok()) return ws.error();
    vfs.workspace = *ws;
  }
  for (const auto& v : volumes) {
    auto spec = parse_volume(v, cwd, vfs.workspace);
    if (!spec.ok()) return spec.error();
    vfs.mounts.push_back(std::move(*spec));
  }
  // Labels point back at the flag the user typed (same order as vfs.mounts).
  MATCHLOCK_TRY(validate_mounts(vfs, [&](const MountSpec& m) {
    const size_t index = static_cast<size_t>(&m - vfs.mounts.data());
    return "invalid volume mount \"" + volumes[index] + "\"";
  }));
  return vfs;
}

}  // namespace matchlock::sandbox
