// FUSE requests from the guest kernel (engine/src/vfs/fuse_wire.cpp decoding, fuse_server.cpp
// and its *_ops.cpp dispatch) against an in-memory workspace: a sequence of messages, each cut
// at its header's len as the virtqueue hands them over (clamped to the bytes left), after an
// INIT the harness sends so the fuzzer starts with a live session. Every other message (the odd
// ones) goes as the virtio-fs transport hands it over: a WRITE's bytes past its headers in place
// (InPlaceData), a READ with a reply room of two buffers; the even ones go whole, with no room
// (what a guest that leaves none gets, and the copying path hooks use).
// Invariants: decoded views lie inside the message; names hold no NUL; a write's data is exactly
// its declared size; every reply is at least a fuse_out_header whose len is the reply's size plus
// the bytes placed in the room (never more than the room); its unique is the request's; at most
// one reply per request; the server never holds more nodes or handles than its limits.
#include <sys/uio.h>

#include <cstring>
#include <string>
#include <vector>

#include "fuzz_check.h"
#include "vfs/fuse_server.h"
#include "vfs/fuse_wire.h"
#include "vfs/mount_table.h"

namespace vfs = matchlock::vfs;
namespace fuse = matchlock::vfs::fuse;

namespace {

constexpr size_t kMaxMessages = 64;

bool inside(std::string_view view, std::span<const char> message) {
  return view.empty() || (view.data() >= message.data() &&
                          view.data() + view.size() <= message.data() + message.size());
}

void check_name(std::string_view name, std::span<const char> message) {
  FUZZ_CHECK(inside(name, message));
  FUZZ_CHECK(name.find('\0') == std::string_view::npos);
}

// The pure decoders, each tried on every message whatever its opcode.
void check_decoders(std::span<const char> message) {
  auto req = fuse::parse_request(message);
  if (!req) return;
  FUZZ_CHECK(req->header.len == message.size());
  FUZZ_CHECK(req->body.size() + sizeof(fuse_in_header) == message.size());
  (void)fuse::decode_init(*req);
  if (auto r = fuse::decode_name(*req)) check_name(r->name, message);
  if (auto r = fuse::decode_mkdir(*req)) check_name(r->name, message);
  if (auto r = fuse::decode_mknod(*req)) check_name(r->name, message);
  if (auto r = fuse::decode_create(*req)) check_name(r->name, message);
  if (auto r = fuse::decode_symlink(*req)) {
    check_name(r->name, message);
    check_name(r->target, message);
  }
  for (auto r : {fuse::decode_rename(*req), fuse::decode_rename2(*req)}) {
    if (r) {
      check_name(r->old_name, message);
      check_name(r->new_name, message);
    }
  }
  if (auto r = fuse::decode_link(*req)) check_name(r->name, message);
  if (auto r = fuse::decode_write(*req)) {
    FUZZ_CHECK(inside(r->data, message));
    FUZZ_CHECK(r->data.size() == r->in.size);
  }
  if (auto r = fuse::decode_batch_forget(*req)) {
    FUZZ_CHECK(r->size() * sizeof(fuse_forget_one) <= req->body.size());
  }
}

std::string init_message() {
  fuse_in_header header{};
  fuse_init_in init{};
  header.len = sizeof header + sizeof init;
  header.opcode = FUSE_INIT;
  header.unique = 1;
  init.major = FUSE_KERNEL_VERSION;
  init.minor = FUSE_KERNEL_MINOR_VERSION;
  init.max_readahead = 1 << 17;
  std::string message(reinterpret_cast<const char*>(&header), sizeof header);
  message.append(reinterpret_cast<const char*>(&init), sizeof init);
  return message;
}

void check_reply(const std::string& reply, size_t placed, size_t room) {
  FUZZ_CHECK(reply.size() >= sizeof(fuse_out_header));
  fuse_out_header out;
  std::memcpy(&out, reply.data(), sizeof out);
  FUZZ_CHECK(out.len == reply.size() + placed);
  FUZZ_CHECK(placed <= room);
  FUZZ_CHECK(placed == 0 || (out.error == 0 && reply.size() == sizeof out));
  FUZZ_CHECK(out.error <= 0);
}

constexpr size_t kWriteHeaders = sizeof(fuse_in_header) + sizeof(fuse_write_in);

// What the transport would keep in place for `message`: a WRITE's data (cut off the message
// into `payload`), a READ's room in `room`.
vfs::InPlaceData in_place_for(std::string& message, std::string& payload, std::string& room) {
  vfs::InPlaceData in_place;
  if (message.size() < sizeof(fuse_in_header)) return in_place;
  fuse_in_header h;
  std::memcpy(&h, message.data(), sizeof h);
  if (h.opcode == FUSE_WRITE && message.size() > kWriteHeaders) {
    payload = message.substr(kWriteHeaders);
    message.resize(kWriteHeaders);
    size_t half = payload.size() / 2;
    in_place.write_payload = {iovec{payload.data(), half},
                              iovec{payload.data() + half, payload.size() - half}};
  }
  if (h.opcode == FUSE_READ) {
    in_place.reply_room = {iovec{room.data(), 100}, iovec{room.data() + 100, room.size() - 100}};
  }
  return in_place;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::vector<std::string> replies;
  std::vector<size_t> placed;
  vfs::FuseServer::Limits limits;
  limits.max_handles = 16;
  limits.max_nodes = 64;
  auto mounts = vfs::MountTable::create({});
  FUZZ_CHECK(mounts.ok());
  vfs::FuseServer server(
      std::move(*mounts), "/workspace", nullptr,
      [&](std::string reply, size_t n) {
        replies.push_back(std::move(reply));
        placed.push_back(n);
      },
      limits);
  server.handle(init_message());
  FUZZ_CHECK(replies.size() == 1 && server.initialized());

  std::string_view input = matchlock::fuzz::as_text(data, size);
  for (size_t n = 0; n < kMaxMessages && input.size() >= sizeof(uint32_t); ++n) {
    uint32_t len;
    std::memcpy(&len, input.data(), sizeof len);
    size_t take = len < sizeof(uint32_t) ? sizeof(uint32_t) : std::min<size_t>(len, input.size());
    std::string message(input.substr(0, take));
    input.remove_prefix(take);

    check_decoders(std::span<const char>(message.data(), message.size()));
    size_t before = replies.size();
    uint64_t unique = fuse::unique_of(std::span<const char>(message.data(), message.size()));
    std::string payload;
    std::string room(4096, '\0');
    auto in_place = n % 2 ? in_place_for(message, payload, room) : vfs::InPlaceData{};
    server.handle(message, in_place);
    FUZZ_CHECK(replies.size() <= before + 1);  // no hooks: a reply, if any, comes at once
    if (replies.size() == before + 1) {
      check_reply(replies.back(), placed.back(), room.size());
      fuse_out_header out;
      std::memcpy(&out, replies.back().data(), sizeof out);
      FUZZ_CHECK(out.unique == unique);
    }
    FUZZ_CHECK(server.open_handles() <= limits.max_handles);
    FUZZ_CHECK(server.nodes() <= limits.max_nodes);
  }
  server.close_handles();
  return 0;
}
