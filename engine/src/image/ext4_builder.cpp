#include "image/ext4_builder.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <sstream>

#include "core/subprocess.h"
#include "image/content_store.h"

namespace matchlock::image {
namespace {

constexpr int64_t kBlock = 4096;
constexpr int64_t kHeadroomBytes = 64LL << 20;  // metadata, lost+found, rounding
constexpr int64_t kInodeBytes = 256;

int64_t blocks_for(int64_t bytes) {
  return (bytes + kBlock - 1) / kBlock;
}

void add_fix(std::ostringstream& script, const std::string& quoted, const char* field,
             const std::string& value) {
  script << "set_inode_field " << quoted << ' ' << field << ' ' << value << '\n';
}

std::string octal(uint32_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0%o", v);
  return buf;
}

}  // namespace

Result<std::string> debugfs_quote(const std::string& path) {
  // debugfs splits lines on whitespace; inside "..." a doubled quote is a literal quote. A
  // newline ends the command, so such a name cannot be addressed at all.
  if (path.find_first_of("\n\r") != std::string::npos || path.find('\0') != std::string::npos) {
    return invalid_argument("path \"" + path +
                            "\" contains a newline; debugfs cannot set its owner");
  }
  std::string out = "\"";
  for (char c : path) {
    if (c == '"')
      out += "\"\"";
    else
      out += c;
  }
  out += '"';
  return out;
}

Result<Ext4Plan> plan_ext4(const std::filesystem::path& staging,
                           const std::map<std::string, EntryMeta>& meta) {
  Ext4Plan plan;
  std::ostringstream script;
  int64_t blocks = 0;

  // Root: mkfs sets root_owner=0:0; its mode and any recorded owner are always applied.
  EntryMeta root{0, 0, S_IFDIR | 0755, 0, 0};
  if (auto it = meta.find(""); it != meta.end()) root = it->second;
  add_fix(script, "/", "uid", std::to_string(root.uid));
  add_fix(script, "/", "gid", std::to_string(root.gid));
  add_fix(script, "/", "mode", octal(root.mode));

  std::error_code ec;
  std::filesystem::recursive_directory_iterator it(staging,
                                                   std::filesystem::directory_options::none, ec);
  if (ec) return io_error("walk " + staging.string() + ": " + ec.message());
  for (; it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return io_error("walk " + staging.string() + ": " + ec.message());
    // Plain string arithmetic: std::filesystem::relative() would resolve symlinks on the host.
    std::string rel = it->path().string().substr(staging.string().size() + 1);
    struct stat st {};
    if (::lstat(it->path().c_str(), &st) != 0) {
      return io_error("lstat " + rel + ": " + std::strerror(errno));
    }
    ++plan.inodes;
    if (S_ISREG(st.st_mode))
      blocks += blocks_for(st.st_size) + 1;  // +1: extent/xattr slack
    else if (S_ISDIR(st.st_mode))
      blocks += 1 + blocks_for(st.st_size);
    else if (S_ISLNK(st.st_mode) && st.st_size >= 60)
      blocks += 1;  // not inline in the inode

    EntryMeta want{0, 0, static_cast<uint32_t>(st.st_mode), 0, 0};
    if (auto m = meta.find(rel); m != meta.end()) want = m->second;
    bool uid = want.uid != st.st_uid, gid = want.gid != st.st_gid;
    // Symlink permission bits are meaningless; mkfs copies 0777 and Linux ignores them.
    bool mode = !S_ISLNK(st.st_mode) && (want.mode & 07777) != (st.st_mode & 07777);
    if (!uid && !gid && !mode) continue;
    auto quoted = debugfs_quote("/" + rel);
    if (!quoted) return quoted.error();
    if (uid) add_fix(script, *quoted, "uid", std::to_string(want.uid));
    if (gid) add_fix(script, *quoted, "gid", std::to_string(want.gid));
    if (mode) add_fix(script, *quoted, "mode", octal((st.st_mode & S_IFMT) | (want.mode & 07777)));
    ++plan.fixes;
  }
  plan.inodes += 16;  // reserved inodes and lost+found
  int64_t data = blocks * kBlock;
  int64_t inode_room = static_cast<int64_t>(plan.inodes + plan.inodes / 4 + 1024);
  plan.size_bytes = data + data / 5 + inode_room * kInodeBytes + kHeadroomBytes;
  plan.size_bytes = (plan.size_bytes + (1 << 20) - 1) / (1 << 20) * (1 << 20);
  plan.inodes = static_cast<uint64_t>(inode_room);
  plan.debugfs_script = script.str();
  return plan;
}

Status build_ext4(const std::filesystem::path& staging, const Ext4Plan& plan,
                  const std::filesystem::path& out, const std::filesystem::path& scratch_dir) {
  auto mkfs = find_program("mkfs.ext4");
  if (!mkfs) return not_found(mkfs.error().message + " (install e2fsprogs)");
  auto debugfs = find_program("debugfs");
  if (!debugfs) return not_found(debugfs.error().message + " (install e2fsprogs)");

  std::vector<std::string> argv = {*mkfs,
                                   "-q",
                                   "-F",
                                   "-d",
                                   staging.string(),
                                   "-L",
                                   "matchlock-base",
                                   "-O",
                                   "^has_journal",
                                   "-E",
                                   "root_owner=0:0",
                                   "-b",
                                   "4096",
                                   "-I",
                                   "256",
                                   "-m",
                                   "0",
                                   "-N",
                                   std::to_string(plan.inodes),
                                   out.string(),
                                   std::to_string(plan.size_bytes / 1024) + "k"};
  auto r = run_process(argv);
  if (!r) return r.error();
  if (r->exit_code != 0) {
    std::string msg = r->output.substr(0, r->output.find('\n'));
    return io_error("mkfs.ext4 failed (exit " + std::to_string(r->exit_code) + "): " + msg);
  }
  if (plan.debugfs_script.empty()) return {};

  auto tmp = make_temp_file(scratch_dir, "debugfs-");
  if (!tmp) return tmp.error();
  std::filesystem::path script_path = tmp->second;
  struct Unlink {
    std::filesystem::path p;
    ~Unlink() { ::unlink(p.c_str()); }
  } cleanup{script_path};
  const std::string& s = plan.debugfs_script;
  for (size_t off = 0; off < s.size();) {
    ssize_t n = ::write(tmp->first.get(), s.data() + off, s.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return io_error("write debugfs script: " + std::string(std::strerror(errno)));
    off += static_cast<size_t>(n);
  }
  tmp->first.reset();

  r = run_process({*debugfs, "-w", "-f", script_path.string(), out.string()});
  if (!r) return r.error();
  // debugfs exits 0 even when a command fails; its complaints go to stderr.
  std::istringstream err(r->output);
  for (std::string line; std::getline(err, line);) {
    if (line.empty() || line.starts_with("debugfs ")) continue;  // version banner
    return io_error("debugfs: " + line);
  }
  if (r->exit_code != 0)
    return io_error("debugfs failed (exit " + std::to_string(r->exit_code) + ")");
  return {};
}

}  // namespace matchlock::image
