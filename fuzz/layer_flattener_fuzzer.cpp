// The layer flattener (engine/src/image/layer_flattener.cpp): a pulled image's layers, straight
// from a registry, applied in order into a staging tree on the host, with whiteouts, opaque
// directories, hardlinks and symlinks across layers.
// Input: byte 0 picks 1-3 layers; the next (layers - 1) bytes give the size of each layer but the
// last in 512-byte tar blocks; the rest is the layers' bytes, one after another.
// Invariants: nothing outside the staging tree changes (a sibling directory and its file stay as
// they were; nothing new appears beside them), whatever symlinks the layers plant; no file on the
// host gets setuid, setgid or sticky bits; every path the metadata map names exists in the tree.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "core/unique_fd.h"
#include "fuzz_check.h"
#include "image/layer_flattener.h"
#include "scratch_dir.h"

namespace fs = std::filesystem;
namespace image = matchlock::image;

namespace {

constexpr size_t kBlock = 512;
constexpr std::string_view kCanaryText = "outside the staging tree\n";

// <scratch>/staging (emptied per input) beside <scratch>/outside/canary (never to change), in
// one scratch directory per fuzzer process, removed at exit.
struct Scratch {
  Scratch()
      : staging(root.path() / "staging"),
        outside(root.path() / "outside"),
        canary(outside / "canary") {
    fs::create_directory(outside);
    std::ofstream(canary) << kCanaryText;
  }
  const fs::path& dir() const { return root.path(); }

  matchlock::fuzz::ScratchDir root{"matchlock-fuzz-flatten"};
  fs::path staging, outside, canary;
};

const Scratch& scratch() {
  static const Scratch s;
  return s;
}

matchlock::UniqueFd memory_file(std::string_view bytes) {
  matchlock::UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
  FUZZ_CHECK(fd.get() >= 0);
  FUZZ_CHECK(::write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  return fd;
}

std::vector<std::string_view> split_layers(std::string_view input) {
  if (input.empty()) return {};
  size_t layers = 1 + static_cast<unsigned char>(input[0]) % 3;
  input.remove_prefix(1);
  if (input.size() < layers - 1) return {};
  std::string_view sizes = input.substr(0, layers - 1);
  input.remove_prefix(layers - 1);
  std::vector<std::string_view> out;
  for (char blocks : sizes) {
    size_t n = std::min(input.size(), static_cast<unsigned char>(blocks) * kBlock);
    out.push_back(input.substr(0, n));
    input.remove_prefix(n);
  }
  out.push_back(input);
  return out;
}

void check_outside_untouched(const Scratch& s) {
  std::set<std::string> beside;
  for (const auto& e : fs::directory_iterator(s.dir())) beside.insert(e.path().filename().string());
  FUZZ_CHECK((beside == std::set<std::string>{"staging", "outside"}));
  FUZZ_CHECK(std::distance(fs::directory_iterator(s.outside), fs::directory_iterator()) == 1);
  struct stat st {};
  FUZZ_CHECK(::lstat(s.canary.c_str(), &st) == 0 && S_ISREG(st.st_mode));
  std::ifstream in(s.canary);
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  FUZZ_CHECK(text == kCanaryText);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Scratch& s = scratch();
  std::error_code ec;
  fs::remove_all(s.staging, ec);
  FUZZ_CHECK(!ec);
  FUZZ_CHECK(fs::create_directory(s.staging));

  auto flattener = image::LayerFlattener::create(s.staging);
  FUZZ_CHECK(flattener.ok());
  bool applied = true;
  for (std::string_view layer : split_layers(matchlock::fuzz::as_text(data, size))) {
    auto fd = memory_file(layer);
    if (!flattener->apply_layer("/proc/self/fd/" + std::to_string(fd.get())).ok()) {
      applied = false;
      break;
    }
  }
  if (applied) (void)flattener->finish();

  check_outside_untouched(s);
  for (const auto& e : fs::recursive_directory_iterator(s.staging)) {
    struct stat st {};
    FUZZ_CHECK(::lstat(e.path().c_str(), &st) == 0);
    FUZZ_CHECK((st.st_mode & (S_ISUID | S_ISGID | S_ISVTX)) == 0);
  }
  if (applied) {
    for (const auto& [rel, meta] : flattener->metadata()) {
      struct stat st {};
      FUZZ_CHECK(::lstat((rel.empty() ? s.staging : s.staging / rel).c_str(), &st) == 0);
    }
  }
  return 0;
}
