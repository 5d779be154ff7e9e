// RAII for libarchive handles, and a thread-local UTF-8 locale so PAX names (non-ASCII) convert
// losslessly without touching the process-wide locale.
#pragma once

#include <archive.h>
#include <archive_entry.h>
#include <locale.h>

#include <memory>
#include <string>

namespace matchlock::image {

struct ArchiveReadFree {
  void operator()(archive* a) const { archive_read_free(a); }
};
struct ArchiveWriteFree {
  void operator()(archive* a) const { archive_write_free(a); }
};
using ArchiveReader = std::unique_ptr<archive, ArchiveReadFree>;
using ArchiveWriter = std::unique_ptr<archive, ArchiveWriteFree>;

inline std::string archive_error_text(archive* a) {
  const char* s = archive_error_string(a);
  return s ? s : "unknown libarchive error";
}

// Switches the calling thread to C.UTF-8 for the scope (uselocale is per thread).
class ScopedUtf8Locale {
 public:
  ScopedUtf8Locale() {
    loc_ = ::newlocale(LC_CTYPE_MASK, "C.UTF-8", static_cast<locale_t>(0));
    if (loc_) prev_ = ::uselocale(loc_);
  }
  ~ScopedUtf8Locale() {
    if (loc_) {
      ::uselocale(prev_);
      ::freelocale(loc_);
    }
  }
  ScopedUtf8Locale(const ScopedUtf8Locale&) = delete;
  ScopedUtf8Locale& operator=(const ScopedUtf8Locale&) = delete;

 private:
  locale_t loc_ = static_cast<locale_t>(0);
  locale_t prev_ = static_cast<locale_t>(0);
};

}  // namespace matchlock::image
