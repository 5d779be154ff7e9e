// The layer builtins on real temporary directories: export of a tree (whiteouts, opaque dirs,
// hard links, xattrs), apply + export round trips, hostile tars refused, and build roots run
// for real (namespaces + overlay; the tests run as root, and skip what needs it otherwise).
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "build_root.h"
#include "exec_request.h"
#include "layer_tar_apply.h"
#include "layer_tar_export.h"
#include "process_spawn.h"
#include "tar_format.h"

using namespace matchlock;
using namespace matchlock::guest_agent;
namespace fs = std::filesystem;

namespace {

struct TempDir {
  fs::path path;
  TempDir() {
    std::string t = (fs::temp_directory_path() / "ml-layer-XXXXXX").string();
    REQUIRE(::mkdtemp(t.data()));
    path = t;
  }
  ~TempDir() {
    std::error_code ec;
    fs::remove_all(path, ec);
  }
  std::string operator/(const std::string& name) const { return (path / name).string(); }
};

void write(const std::string& path, const std::string& contents) {
  std::ofstream(path, std::ios::binary) << contents;
}

std::string read(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool is_root() {
  return ::geteuid() == 0;
}

// Export into a string (through a temp file: the exporter writes with blocking writes).
std::string export_to_string(const std::string& dir, const TempDir& tmp) {
  const std::string out = tmp / "out.tar";
  UniqueFd fd(::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
  REQUIRE(fd);
  auto done = export_layer_tar(dir, fd.get());
  INFO((done.ok() ? "" : done.error().message));
  REQUIRE(done.ok());
  return read(out);
}

Status apply_from_string(const std::string& tar, const std::string& layers, const std::string& id,
                         const TempDir& tmp) {
  const std::string in = tmp / "in.tar";
  write(in, tar);
  UniqueFd fd(::open(in.c_str(), O_RDONLY | O_CLOEXEC));
  REQUIRE(fd);
  return apply_layer_tar(fd.get(), layers, id);
}

struct Listed {
  std::string name;
  char type;
  uint32_t mode;
  uint64_t uid, gid, size;
  int64_t mtime;
  std::string link;
  std::map<std::string, std::string> xattrs;
  std::string data;
  bool operator==(const Listed&) const = default;
};

// Entries of a tar the way tar_format decodes them (pax folded in).
std::vector<Listed> list_tar(const std::string& tar) {
  std::vector<Listed> out;
  size_t pos = 0;
  std::string pax;
  while (pos + tar::kBlockSize <= tar.size()) {
    auto header = tar::decode_header(std::string_view(tar).substr(pos, tar::kBlockSize));
    REQUIRE(header.ok());
    if (!header->has_value()) break;
    tar::Entry e = **header;
    pos += tar::kBlockSize;
    std::string data = tar.substr(pos, e.size);
    pos += e.size + tar::padding_for(e.size);
    if (e.type == tar::kPaxExtended) {
      pax += data;
      continue;
    }
    REQUIRE(tar::apply_pax_records(pax, e).ok());
    pax.clear();
    out.push_back(
        {e.name, e.type, e.mode, e.uid, e.gid, e.size, e.mtime, e.link_name, e.xattrs, data});
  }
  return out;
}

std::vector<std::string> names(const std::vector<Listed>& entries) {
  std::vector<std::string> out;
  for (const auto& e : entries) out.push_back(e.name);
  return out;
}

// A small layer: files, a dir, a symlink, a hard link, a long name, a setuid file, and (as
// root) a whiteout, an opaque directory, a fifo and an xattr.
void make_tree(const std::string& root) {
  fs::create_directories(root + "/etc/conf.d");
  write(root + "/etc/conf.d/a.conf", "alpha\n");
  write(root + "/bin-file", std::string(70000, 'x'));
  ::chmod((root + "/bin-file").c_str(), 04755);
  fs::create_symlink("../etc/conf.d/a.conf", root + "/etc/link");
  fs::create_hard_link(root + "/etc/conf.d/a.conf", root + "/hard");
  std::string long_dir = root + "/" + std::string(120, 'd');
  fs::create_directories(long_dir);
  write(long_dir + "/" + std::string(130, 'f'), "long");
  if (is_root()) {
    REQUIRE(::mknod((root + "/gone").c_str(), S_IFCHR, makedev(0, 0)) == 0);
    fs::create_directories(root + "/opaque");
    write(root + "/opaque/kept", "k");
    REQUIRE(::setxattr((root + "/opaque").c_str(), "trusted.overlay.opaque", "y", 1, 0) == 0);
    REQUIRE(::mkfifo((root + "/fifo").c_str(), 0640) == 0);
    REQUIRE(::setxattr((root + "/bin-file").c_str(), "user.note", "hello", 5, 0) == 0);
    REQUIRE(::lchown((root + "/etc/link").c_str(), 12, 34) == 0);
  }
}

}  // namespace

TEST_CASE("layer export writes a sorted tar with whiteouts, opaque markers and hard links",
          "[layer_tar]") {
  TempDir tmp;
  const std::string layer = tmp / "layer";
  fs::create_directories(layer);
  make_tree(layer);
  auto entries = list_tar(export_to_string(layer, tmp));
  auto listed = names(entries);
  // Parents before children, each directory's entries by name.
  auto index = [&](const std::string& n) {
    auto it = std::find(listed.begin(), listed.end(), n);
    INFO(n);
    REQUIRE(it != listed.end());
    return static_cast<size_t>(it - listed.begin());
  };
  CHECK(index("etc/") < index("etc/conf.d/"));
  CHECK(index("etc/conf.d/") < index("etc/conf.d/a.conf"));
  CHECK(index("etc/conf.d/a.conf") < index("hard"));
  const auto& file = entries[index("bin-file")];
  CHECK(file.mode == 04755);
  CHECK(file.data == std::string(70000, 'x'));
  const auto& link = entries[index("etc/link")];
  CHECK(link.type == tar::kSymlink);
  CHECK(link.link == "../etc/conf.d/a.conf");
  const auto& hard = entries[index("hard")];
  CHECK(hard.type == tar::kHardLink);
  CHECK(hard.link == "etc/conf.d/a.conf");
  std::string long_name = std::string(120, 'd') + "/" + std::string(130, 'f');
  CHECK(entries[index(long_name)].data == "long");
  if (!is_root()) {
    WARN("whiteouts, opaque dirs, fifos and xattrs need root");
    return;
  }
  CHECK(entries[index(".wh.gone")].type == tar::kRegular);
  CHECK(entries[index(".wh.gone")].size == 0);
  CHECK(index("opaque/") + 1 == index("opaque/.wh..wh..opq"));
  CHECK(entries[index("opaque/")].xattrs.empty());  // no trusted.overlay.*
  CHECK(entries[index("fifo")].type == tar::kFifo);
  CHECK(entries[index("fifo")].mode == 0640);
  CHECK(file.xattrs.at("user.note") == "hello");
  CHECK(link.uid == 12);
  CHECK(link.gid == 34);
}

TEST_CASE("layer apply then export gives back the same entries", "[layer_tar]") {
  TempDir tmp;
  const std::string layer = tmp / "layer";
  fs::create_directories(layer);
  make_tree(layer);
  const std::string first = export_to_string(layer, tmp);
  fs::create_directories(tmp / "layers");
  auto applied = apply_from_string(first, tmp / "layers", "copy", tmp);
  INFO((applied.ok() ? "" : applied.error().message));
  REQUIRE(applied.ok());
  const std::string copy = tmp / "layers/copy";
  if (is_root()) {
    struct stat st {};
    REQUIRE(::lstat((copy + "/gone").c_str(), &st) == 0);
    CHECK(S_ISCHR(st.st_mode));
    CHECK(st.st_rdev == makedev(0, 0));
    char value[4] = {};
    CHECK(::getxattr((copy + "/opaque").c_str(), "trusted.overlay.opaque", value, 4) == 1);
  }
  auto again = list_tar(export_to_string(copy, tmp));
  CHECK(again == list_tar(first));
}

TEST_CASE("layer apply refuses hostile tars and leaves no layer behind", "[layer_tar]") {
  TempDir tmp;
  fs::create_directories(tmp / "layers");
  fs::create_directories(tmp / "outside");
  auto entry = [](const std::string& name, char type, const std::string& data = "",
                  const std::string& link = "") {
    tar::Entry e;
    e.name = name;
    e.type = type;
    e.mode = 0644;
    e.size = data.size();
    e.link_name = link;
    return tar::encode_header(e) + data + std::string(tar::padding_for(data.size()), '\0');
  };
  const std::string end(2 * tar::kBlockSize, '\0');
  struct Case {
    const char* what;
    std::string tar;
  };
  const std::string outside = (tmp.path / "outside").string();
  std::vector<Case> cases = {
      {"dot-dot", entry("../x", tar::kRegular, "x") + end},
      {"dot-dot inside", entry("a/../../x", tar::kRegular, "x") + end},
      {"absolute", entry("/etc/passwd", tar::kRegular, "x") + end},
      {"symlink parent",
       entry("evil", tar::kSymlink, "", outside) + entry("evil/x", tar::kRegular, "x") + end},
      {"hard link out", entry("h", tar::kHardLink, "", "../outside/y") + end},
      {"truncated data", entry("t", tar::kRegular, std::string(2000, 'a')).substr(0, 1024)},
      {"truncated header", entry("t", tar::kRegular, "x").substr(0, 100)},
      {"bad checksum",
       [&] {
         std::string t = entry("c", tar::kRegular, "x") + end;
         t[0] = 'C';
         return t;
       }()},
      {"unknown type", entry("s", 'S') + end},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto applied = apply_from_string(c.tar, tmp / "layers", "bad", tmp);
    CHECK_FALSE(applied.ok());
    CHECK_FALSE(fs::exists(tmp / "layers/bad"));
  }
  CHECK(fs::is_empty(tmp / "outside"));
  // The layer must be new.
  fs::create_directories(tmp / "layers/taken");
  CHECK_FALSE(apply_from_string(end, tmp / "layers", "taken", tmp).ok());
}

TEST_CASE("exec requests parse build_root and builtin", "[layer_tar]") {
  auto ok =
      parse_exec_request(R"({"argv":["sh"],"build_root":{"lower":["l2","l1"],"upper":"l3"}})");
  REQUIRE(ok.ok());
  REQUIRE(ok->build_root);
  CHECK(ok->build_root->lower == std::vector<std::string>{"l2", "l1"});
  CHECK(ok->build_root->upper == "l3");
  auto builtin = parse_exec_request(R"({"builtin":"layer-export","build_root":{"upper":"a_b-1"}})");
  REQUIRE(builtin.ok());
  CHECK(builtin->builtin == Builtin::kLayerExport);
  for (const char* bad : {
           R"({"argv":["sh"],"build_root":{"upper":"../x"}})",
           R"({"argv":["sh"],"build_root":{"upper":"A"}})",
           R"({"argv":["sh"],"build_root":{"lower":["x/y"],"upper":"a"}})",
           R"({"argv":["sh"],"build_root":{"lower":["a"],"upper":"a"}})",
           R"({"argv":["sh"],"build_root":{}})",
           R"({"builtin":"layer-export"})",
           R"({"builtin":"rm-rf","build_root":{"upper":"a"}})",
           R"({"argv":["sh"],"build_root":"a"})",
       }) {
    INFO(bad);
    CHECK_FALSE(parse_exec_request(bad).ok());
  }
  std::string many = R"({"argv":["sh"],"build_root":{"upper":"u","lower":[)";
  for (int i = 0; i < 201; ++i) many += (i ? ",\"l" : "\"l") + std::to_string(i) + "\"";
  CHECK_FALSE(parse_exec_request(many + "]}}").ok());
}

namespace {

struct RunResult {
  int exit_code = -1;
  std::string out, err;
  std::string failure;
};

std::string drain(int fd) {
  std::string out;
  char buf[4096];
  while (true) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno == EAGAIN) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
      continue;
    }
    return out;
  }
}

RunResult run(const ExecRequest& request, const BuildStorage& storage) {
  RunResult result;
  UserCache users;
  auto spawned = spawn_process(request, &storage, -1, users);
  if (auto* failure = std::get_if<SpawnFailure>(&spawned)) {
    result.failure = failure->message;
    result.exit_code = failure->exit_code;
    return result;
  }
  auto& process = std::get<SpawnedProcess>(spawned);
  process.stdin_writer.reset();
  std::thread err([&] { result.err = drain(process.stderr_reader.get()); });
  result.out = drain(process.stdout_reader.get());
  err.join();
  int status = 0;
  REQUIRE(::waitpid(process.pid, &status, 0) == process.pid);
  result.exit_code = WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
  return result;
}

// A base "image" with a static busybox, if the host has one.
std::optional<std::string> find_busybox() {
  for (const char* path : {"/bin/busybox", "/usr/bin/busybox"}) {
    if (::access(path, X_OK) == 0) return path;
  }
  return std::nullopt;
}

}  // namespace

TEST_CASE("build roots run on an overlay of layers and leave a clean diff",
          "[layer_tar][build_root]") {
  if (!is_root()) {
    WARN("needs root (namespaces, overlay)");
    return;
  }
  auto busybox = find_busybox();
  if (!busybox) {
    WARN("no busybox on this host to make a base image from");
    return;
  }
  TempDir tmp;
  BuildStorage storage{tmp / "layers", tmp / "work", tmp / "base", tmp / "root"};
  for (const auto& dir : {storage.layers_dir, storage.work_dir, storage.base_dir + "/bin",
                          storage.base_dir + "/etc", storage.mount_point}) {
    fs::create_directories(dir);
  }
  fs::copy_file(*busybox, storage.base_dir + "/bin/busybox");
  fs::create_symlink("busybox", storage.base_dir + "/bin/sh");
  write(storage.base_dir + "/etc/passwd",
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534::/:/bin/sh\n");
  write(storage.base_dir + "/etc/group", "root:x:0:\nnobody:x:65534:\n");
  write(storage.base_dir + "/etc/old", "old");

  auto sh = [&](const std::string& script, std::vector<std::string> lower, const std::string& upper,
                const std::string& user = "", const std::string& cwd = "/") {
    ExecRequest r;
    r.argv = {"/bin/busybox", "sh", "-c", script};
    r.env = {"PATH=/bin"};
    r.cwd = cwd;
    r.user = user;
    r.privileged = true;  // the host's seccomp profile is not what is under test
    r.build_root = BuildRoot{std::move(lower), upper};
    return run(r, storage);
  };

  auto first =
      sh("echo hi > /new && busybox rm /etc/old && (busybox sleep 1000 &) && "
         "echo started",
         {}, "l1", "", "/work/dir");
  INFO(first.failure << first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(first.out.find("started") != std::string::npos);
  CHECK(fs::exists(storage.layers_dir + "/l1/work/dir"));  // WORKDIR created
  // Only the command's changes: no proc/sys/dev/etc mount points left behind.
  CHECK_FALSE(fs::exists(storage.layers_dir + "/l1/proc"));
  CHECK_FALSE(fs::exists(storage.layers_dir + "/l1/etc/hosts"));
  CHECK(read(storage.layers_dir + "/l1/new") == "hi\n");
  struct stat st {};
  REQUIRE(::lstat((storage.layers_dir + "/l1/etc/old").c_str(), &st) == 0);
  CHECK(S_ISCHR(st.st_mode));  // a whiteout

  // Stacked: l1 is below, its whiteout hides the base's file; pid 1 is the supervisor.
  auto second =
      sh("busybox cat /new; test -e /etc/old || echo no-old; echo $$; busybox id -u; "
         "test -e /proc/self && echo proc",
         {"l1"}, "l2", "nobody");
  INFO(second.failure << second.err);
  CHECK(second.exit_code == 0);
  CHECK(second.out == "hi\nno-old\n2\n65534\nproc\n");

  CHECK(sh("exit 7", {"l2", "l1"}, "l3").exit_code == 7);
  CHECK(sh("kill -9 $$", {}, "l4").exit_code == 137);
  auto missing = sh("true", {"nope"}, "l5");
  CHECK(missing.failure.find("build root: layer nope") != std::string::npos);
  auto again = sh("true", {}, "l1");
  CHECK(again.failure.find("create layer l1") != std::string::npos);
  auto bad_user = sh("true", {}, "l6", "ghost");
  CHECK(bad_user.failure.find("ghost") != std::string::npos);

  // Builtins: export, drop.
  ExecRequest exported;
  exported.builtin = Builtin::kLayerExport;
  exported.build_root = BuildRoot{{}, "l1"};
  auto tar_out = run(exported, storage);
  CHECK(tar_out.exit_code == 0);
  auto entries = names(list_tar(tar_out.out));
  CHECK(std::find(entries.begin(), entries.end(), "etc/.wh.old") != entries.end());
  CHECK(std::find(entries.begin(), entries.end(), "new") != entries.end());
  ExecRequest dropped;
  dropped.builtin = Builtin::kLayerDrop;
  dropped.build_root = BuildRoot{{}, "l1"};
  CHECK(run(dropped, storage).exit_code == 0);
  CHECK_FALSE(fs::exists(storage.layers_dir + "/l1"));
}
