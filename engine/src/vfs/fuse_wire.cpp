#include "vfs/fuse_wire.h"

namespace matchlock::vfs::fuse {
namespace {

// Reads fixed structs and NUL-terminated strings from a body without passing its end.
class Reader {
 public:
  explicit Reader(std::span<const char> b) : b_(b) {}

  template <typename T>
  bool take(T& out) {
    if (b_.size() - pos_ < sizeof(T)) return false;
    std::memcpy(&out, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }
  bool take_string(std::string_view& out) {
    const char* start = b_.data() + pos_;
    const void* nul = std::memchr(start, '\0', b_.size() - pos_);
    if (!nul) return false;
    size_t n = static_cast<size_t>(static_cast<const char*>(nul) - start);
    out = std::string_view(start, n);
    pos_ += n + 1;
    return true;
  }
  std::span<const char> rest() const { return b_.subspan(pos_); }
  bool at_end() const { return pos_ == b_.size(); }

 private:
  std::span<const char> b_;
  size_t pos_ = 0;
};

// A fixed struct then one name that ends the body.
template <typename T, typename Out>
std::optional<Out> struct_and_name(const Request& r) {
  Reader rd(r.body);
  Out out;
  if (!rd.take(out.in) || !rd.take_string(out.name) || !rd.at_end()) return std::nullopt;
  return out;
}

std::optional<RenameRequest> rename_names(Reader& rd, RenameRequest out) {
  if (!rd.take_string(out.old_name) || !rd.take_string(out.new_name) || !rd.at_end()) {
    return std::nullopt;
  }
  return out;
}

}  // namespace

std::optional<Request> parse_request(std::span<const char> message, size_t in_place) {
  Request r;
  if (message.size() < sizeof(fuse_in_header)) return std::nullopt;
  std::memcpy(&r.header, message.data(), sizeof(fuse_in_header));
  if (in_place > UINT32_MAX || r.header.len != message.size() + in_place) return std::nullopt;
  r.body = message.subspan(sizeof(fuse_in_header));
  r.in_place = in_place;
  return r;
}

std::optional<fuse_init_in> decode_init(const Request& r) {
  constexpr size_t kOldest = 16;  // major, minor, max_readahead, flags
  if (r.body.size() < kOldest) return std::nullopt;
  fuse_init_in in{};
  std::memcpy(&in, r.body.data(), std::min(r.body.size(), sizeof(in)));
  return in;
}

std::optional<NameRequest> decode_name(const Request& r) {
  Reader rd(r.body);
  NameRequest out;
  if (!rd.take_string(out.name) || !rd.at_end()) return std::nullopt;
  return out;
}

std::optional<MkdirRequest> decode_mkdir(const Request& r) {
  return struct_and_name<fuse_mkdir_in, MkdirRequest>(r);
}
std::optional<MknodRequest> decode_mknod(const Request& r) {
  return struct_and_name<fuse_mknod_in, MknodRequest>(r);
}
std::optional<CreateRequest> decode_create(const Request& r) {
  return struct_and_name<fuse_create_in, CreateRequest>(r);
}

std::optional<SymlinkRequest> decode_symlink(const Request& r) {
  Reader rd(r.body);
  SymlinkRequest out;
  if (!rd.take_string(out.name) || !rd.take_string(out.target) || !rd.at_end()) {
    return std::nullopt;
  }
  return out;
}

std::optional<RenameRequest> decode_rename(const Request& r) {
  Reader rd(r.body);
  fuse_rename_in in{};
  if (!rd.take(in)) return std::nullopt;
  return rename_names(rd, RenameRequest{in.newdir, 0, {}, {}});
}

std::optional<RenameRequest> decode_rename2(const Request& r) {
  Reader rd(r.body);
  fuse_rename2_in in{};
  if (!rd.take(in)) return std::nullopt;
  return rename_names(rd, RenameRequest{in.newdir, in.flags, {}, {}});
}

std::optional<LinkRequest> decode_link(const Request& r) {
  Reader rd(r.body);
  fuse_link_in in{};
  LinkRequest out;
  if (!rd.take(in) || !rd.take_string(out.name) || !rd.at_end()) return std::nullopt;
  out.old_node = in.oldnodeid;
  return out;
}

std::optional<WriteRequest> decode_write(const Request& r) {
  Reader rd(r.body);
  WriteRequest out;
  if (!rd.take(out.in)) return std::nullopt;
  auto data = rd.rest();
  if (r.in_place) {  // the data is all in place, none in the message
    if (!data.empty() || out.in.size != r.in_place) return std::nullopt;
    return out;
  }
  if (data.size() != out.in.size) return std::nullopt;
  out.data = std::string_view(data.data(), data.size());
  return out;
}

std::optional<std::vector<fuse_forget_one>> decode_batch_forget(const Request& r) {
  Reader rd(r.body);
  fuse_batch_forget_in in{};
  if (!rd.take(in)) return std::nullopt;
  if (in.count > rd.rest().size() / sizeof(fuse_forget_one)) return std::nullopt;
  std::vector<fuse_forget_one> out(in.count);
  for (auto& one : out) rd.take(one);
  return out;
}

std::string encode_placed_reply(uint64_t unique, size_t placed) {
  fuse_out_header h{};
  h.len = static_cast<uint32_t>(sizeof(h) + placed);
  h.unique = unique;
  return std::string(reinterpret_cast<const char*>(&h), sizeof(h));
}

std::string encode_reply(uint64_t unique, std::string_view body) {
  fuse_out_header h{};
  h.len = static_cast<uint32_t>(sizeof(h) + body.size());
  h.error = 0;
  h.unique = unique;
  std::string out(reinterpret_cast<const char*>(&h), sizeof(h));
  out.append(body);
  return out;
}

std::string encode_error(uint64_t unique, int err) {
  fuse_out_header h{};
  h.len = sizeof(h);
  h.error = -err;
  h.unique = unique;
  return std::string(reinterpret_cast<const char*>(&h), sizeof(h));
}

uint64_t unique_of(std::span<const char> message) {
  fuse_in_header h{};
  if (message.size() < sizeof(h)) return 0;
  std::memcpy(&h, message.data(), sizeof(h));
  return h.unique;
}

bool append_dirent(std::string& out, size_t limit, uint64_t ino, uint64_t next_offset,
                   uint32_t type, std::string_view name) {
  size_t entry = FUSE_DIRENT_ALIGN(FUSE_NAME_OFFSET + name.size());
  if (out.size() + entry > limit) return false;
  fuse_dirent d{};
  d.ino = ino;
  d.off = next_offset;
  d.namelen = static_cast<uint32_t>(name.size());
  d.type = type;
  size_t at = out.size();
  out.resize(at + entry, '\0');
  std::memcpy(out.data() + at, &d, FUSE_NAME_OFFSET);
  std::memcpy(out.data() + at + FUSE_NAME_OFFSET, name.data(), name.size());
  return true;
}

}  // namespace matchlock::vfs::fuse
