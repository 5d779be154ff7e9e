#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/file_identity.h"
#include "core/unique_fd.h"
#include "sandbox/saved_guest_key.h"
#include "sandbox/saved_guest_store.h"
#include "sandbox/sparse_file.h"
#include "sandbox/warm_start.h"
#include "temp_dir.h"

using matchlock::testing::TempDir;

using namespace matchlock::sandbox;
using matchlock::file_identity;
namespace fs = std::filesystem;

namespace {

SavedGuestKeyInputs some_inputs() {
  SavedGuestKeyInputs in;
  in.qemu_argv = {"qemu-system-x86_64", "-m", "512M", "-drive", "file=<upper disk>"};
  in.image_digest = "sha256:" + std::string(64, 'a');
  in.file_identities = {"/usr/bin/qemu 1:2 3 4", "/b/vmlinux 1:5 6 7", "/b/initramfs 1:8 9 10"};
  in.engine_version = "0.1.0 abc";
  return in;
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream(p, std::ios::binary) << text;
}

// A writable disk as a boot leaves it: `size` bytes, mostly holes, `text` at two offsets.
fs::path sparse_disk(const fs::path& p, uint64_t size, const std::string& text) {
  fs::remove(p);
  write_file(p, text);
  fs::resize_file(p, size);
  std::fstream f(p, std::ios::binary | std::ios::in | std::ios::out);
  f.seekp(static_cast<std::streamoff>(size / 2));
  f << text;
  return p;
}

uint64_t allocated_bytes(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

std::string read_at(const fs::path& p, uint64_t offset, size_t n) {
  std::ifstream f(p, std::ios::binary);
  f.seekg(static_cast<std::streamoff>(offset));
  std::string out(n, '\0');
  f.read(out.data(), static_cast<std::streamsize>(n));
  return out;
}

// Writes a complete save for `key` through the slot, as a boot would.
void save(const SavedGuestStore& store, const std::string& key, const std::string& state,
          const std::string& digest = "sha256:" + std::string(64, 'a')) {
  auto slot = store.try_begin_save(key);
  REQUIRE(slot.ok());
  REQUIRE(slot->has_value());
  write_file((*slot)->temporary_file(), state);
  SavedGuestInfo info;
  info.image = "img:latest";
  info.image_digest = digest;
  info.memory_mib = 512;
  info.cpus = 1;
  auto upper = sparse_disk(store.root() / "upper-of-the-saving-sandbox", 1 << 20, "ext4");
  REQUIRE((*slot)->commit(info, upper).ok());
}

}  // namespace

TEST_CASE("the saved guest key changes with anything the restored machine depends on",
          "[sandbox][warm]") {
  const auto base = saved_guest_key(some_inputs());
  CHECK(base.size() == 32);
  CHECK(saved_guest_key(some_inputs()) == base);
  auto other_argv = some_inputs();
  other_argv.qemu_argv[2] = "1024M";
  CHECK(saved_guest_key(other_argv) != base);
  auto other_image = some_inputs();
  other_image.image_digest = "sha256:" + std::string(64, 'b');
  CHECK(saved_guest_key(other_image) != base);
  auto new_qemu = some_inputs();
  new_qemu.file_identities[0] = "/usr/bin/qemu 1:2 3 5";  // upgraded: new mtime
  CHECK(saved_guest_key(new_qemu) != base);
  auto new_engine = some_inputs();
  new_engine.engine_version = "0.1.1 abc";
  CHECK(saved_guest_key(new_engine) != base);
  // Length-prefixed fields: moving a boundary between two arguments is a different key.
  auto split = some_inputs();
  split.qemu_argv = {"qemu-system-x86_64", "-m", "512M", "-drive", "file=<upper", " disk>"};
  CHECK(saved_guest_key(split) != base);
}

TEST_CASE("a file's identity changes when it is rewritten", "[sandbox][warm]") {
  TempDir dir;
  auto f = dir.path / "vmlinux";
  write_file(f, "kernel one");
  auto first = file_identity(f);
  REQUIRE(first.ok());
  fs::remove(f);
  write_file(f, "kernel two, longer");
  auto second = file_identity(f);
  REQUIRE(second.ok());
  CHECK(first.value() != second.value());
  CHECK_FALSE(file_identity(dir.path / "missing").ok());
}

TEST_CASE("a committed save is found with its checksum; nothing else is", "[sandbox][warm]") {
  TempDir dir;
  SavedGuestStore store(dir.path, 1 << 30);
  const std::string key(32, 'c');
  CHECK_FALSE(store.find(key).has_value());
  save(store, key, "device state and RAM");
  auto found = store.find(key);
  REQUIRE(found.has_value());
  CHECK(found->info.key == key);
  CHECK(found->info.state_bytes == 20);
  uint64_t bytes = 0;
  auto digest = digest_of_file(found->state_file, &bytes);
  REQUIRE(digest.ok());
  CHECK(found->info.state_digest == digest.value());
  CHECK(store.list().size() == 1);
  // Not a key: never a path outside the store.
  CHECK_FALSE(store.find("../../etc").has_value());
  CHECK_FALSE(store.try_begin_save("../x").ok());
}

TEST_CASE("a file's digest is XXH3-128 over its data extents and their offsets",
          "[sandbox][warm]") {
  TempDir dir;
  uint64_t bytes = 0;
  write_file(dir.path / "a", "abc");
  auto a = digest_of_file(dir.path / "a", &bytes);
  REQUIRE(a.ok());
  CHECK(bytes == 3);
  CHECK(is_file_digest(a.value()));
  CHECK(a.value().rfind("xxh3-128:", 0) == 0);
  CHECK(a.value().size() == 9 + 32);
  write_file(dir.path / "b", "abd");
  CHECK(digest_of_file(dir.path / "b", &bytes).value() != a.value());
  CHECK_FALSE(is_file_digest("sha256:" + std::string(64, 'a')));  // an older engine's
  CHECK_FALSE(is_file_digest("xxh3-128:" + std::string(31, 'a')));
  CHECK_FALSE(is_file_digest("xxh3-128:" + std::string(31, 'a') + "G"));
}

TEST_CASE("a truncated or replaced state file is not a save", "[sandbox][warm]") {
  TempDir dir;
  SavedGuestStore store(dir.path, 1 << 30);
  const std::string key(32, 'd');
  save(store, key, "0123456789");
  fs::resize_file(dir.path / key / "guest.state", 4);
  CHECK_FALSE(store.find(key).has_value());
}

TEST_CASE("one boot at a time holds a key's slot, and an abandoned slot leaves no file",
          "[sandbox][warm]") {
  TempDir dir;
  SavedGuestStore store(dir.path, 1 << 30);
  const std::string key(32, 'e');
  fs::path temporary;
  {
    auto first = store.try_begin_save(key);
    REQUIRE(first.ok());
    REQUIRE(first->has_value());
    temporary = (*first)->temporary_file();
    write_file(temporary, "half a save");
    // flock is per open file description: a second open, as a second boot makes, is refused.
    auto second = store.try_begin_save(key);
    REQUIRE(second.ok());
    CHECK_FALSE(second->has_value());
  }
  CHECK_FALSE(fs::exists(temporary));
  CHECK_FALSE(store.find(key).has_value());
}

TEST_CASE("a killed saver's temporary file is removed by the next saver", "[sandbox][warm]") {
  TempDir dir;
  SavedGuestStore store(dir.path, 1 << 30);
  const std::string key(32, 'f');
  fs::create_directories(dir.path / key);
  write_file(dir.path / key / "guest.state.tmp-99999", "left by kill -9");
  auto slot = store.try_begin_save(key);
  REQUIRE(slot.ok());
  REQUIRE(slot->has_value());
  CHECK_FALSE(fs::exists(dir.path / key / "guest.state.tmp-99999"));
}

TEST_CASE("saves beyond the budget go least recently used first", "[sandbox][warm]") {
  TempDir dir;
  const std::string a(32, '1'), b(32, '2'), c(32, '3');
  uint64_t one_save = 0;
  {
    SavedGuestStore unbounded(dir.path, 1 << 30);
    save(unbounded, a, std::string(1000, 'a'));
    one_save = unbounded.list().at(0).disk_bytes;
  }
  // Room for two saves, counted by the blocks they take (the writable disk's MiB is holes).
  SavedGuestStore store(dir.path, one_save * 5 / 2);
  CHECK(one_save < (64 << 10));
  save(store, b, std::string(1000, 'b'));
  save(store, c, std::string(1000, 'c'));
  // a: used long ago; b: recently; c: just made.
  fs::last_write_time(dir.path / a / "meta.json",
                      fs::file_time_type::clock::now() - std::chrono::hours(2));
  fs::last_write_time(dir.path / b / "meta.json",
                      fs::file_time_type::clock::now() - std::chrono::hours(1));
  store.enforce_budget(c);
  CHECK_FALSE(store.find(a).has_value());
  CHECK(store.find(c).has_value());
}

TEST_CASE("removing an image's saves leaves other images' saves", "[sandbox][warm]") {
  TempDir dir;
  SavedGuestStore store(dir.path, 1 << 30);
  const std::string one = "sha256:" + std::string(64, '1'), two = "sha256:" + std::string(64, '2');
  save(store, std::string(32, 'a'), "x", one);
  save(store, std::string(32, 'b'), "y", one);
  save(store, std::string(32, 'c'), "z", two);
  CHECK(store.remove_for_image(one) == 2);
  REQUIRE(store.list().size() == 1);
  CHECK(store.list()[0].image_digest == two);
}

TEST_CASE("a budget of zero saves nothing", "[sandbox][warm]") {
  TempDir dir;
  SavedGuestStore store(dir.path, 0);
  auto slot = store.try_begin_save(std::string(32, 'a'));
  REQUIRE(slot.ok());
  CHECK_FALSE(slot->has_value());
}

TEST_CASE("the plan restores a save, else saves, else boots cold", "[sandbox][warm]") {
  TempDir dir;
  SavedGuestStore store(dir.path, 1 << 30);
  auto inputs = some_inputs();
  auto first = plan_guest_start(store, inputs, "qemu-id", false);
  CHECK(first.mode == GuestStart::kColdAndSave);
  // While the first boot holds the slot, a second boots cold without waiting.
  auto concurrent = plan_guest_start(store, inputs, "qemu-id", false);
  CHECK(concurrent.mode == GuestStart::kCold);
  write_file(first.slot->temporary_file(), "state");
  REQUIRE(first.slot->commit(SavedGuestInfo{}, sparse_disk(dir.path / "upper", 4096, "u")).ok());
  first.slot.reset();
  CHECK(plan_guest_start(store, inputs, "qemu-id", false).mode == GuestStart::kRestore);
  CHECK(plan_guest_start(store, inputs, "qemu-id", true).mode == GuestStart::kCold);
  // A QEMU that refused to save is not asked again.
  auto other = some_inputs();
  other.image_digest = "sha256:" + std::string(64, '9');
  mark_saving_unsupported(store, "old-qemu", "State blocked by non-migratable device");
  CHECK(plan_guest_start(store, other, "old-qemu", false).mode == GuestStart::kCold);
  CHECK(plan_guest_start(store, other, "qemu-id", false).mode == GuestStart::kColdAndSave);
}

TEST_CASE("a store whose path has a comma still saves and restores", "[sandbox][warm]") {
  // The guest state goes to QEMU as a structured file channel, never a URI it would split.
  TempDir dir;
  SavedGuestStore store(dir.path / "home,offset=9", 1 << 30);
  auto inputs = some_inputs();
  auto first = plan_guest_start(store, inputs, "qemu-id", false);
  REQUIRE(first.mode == GuestStart::kColdAndSave);
  write_file(first.slot->temporary_file(), "state");
  REQUIRE(first.slot->commit(SavedGuestInfo{}, sparse_disk(dir.path / "upper", 4096, "u")).ok());
  first.slot.reset();
  CHECK(plan_guest_start(store, inputs, "qemu-id", false).mode == GuestStart::kRestore);
}

// The saved guest has its writable disk mounted: a restored sandbox must start from that very
// disk, so the save keeps a copy of it as it was (holes and all), and each restored sandbox gets
// its own copy, checked against the save's checksum.
TEST_CASE("a save keeps the writable disk as it was, and each restore gets a checked copy",
          "[sandbox][warm]") {
  TempDir dir;
  SavedGuestStore store(dir.path / "warm", 1 << 30);
  const std::string key(32, 'a');
  constexpr uint64_t kDiskBytes = 64ull << 20;
  auto slot = store.try_begin_save(key);
  REQUIRE(slot.ok());
  REQUIRE(slot->has_value());
  write_file((*slot)->temporary_file(), "state");
  auto upper = sparse_disk(dir.path / "upper.ext4", kDiskBytes, "superblock");
  REQUIRE((*slot)->commit(SavedGuestInfo{}, upper).ok());
  slot->reset();
  sparse_disk(upper, kDiskBytes, "the sandbox wrote on");  // the saving sandbox goes on

  auto found = store.find(key);
  REQUIRE(found.has_value());
  CHECK(found->info.upper_bytes == kDiskBytes);
  CHECK(fs::file_size(found->upper_file) == kDiskBytes);
  CHECK(allocated_bytes(found->upper_file) < (1 << 20));  // holes stay holes
  CHECK(read_at(found->upper_file, kDiskBytes / 2, 10) == "superblock");
  uint64_t bytes = 0;
  CHECK(digest_of_file(found->upper_file, &bytes).value() == found->info.upper_digest);

  auto restored = dir.path / "restored.ext4";
  // As a restoring boot does it: the file made first, the copy written through a descriptor.
  auto copy_to_new_file = [](const SavedGuest& saved, const fs::path& to) {
    matchlock::UniqueFd out(::open(to.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    REQUIRE(out.valid());
    return copy_saved_upper_disk(saved, out.get(), to);
  };
  REQUIRE(copy_to_new_file(*found, restored).ok());
  CHECK(fs::file_size(restored) == kDiskBytes);
  CHECK(allocated_bytes(restored) < (1 << 20));
  CHECK(read_at(restored, 0, 10) == "superblock");
  CHECK(read_at(restored, kDiskBytes / 2, 10) == "superblock");
  CHECK_FALSE(copy_sparse_file(found->upper_file, restored).ok());  // never over an existing file

  // A byte changed in the saved disk, or data where it had a hole: the copy is refused.
  {
    std::fstream f(found->upper_file, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(3);
    f << 'X';
  }
  fs::remove(restored);
  auto corrupt = copy_to_new_file(*found, restored);
  REQUIRE_FALSE(corrupt.ok());
  CHECK(corrupt.error().message.find("does not match its checksum") != std::string::npos);
  sparse_disk(found->upper_file, kDiskBytes, "superblock");
  fs::remove(restored);
  REQUIRE(copy_to_new_file(*found, restored).ok());
  {
    std::fstream f(found->upper_file, std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(kDiskBytes / 4);
    f << '\0';  // a zero byte, but data where the save had a hole
  }
  fs::remove(restored);
  CHECK_FALSE(copy_to_new_file(*found, restored).ok());
  // A truncated disk file makes it no save at all.
  fs::resize_file(found->upper_file, kDiskBytes / 2);
  CHECK_FALSE(store.find(key).has_value());
}

TEST_CASE("QEMU's refusals to migrate at all are told from passing failures", "[sandbox][warm]") {
  CHECK(is_permanent_save_refusal(
      "State blocked by non-migratable device 'virtio-mmio@00000000feb02e00/vhost-user-fs'"));
  CHECK_FALSE(is_permanent_save_refusal("No space left on device"));
}
