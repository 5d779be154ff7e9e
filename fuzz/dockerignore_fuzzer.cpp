// .dockerignore patterns and paths (engine/src/dockerbuild/dockerignore.cpp): the file comes
// from the build context. The input is "patterns\0path\0path...".
// Invariants: the context root is never excluded; clean_path is idempotent and leaves no empty
// or "." component; a path is excluded or not the same whether it is given cleaned or not;
// without exceptions ('!'), everything below an excluded directory is excluded.
#include <string>

#include "dockerbuild/dockerignore.h"
#include "fuzz_check.h"

namespace db = matchlock::dockerbuild;

namespace {

void check_clean(std::string_view path) {
  std::string once = db::clean_path(path);
  FUZZ_CHECK(!once.empty());
  FUZZ_CHECK(db::clean_path(once) == once);
  if (once != "." && once != "/") {
    FUZZ_CHECK(once.find("//") == std::string::npos);
    FUZZ_CHECK(once.back() != '/');
    FUZZ_CHECK(once.find("/./") == std::string::npos && once.rfind("./", 0) != 0);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = matchlock::fuzz::as_text(data, size);
  size_t nul = input.find('\0');
  std::string_view patterns = input.substr(0, nul);
  auto ignore = db::DockerIgnore::parse(patterns);
  if (!ignore.ok()) return 0;
  FUZZ_CHECK(!ignore->excluded("") && !ignore->excluded("."));

  std::string_view rest =
      nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);
  for (int n = 0; n < 16 && !rest.empty(); ++n) {
    size_t end = rest.find('\0');
    std::string_view path = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    check_clean(path);
    bool excluded = ignore->excluded(path);
    FUZZ_CHECK(ignore->excluded(db::clean_path(path)) == excluded);
    if (!excluded && patterns.find('!') == std::string_view::npos) {
      // Its parent is not excluded either (checked for the parent only: by induction, for all).
      const std::string cleaned = db::clean_path(path);
      const size_t slash = cleaned.rfind('/');
      if (slash != std::string::npos && slash > 0) {
        FUZZ_CHECK(!ignore->excluded(std::string_view(cleaned).substr(0, slash)));
      }
    }
    (void)ignore->may_include_below(path);
  }
  return 0;
}
