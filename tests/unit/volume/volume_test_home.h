// A throwaway $MATCHLOCK_HOME for tests that create volumes, restored and removed afterwards.
#pragma once

#include <stdlib.h>

#include <filesystem>
#include <optional>
#include <string>

namespace matchlock::testing {

class TempMatchlockHome {
 public:
  TempMatchlockHome() {
    char tmpl[] = "/tmp/matchlock-vol-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    if (const char* old = ::getenv("MATCHLOCK_HOME")) old_ = old;
    ::setenv("MATCHLOCK_HOME", dir_.c_str(), 1);
  }
  ~TempMatchlockHome() {
    if (old_) {
      ::setenv("MATCHLOCK_HOME", old_->c_str(), 1);
    } else {
      ::unsetenv("MATCHLOCK_HOME");
    }
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  TempMatchlockHome(const TempMatchlockHome&) = delete;
  TempMatchlockHome& operator=(const TempMatchlockHome&) = delete;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::optional<std::string> old_;
};

}  // namespace matchlock::testing
