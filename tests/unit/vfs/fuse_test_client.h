// Drives a FuseServer the way the guest kernel would: encodes FUSE requests, collects the
// replies the server sends and decodes them for the tests.
#pragma once

#include <fcntl.h>
#include <linux/fuse.h>
#include <sys/uio.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "vfs/fuse_server.h"
#include "vfs/memory_provider.h"
#include "vfs/mount_table.h"

namespace matchlock::vfs::test {

template <typename T>
std::string bytes_of(const T& v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(T));
}

inline std::string cstr(const std::string& s) {
  return s + std::string(1, '\0');
}

inline std::string fuse_request(uint32_t opcode, uint64_t node, const std::string& body,
                                uint64_t unique, uint32_t uid = 1000, uint32_t gid = 1000) {
  fuse_in_header h{};
  h.len = static_cast<uint32_t>(sizeof(h) + body.size());
  h.opcode = opcode;
  h.unique = unique;
  h.nodeid = node;
  h.uid = uid;
  h.gid = gid;
  h.pid = 42;
  return bytes_of(h) + body;
}

struct Reply {
  uint64_t unique = 0;
  int error = 0;  // positive errno
  std::string body;
  template <typename T>
  T as() const {
    T v{};
    std::memcpy(&v, body.data(), std::min(sizeof(T), body.size()));
    return v;
  }
};

inline Reply parse_reply(const std::string& raw) {
  fuse_out_header h{};
  std::memcpy(&h, raw.data(), sizeof(h));
  REQUIRE(h.len == raw.size());
  return Reply{h.unique, -h.error, raw.substr(sizeof(h))};
}

class FuseTestClient {
 public:
  explicit FuseTestClient(MountTable mounts, std::shared_ptr<VfsHooks> hooks = nullptr,
                          FuseServer::Limits limits = {})
      : server(
            std::move(mounts), "/workspace", std::move(hooks),
            [this](std::string r, size_t n) {
              sent.push_back(std::move(r));
              placed.push_back(n);
            },
            limits) {}
  explicit FuseTestClient(std::shared_ptr<VfsHooks> hooks = nullptr)
      : FuseTestClient(*MountTable::create({}), std::move(hooks)) {}

  // Sends a request and returns its reply (which must come at once).
  Reply call(uint32_t opcode, uint64_t node, const std::string& body) {
    size_t before = sent.size();
    uint64_t u = send(opcode, node, body);
    REQUIRE(sent.size() == before + 1);
    Reply r = parse_reply(sent.back());
    REQUIRE(r.unique == u);
    return r;
  }
  uint64_t send(uint32_t opcode, uint64_t node, const std::string& body) {
    uint64_t u = next_unique++;
    server.handle(fuse_request(opcode, node, body, u));
    return u;
  }

  Reply init(uint32_t major = 7, uint32_t minor = 38) {
    fuse_init_in in{};
    in.major = major;
    in.minor = minor;
    in.max_readahead = 128 * 1024;
    in.flags = FUSE_ASYNC_READ | FUSE_BIG_WRITES | FUSE_ATOMIC_O_TRUNC | FUSE_MAX_PAGES |
               FUSE_PARALLEL_DIROPS | FUSE_POSIX_LOCKS | FUSE_DO_READDIRPLUS;
    return call(FUSE_INIT, 0, bytes_of(in));
  }
  Reply lookup(uint64_t parent, const std::string& name) {
    return call(FUSE_LOOKUP, parent, cstr(name));
  }
  uint64_t node_of(uint64_t parent, const std::string& name) {
    Reply r = lookup(parent, name);
    REQUIRE(r.error == 0);
    return r.as<fuse_entry_out>().nodeid;
  }
  struct Opened {
    int error = 0;
    uint64_t node = 0, fh = 0;
    uint32_t open_flags = 0;  // FOPEN_* the server asked of the kernel
  };
  Opened create(uint64_t parent, const std::string& name, int flags = O_RDWR | O_CREAT,
                uint32_t mode = S_IFREG | 0644) {
    fuse_create_in in{};
    in.flags = static_cast<uint32_t>(flags);
    in.mode = mode;
    Reply r = call(FUSE_CREATE, parent, bytes_of(in) + cstr(name));
    if (r.error) return Opened{r.error};
    REQUIRE(r.body.size() == sizeof(fuse_entry_out) + sizeof(fuse_open_out));
    fuse_open_out o{};
    std::memcpy(&o, r.body.data() + sizeof(fuse_entry_out), sizeof(o));
    return Opened{0, r.as<fuse_entry_out>().nodeid, o.fh, o.open_flags};
  }
  Opened open(uint64_t node, int flags = O_RDWR) {
    fuse_open_in in{};
    in.flags = static_cast<uint32_t>(flags);
    Reply r = call(FUSE_OPEN, node, bytes_of(in));
    if (r.error) return Opened{r.error};
    auto o = r.as<fuse_open_out>();
    return Opened{0, node, o.fh, o.open_flags};
  }
  std::string write_body(uint64_t fh, uint64_t offset, const std::string& data) {
    fuse_write_in in{};
    in.fh = fh;
    in.offset = offset;
    in.size = static_cast<uint32_t>(data.size());
    return bytes_of(in) + data;
  }
  Reply write(uint64_t node, uint64_t fh, uint64_t offset, const std::string& data) {
    return call(FUSE_WRITE, node, write_body(fh, offset, data));
  }
  Reply read(uint64_t node, uint64_t fh, uint64_t offset, uint32_t size) {
    fuse_read_in in{};
    in.fh = fh;
    in.offset = offset;
    in.size = size;
    return call(FUSE_READ, node, bytes_of(in));
  }
  Reply release(uint64_t node, uint64_t fh) {
    fuse_release_in in{};
    in.fh = fh;
    return call(FUSE_RELEASE, node, bytes_of(in));
  }
  Reply getattr(uint64_t node) { return call(FUSE_GETATTR, node, bytes_of(fuse_getattr_in{})); }
  Reply mkdir(uint64_t parent, const std::string& name, uint32_t mode = 0755) {
    fuse_mkdir_in in{};
    in.mode = mode;
    return call(FUSE_MKDIR, parent, bytes_of(in) + cstr(name));
  }
  Reply rename(uint64_t from_dir, const std::string& from, uint64_t to_dir, const std::string& to,
               uint32_t flags = 0) {
    fuse_rename2_in in{};
    in.newdir = to_dir;
    in.flags = flags;
    return call(FUSE_RENAME2, from_dir, bytes_of(in) + cstr(from) + cstr(to));
  }
  // Every name in a directory listing, read in chunks of `chunk` bytes.
  std::vector<std::string> list(uint64_t dir, uint32_t chunk = 4096) {
    Reply o = call(FUSE_OPENDIR, dir, bytes_of(fuse_open_in{}));
    REQUIRE(o.error == 0);
    uint64_t fh = o.as<fuse_open_out>().fh;
    std::vector<std::string> names;
    uint64_t offset = 0;
    for (;;) {
      fuse_read_in in{};
      in.fh = fh;
      in.offset = offset;
      in.size = chunk;
      Reply r = call(FUSE_READDIR, dir, bytes_of(in));
      REQUIRE(r.error == 0);
      if (r.body.empty()) break;
      size_t at = 0;
      while (at < r.body.size()) {
        fuse_dirent d{};
        std::memcpy(&d, r.body.data() + at, FUSE_NAME_OFFSET);
        names.emplace_back(r.body.data() + at + FUSE_NAME_OFFSET, d.namelen);
        offset = d.off;
        at += FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + d.namelen);
      }
    }
    fuse_release_in rel{};
    rel.fh = fh;
    REQUIRE(call(FUSE_RELEASEDIR, dir, bytes_of(rel)).error == 0);
    return names;
  }

  // A WRITE as virtio-fs hands it over: the data in place (two buffers), not in the message.
  Reply write_in_place(uint64_t node, uint64_t fh, uint64_t offset, std::string data) {
    uint64_t u = next_unique++;
    std::string message = fuse_request(FUSE_WRITE, node, write_body(fh, offset, data), u);
    message.resize(sizeof(fuse_in_header) + sizeof(fuse_write_in));
    InPlaceData in_place;
    size_t half = data.size() / 2;
    in_place.write_payload = {iovec{data.data(), half},
                              iovec{data.data() + half, data.size() - half}};
    size_t before = sent.size();
    server.handle(message, in_place);
    REQUIRE(sent.size() == before + 1);
    REQUIRE(placed.back() == 0);
    Reply r = parse_reply(sent.back());
    REQUIRE(r.unique == u);
    return r;
  }
  // A READ with a reply room of `room` bytes (two buffers); the reply's body holds whatever the
  // server placed in the room (or sent inline), and `placed_bytes` how much went in place.
  struct RoomRead {
    Reply reply;
    size_t placed_bytes = 0;
  };
  RoomRead read_in_place(uint64_t node, uint64_t fh, uint64_t offset, uint32_t size,
                         size_t room = 1 << 20) {
    fuse_read_in in{};
    in.fh = fh;
    in.offset = offset;
    in.size = size;
    uint64_t u = next_unique++;
    std::string buffer(room, '\0');
    InPlaceData in_place;
    size_t cut = std::min<size_t>(room, 3);
    in_place.reply_room = {iovec{buffer.data(), cut}, iovec{buffer.data() + cut, room - cut}};
    size_t before = sent.size();
    server.handle(fuse_request(FUSE_READ, node, bytes_of(in), u), in_place);
    REQUIRE(sent.size() == before + 1);
    size_t n = placed.back();
    REQUIRE(n <= room);
    Reply r = parse_reply(sent.back() + buffer.substr(0, n));
    REQUIRE(r.unique == u);
    return RoomRead{r, n};
  }

  std::vector<std::string> sent;
  std::vector<size_t> placed;  // per reply: its bytes written to the reply room
  uint64_t next_unique = 1;
  FuseServer server;
};

}  // namespace matchlock::vfs::test
