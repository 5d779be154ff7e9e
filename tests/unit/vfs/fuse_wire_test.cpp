#include <catch2/catch.hpp>

#include <dirent.h>

#include <deque>
#include <random>

#include "vfs/fuse_test_client.h"
#include "vfs/fuse_wire.h"

using namespace matchlock::vfs;
using namespace matchlock::vfs::test;

namespace {

// Decoded views point into the message, so the test keeps every message it decodes.
fuse::Request request_of(std::string msg) {
  static std::deque<std::string> kept;
  kept.push_back(std::move(msg));
  const std::string& m = kept.back();
  auto r = fuse::parse_request(std::span<const char>(m.data(), m.size()));
  REQUIRE(r);
  return *r;
}

// Runs every decoder over one message: none may crash or read outside it (ASan/valgrind
// would catch a stray read; the views returned must lie inside the message).
void decode_everything(const std::string& msg) {
  auto r = fuse::parse_request(std::span<const char>(msg.data(), msg.size()));
  if (!r) return;
  auto inside = [&](std::string_view v) {
    CHECK(v.data() >= msg.data());
    CHECK(v.data() + v.size() <= msg.data() + msg.size());
  };
  (void)fuse::decode_init(*r);
  (void)fuse::decode_fixed<fuse_read_in>(*r);
  if (auto n = fuse::decode_name(*r)) inside(n->name);
  if (auto m = fuse::decode_mkdir(*r)) inside(m->name);
  if (auto m = fuse::decode_mknod(*r)) inside(m->name);
  if (auto m = fuse::decode_create(*r)) inside(m->name);
  if (auto s = fuse::decode_symlink(*r)) {
    inside(s->name);
    inside(s->target);
  }
  if (auto n = fuse::decode_rename(*r)) inside(n->new_name);
  if (auto n = fuse::decode_rename2(*r)) inside(n->new_name);
  if (auto l = fuse::decode_link(*r)) inside(l->name);
  if (auto w = fuse::decode_write(*r)) inside(w->data);
  if (auto b = fuse::decode_batch_forget(*r)) CHECK(b->size() * 16 <= msg.size());
}

}  // namespace

TEST_CASE("fuse_wire_requires_header_len_to_equal_the_message_size", "[vfs][fuse_wire]") {
  std::string m = fuse_request(FUSE_LOOKUP, 1, cstr("a"), 7);
  CHECK(fuse::parse_request(std::span<const char>(m.data(), m.size())));
  CHECK_FALSE(fuse::parse_request(std::span<const char>(m.data(), m.size() - 1)));
  std::string longer = m + "x";
  CHECK_FALSE(fuse::parse_request(std::span<const char>(longer.data(), longer.size())));
  CHECK_FALSE(fuse::parse_request(std::span<const char>(m.data(), 10)));
}

TEST_CASE("fuse_wire_names_must_end_with_nul_and_nothing_after", "[vfs][fuse_wire]") {
  CHECK(fuse::decode_name(request_of(fuse_request(FUSE_LOOKUP, 1, cstr("abc"), 1)))->name == "abc");
  CHECK_FALSE(fuse::decode_name(request_of(fuse_request(FUSE_LOOKUP, 1, "abc", 1))));
  CHECK_FALSE(fuse::decode_name(request_of(fuse_request(FUSE_LOOKUP, 1, cstr("a") + "b", 1))));
  CHECK_FALSE(fuse::decode_name(request_of(fuse_request(FUSE_LOOKUP, 1, "", 1))));
  auto s =
      fuse::decode_symlink(request_of(fuse_request(FUSE_SYMLINK, 1, cstr("l") + cstr("t"), 1)));
  REQUIRE(s);
  CHECK(s->name == "l");
  CHECK(s->target == "t");
  CHECK_FALSE(fuse::decode_symlink(request_of(fuse_request(FUSE_SYMLINK, 1, cstr("l") + "t", 1))));
}

TEST_CASE("fuse_wire_write_data_must_match_its_declared_size", "[vfs][fuse_wire]") {
  fuse_write_in in{};
  in.size = 5;
  CHECK(fuse::decode_write(request_of(fuse_request(FUSE_WRITE, 2, bytes_of(in) + "hello", 1)))
            ->data == "hello");
  CHECK_FALSE(
      fuse::decode_write(request_of(fuse_request(FUSE_WRITE, 2, bytes_of(in) + "hell", 1))));
  in.size = 0xffffffff;  // a lying size
  CHECK_FALSE(fuse::decode_write(request_of(fuse_request(FUSE_WRITE, 2, bytes_of(in) + "x", 1))));
  CHECK_FALSE(fuse::decode_write(request_of(fuse_request(FUSE_WRITE, 2, "short", 1))));
}

TEST_CASE("fuse_wire_batch_forget_count_cannot_exceed_the_body", "[vfs][fuse_wire]") {
  fuse_batch_forget_in in{};
  in.count = 0x7fffffff;
  fuse_forget_one one{5, 1};
  CHECK_FALSE(fuse::decode_batch_forget(
      request_of(fuse_request(FUSE_BATCH_FORGET, 0, bytes_of(in) + bytes_of(one), 1))));
  in.count = 1;
  auto ok = fuse::decode_batch_forget(
      request_of(fuse_request(FUSE_BATCH_FORGET, 0, bytes_of(in) + bytes_of(one), 1)));
  REQUIRE(ok);
  CHECK((*ok)[0].nodeid == 5);
}

TEST_CASE("fuse_wire_encodes_errors_negated_and_replies_with_their_length", "[vfs][fuse_wire]") {
  Reply e = parse_reply(fuse::encode_error(9, ENOENT));
  CHECK(e.unique == 9);
  CHECK(e.error == ENOENT);
  CHECK(e.body.empty());
  Reply r = parse_reply(fuse::encode_reply(10, "abc"));
  CHECK(r.error == 0);
  CHECK(r.body == "abc");
  std::string dir;
  CHECK(fuse::append_dirent(dir, 4096, 3, 1, DT_REG, "name"));
  CHECK(dir.size() % 8 == 0);
  CHECK_FALSE(fuse::append_dirent(dir, dir.size() + 8, 4, 2, DT_REG, "another"));
}

TEST_CASE("fuse_wire_survives_random_and_truncated_messages", "[vfs][fuse_wire][fuzz]") {
  std::mt19937 rng(1234);
  std::vector<std::string> seeds = {
      fuse_request(FUSE_LOOKUP, 1, cstr("abc"), 1),
      fuse_request(FUSE_SYMLINK, 1, cstr("l") + cstr("target"), 2),
      fuse_request(FUSE_RENAME2, 1, bytes_of(fuse_rename2_in{}) + cstr("a") + cstr("b"), 3),
      fuse_request(FUSE_BATCH_FORGET, 0, bytes_of(fuse_batch_forget_in{2, 0}) + std::string(32, 1),
                   4),
  };
  for (int i = 0; i < 20000; ++i) {
    std::string m;
    if (i % 2 == 0) {
      m.resize(rng() % 200);
      for (char& ch : m) ch = static_cast<char>(rng());
    } else {
      m = seeds[rng() % seeds.size()];
      m.resize(rng() % (m.size() + 1));
      for (int k = 0; k < 3 && !m.empty(); ++k) m[rng() % m.size()] = static_cast<char>(rng());
    }
    if (m.size() >= 4 && rng() % 2) {  // make the header's length agree so bodies get decoded
      uint32_t len = static_cast<uint32_t>(m.size());
      std::memcpy(m.data(), &len, 4);
    }
    decode_everything(m);
  }
}
