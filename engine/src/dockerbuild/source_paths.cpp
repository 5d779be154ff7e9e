#include "dockerbuild/source_paths.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <memory>

#include "core/greedy_wildcard.h"

namespace matchlock::dockerbuild {
namespace {

constexpr int kMaxSymlinkHops = 40;  // as the kernel's ELOOP limit

std::vector<std::string> split_components(std::string_view path) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string_view::npos) j = path.size();
    if (j > i) out.emplace_back(path.substr(i, j - i));
    i = j + 1;
  }
  return out;
}

std::string join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

std::string join_rel(std::string_view dir, std::string_view name) {
  if (dir.empty()) return std::string(name);
  return std::string(dir) + "/" + std::string(name);
}

// One UTF-8 character (a rune, for '?' and classes); invalid bytes count as one character each.
char32_t next_rune(std::string_view s, size_t& i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
  if (i + len > s.size()) len = 1;
  char32_t r = len == 1 ? c : (c & (0x7f >> len));
  for (size_t k = 1; k < len; ++k) {
    unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 2) {
      len = 1;
      r = c;
      break;
    }
    r = (r << 6) | (cc & 0x3f);
  }
  i += len;
  return r;
}

// A class character, '\' escapes allowed; false on a malformed class.
bool class_char(std::string_view p, size_t& i, char32_t& out) {
  if (i >= p.size() || p[i] == '-' || p[i] == ']') return false;
  if (p[i] == '\\') {
    ++i;
    if (i >= p.size()) return false;
  }
  out = next_rune(p, i);
  return true;
}

// Matches `[...]` at p[i] (just after the '[') against rune `r`; advances i past the ']'.
bool match_class(std::string_view p, size_t& i, char32_t r, bool& matched) {
  bool negate = i < p.size() && p[i] == '^';
  if (negate) ++i;
  matched = false;
  for (int ranges = 0;; ++ranges) {
    if (i < p.size() && p[i] == ']' && ranges > 0) {
      ++i;
      break;
    }
    char32_t lo = 0, hi = 0;
    if (!class_char(p, i, lo)) return false;
    hi = lo;
    if (i < p.size() && p[i] == '-') {
      ++i;
      if (!class_char(p, i, hi)) return false;
    }
    if (lo <= r && r <= hi) matched = true;
  }
  matched = matched != negate;
  return true;
}

// One non-star step of `p` at pi against the rune at n[ni]; advances both on a match.
bool match_one(std::string_view p, size_t& pi, std::string_view n, size_t& ni) {
  const char c = p[pi];
  if (c == '?') {
    ++pi;
    next_rune(n, ni);
    return true;
  }
  if (c == '[') {
    size_t after = pi + 1;
    size_t at = ni;
    const char32_t r = next_rune(n, at);
    bool matched = false;
    if (!match_class(p, after, r, matched) || !matched) return false;
    pi = after;
    ni = at;
    return true;
  }
  size_t at = pi;
  if (c == '\\' && ++at >= p.size()) return false;  // a trailing escape matches nothing
  if (p[at] != n[ni]) return false;
  pi = at + 1;
  ++ni;
  return true;
}

// Whole-name match, a star taking any rune (core/greedy_wildcard.h): pattern x name steps.
bool match_from(std::string_view p, std::string_view n) {
  return greedy_wildcard_match(
      p, n.size(), [&](size_t& pi, size_t& ni) { return match_one(p, pi, n, ni); },
      [&](size_t& ni) {
        next_rune(n, ni);
        return true;
      });
}

std::string unescape(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '\\' && i + 1 < s.size()) ++i;
    out += s[i];
  }
  return out;
}

Result<std::vector<std::string>> list_dir(const std::filesystem::path& dir) {
  std::unique_ptr<DIR, int (*)(DIR*)> d(::opendir(dir.c_str()), ::closedir);
  if (!d) return io_error("list " + dir.string() + ": " + std::strerror(errno));
  std::vector<std::string> names;
  while (dirent* de = ::readdir(d.get())) {
    std::string_view name = de->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace

std::optional<std::string> clean_relative(std::string_view path) {
  std::vector<std::string> parts;
  for (auto& part : split_components(path)) {
    if (part == ".") continue;
    if (part == "..") {
      if (parts.empty()) return std::nullopt;
      parts.pop_back();
      continue;
    }
    parts.push_back(std::move(part));
  }
  return join(parts);
}

bool has_wildcard(std::string_view pattern) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      ++i;
      continue;
    }
    if (pattern[i] == '*' || pattern[i] == '?' || pattern[i] == '[') return true;
  }
  return false;
}

bool component_matches(std::string_view pattern, std::string_view name) {
  return match_from(pattern, name);
}

Result<std::string> resolve_in_root(const std::filesystem::path& root, std::string_view rel,
                                    bool follow_last) {
  std::vector<std::string> done;
  auto first = split_components(rel);
  std::deque<std::string> todo(first.begin(), first.end());
  int hops = 0;
  while (!todo.empty()) {
    std::string part = std::move(todo.front());
    todo.pop_front();
    if (part == ".") continue;
    if (part == "..") {
      if (done.empty()) {
        return invalid_argument("path \"" + std::string(rel) + "\" leads outside the root");
      }
      done.pop_back();
      continue;
    }
    done.push_back(part);
    std::filesystem::path real = root / join(done);
    struct stat st {};
    if (::lstat(real.c_str(), &st) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) return not_found(std::string(rel));
      return io_error("lstat " + real.string() + ": " + std::strerror(errno));
    }
    bool last = todo.empty();
    if (S_ISLNK(st.st_mode) && (!last || follow_last)) {
      if (++hops > kMaxSymlinkHops) {
        return invalid_argument("path \"" + std::string(rel) + "\": too many symlinks");
      }
      std::vector<char> buf(static_cast<size_t>(st.st_size > 0 ? st.st_size : 255) + 1);
      ssize_t n = ::readlink(real.c_str(), buf.data(), buf.size());
      if (n < 0) return io_error("readlink " + real.string() + ": " + std::strerror(errno));
      std::string_view target(buf.data(), static_cast<size_t>(n));
      done.pop_back();
      if (target.starts_with('/')) done.clear();  // the root stands for "/"
      auto more = split_components(target);
      todo.insert(todo.begin(), more.begin(), more.end());
      continue;
    }
    if (!last && !S_ISDIR(st.st_mode)) return not_found(std::string(rel));
  }
  return join(done);
}

Result<std::vector<SourceMatch>> expand_source(
    const std::filesystem::path& root, std::string_view pattern,
    const std::function<bool(std::string_view real_rel)>& visible) {
  std::vector<SourceMatch> states{SourceMatch{}};
  // Adds `named` (reached through `via`) when it exists, stays in the root and is not ignored.
  auto consider = [&](std::vector<SourceMatch>& next, std::string named,
                      const std::string& via) -> Status {
    auto real = resolve_in_root(root, via, true);
    if (!real) {
      if (real.error().code == ErrorCode::kNotFound) return {};
      return real.error();
    }
    if (visible && !visible(*real)) return {};
    next.push_back({std::move(named), std::move(*real)});
    return {};
  };
  for (const auto& part : split_components(pattern)) {
    std::vector<SourceMatch> next;
    for (const auto& st : states) {
      if (!has_wildcard(part)) {
        std::string name = unescape(part);
        MATCHLOCK_TRY(consider(next, join_rel(st.named, name), join_rel(st.real, name)));
        continue;
      }
      struct stat sb {};
      std::filesystem::path dir = st.real.empty() ? root : root / st.real;
      if (::lstat(dir.c_str(), &sb) != 0 || !S_ISDIR(sb.st_mode)) continue;
      auto names = list_dir(dir);
      if (!names) return names.error();
      for (const auto& name : *names) {
        if (!component_matches(part, name)) continue;
        MATCHLOCK_TRY(consider(next, join_rel(st.named, name), join_rel(st.real, name)));
      }
    }
    states = std::move(next);
  }
  std::sort(states.begin(), states.end(),
            [](const SourceMatch& a, const SourceMatch& b) { return a.named < b.named; });
  return states;
}

}  // namespace matchlock::dockerbuild
