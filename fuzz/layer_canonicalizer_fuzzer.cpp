// The layer canonicalizer (engine/src/image/layer_canonicalizer.cpp): the tar a build VM sends
// back, with its names, links, whiteouts and pax records, rewritten as the store's canonical
// layer. Small limits, so the limit checks are reachable with small inputs.
// Invariants: an accepted layer's reported size is the output file's; canonicalizing the
// canonical output again gives the same bytes (same diff_id): the form is a fixed point.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "core/unique_fd.h"
#include "fuzz_check.h"
#include "image/layer_canonicalizer.h"
#include "scratch_dir.h"

namespace fs = std::filesystem;
namespace image = matchlock::image;

namespace {

image::LayerLimits small_limits() {
  image::LayerLimits limits;
  limits.max_entries = 64;
  limits.max_total_bytes = 64 * 1024;
  limits.max_name_bytes = 512;
  limits.max_component_bytes = 64;
  limits.max_metadata_bytes = 4096;
  limits.max_xattrs = 8;
  limits.max_input_bytes = 1 << 20;
  return limits;
}

// One scratch directory per fuzzer process, removed at exit.
const fs::path& scratch_dir() {
  static const matchlock::fuzz::ScratchDir dir("matchlock-fuzz-layer");
  return dir.path();
}

matchlock::UniqueFd memory_file(std::string_view bytes) {
  matchlock::UniqueFd fd(::memfd_create("layer", MFD_CLOEXEC));
  FUZZ_CHECK(fd.get() >= 0);
  FUZZ_CHECK(::write(fd.get(), bytes.data(), bytes.size()) == static_cast<ssize_t>(bytes.size()));
  FUZZ_CHECK(::lseek(fd.get(), 0, SEEK_SET) == 0);
  return fd;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const fs::path first = scratch_dir() / "first.tar";
  const fs::path second = scratch_dir() / "second.tar";
  std::error_code ec;
  fs::remove(first, ec);  // so "a refused layer leaves no file" is about this run
  auto input = memory_file(matchlock::fuzz::as_text(data, size));
  auto layer = image::canonicalize_layer(input.get(), first, small_limits());
  if (!layer.ok()) {
    FUZZ_CHECK(!fs::exists(first));
    return 0;
  }
  FUZZ_CHECK(layer->entries <= small_limits().max_entries);
  FUZZ_CHECK(static_cast<int64_t>(fs::file_size(first)) == layer->size);

  matchlock::UniqueFd canonical(::open(first.c_str(), O_RDONLY | O_CLOEXEC));
  FUZZ_CHECK(canonical.get() >= 0);
  auto again = image::canonicalize_layer(canonical.get(), second, small_limits());
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(again->diff_id == layer->diff_id && again->entries == layer->entries);
  return 0;
}
