// The Linux FUSE wire protocol (linux/fuse.h) as pure functions: split one message into its
// header and body, decode each opcode's body into a typed struct, and encode replies. Every
// byte comes from the guest: decoders check every length against the message (the header's
// len must equal the message size, fixed bodies must fit, names must end with a NUL inside the
// body and nothing may follow the last one, a write's data must be exactly its declared size)
// and return nullopt instead of reading past the end. Views point into the caller's message.
#pragma once

#include <linux/fuse.h>

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace matchlock::vfs::fuse {

struct Request {
  fuse_in_header header{};
  std::span<const char> body;
  size_t in_place = 0;  // payload bytes the transport kept out of the message (a WRITE's data)
};

// The message's header and body, or nullopt if header.len differs from the message size plus
// `in_place` (the bytes of the request not in `message`).
std::optional<Request> parse_request(std::span<const char> message, size_t in_place = 0);

// A request whose body is one fixed-size struct (GETATTR, OPEN, READ, ...); extra bytes after
// it are tolerated (newer kernels grow structs at their end).
template <typename T>
std::optional<T> decode_fixed(const Request& r) {
  if (r.body.size() < sizeof(T)) return std::nullopt;
  T v;
  std::memcpy(&v, r.body.data(), sizeof(T));
  return v;
}

// FUSE_INIT: fuse_init_in grew over the protocol's minors; the first 16 bytes are always there.
std::optional<fuse_init_in> decode_init(const Request& r);

struct NameRequest {  // LOOKUP, UNLINK, RMDIR
  std::string_view name;
};
std::optional<NameRequest> decode_name(const Request& r);

struct MkdirRequest {
  fuse_mkdir_in in{};
  std::string_view name;
};
std::optional<MkdirRequest> decode_mkdir(const Request& r);

struct MknodRequest {
  fuse_mknod_in in{};
  std::string_view name;
};
std::optional<MknodRequest> decode_mknod(const Request& r);

struct CreateRequest {
  fuse_create_in in{};
  std::string_view name;
};
std::optional<CreateRequest> decode_create(const Request& r);

struct SymlinkRequest {
  std::string_view name;    // the new link, in the request's node
  std::string_view target;  // what it points to
};
std::optional<SymlinkRequest> decode_symlink(const Request& r);

struct RenameRequest {  // RENAME and RENAME2 (flags 0 for RENAME)
  uint64_t new_dir = 0;
  uint32_t flags = 0;
  std::string_view old_name, new_name;
};
std::optional<RenameRequest> decode_rename(const Request& r);
std::optional<RenameRequest> decode_rename2(const Request& r);

struct LinkRequest {
  uint64_t old_node = 0;
  std::string_view name;
};
std::optional<LinkRequest> decode_link(const Request& r);

struct WriteRequest {
  fuse_write_in in{};
  std::string_view data;  // empty when the data is in place (in.size is then r.in_place)
};
std::optional<WriteRequest> decode_write(const Request& r);

std::optional<std::vector<fuse_forget_one>> decode_batch_forget(const Request& r);

// Replies: a fuse_out_header (len, error, unique) followed by the body.
std::string encode_error(uint64_t unique, int err);  // err positive, sent negated
std::string encode_reply(uint64_t unique, std::string_view body);
// The header of a reply whose `placed` data bytes were written after it in place.
std::string encode_placed_reply(uint64_t unique, size_t placed);
template <typename T>
std::string encode_struct(uint64_t unique, const T& body) {
  return encode_reply(unique, std::string_view(reinterpret_cast<const char*>(&body), sizeof(T)));
}
// The prefix of `unique` from a message too short or inconsistent to parse (0 if absent).
uint64_t unique_of(std::span<const char> message);

// Appends one fuse_dirent to a READDIR reply if it fits in `limit` bytes; false if not.
bool append_dirent(std::string& out, size_t limit, uint64_t ino, uint64_t next_offset,
                   uint32_t type, std::string_view name);

}  // namespace matchlock::vfs::fuse
