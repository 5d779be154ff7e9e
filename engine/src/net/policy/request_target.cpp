#include "net/policy/request_target.h"

#include <algorithm>

#include "core/greedy_wildcard.h"

namespace matchlock::net::policy {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string encode_component(std::string_view text) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : text) {
    auto b = static_cast<unsigned char>(c);
    bool keep = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                c == '-' || c == '_' || c == '.' || c == '~';
    if (keep) {
      out += c;
    } else {
      out += '%';
      out += kHex[b >> 4];
      out += kHex[b & 0x0f];
    }
  }
  return out;
}

// Matches one class "[...]" at pattern[i] against `c`; sets `end` past the ']'.
// Returns false with end = npos when the class is malformed.
bool class_matches(std::string_view pattern, size_t i, char c, size_t& end) {
  size_t k = i + 1;
  bool negated = k < pattern.size() && (pattern[k] == '^' || pattern[k] == '!');
  if (negated) ++k;
  bool matched = false;
  bool first = true;
  while (k < pattern.size() && (pattern[k] != ']' || first)) {
    first = false;
    char lo = pattern[k];
    if (lo == '\\') {
      if (++k >= pattern.size()) break;
      lo = pattern[k];
    }
    char hi = lo;
    if (k + 2 < pattern.size() && pattern[k + 1] == '-' && pattern[k + 2] != ']') {
      k += 2;
      hi = pattern[k];
      if (hi == '\\') {
        if (++k >= pattern.size()) break;
        hi = pattern[k];
      }
    }
    if (lo <= c && c <= hi) matched = true;
    ++k;
  }
  if (k >= pattern.size()) {
    end = std::string_view::npos;
    return false;
  }
  end = k + 1;
  return matched != negated;
}

// One non-star step of the pattern at pi against path character c (never '/' for a wildcard
// or a class); advances pi on a match.
bool match_one(std::string_view pattern, size_t& pi, char c) {
  char p = pattern[pi];
  if (p == '?') {
    if (c == '/') return false;
    ++pi;
    return true;
  }
  if (p == '[') {
    size_t end = 0;
    if (c == '/' || !class_matches(pattern, pi, c, end)) return false;
    pi = end;
    return true;
  }
  size_t at = pi;
  if (p == '\\' && at + 1 < pattern.size()) p = pattern[++at];
  if (c != p) return false;
  pi = at + 1;
  return true;
}

}  // namespace

std::string percent_decode(std::string_view text, bool plus_is_space) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
        hex_value(text[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
      i += 2;
    } else if (plus_is_space && text[i] == '+') {
      out += ' ';
    } else {
      out += text[i];
    }
  }
  return out;
}

RequestTarget RequestTarget::parse(std::string_view target) {
  RequestTarget parsed;
  size_t question = target.find('?');
  parsed.path = std::string(target.substr(0, question));
  if (question == std::string_view::npos) return parsed;
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    size_t amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (part.empty()) continue;
    size_t eq = part.find('=');
    QueryParam param;
    param.key = percent_decode(part.substr(0, eq), true);
    if (eq != std::string_view::npos) param.value = percent_decode(part.substr(eq + 1), true);
    param.raw = std::string(part);
    parsed.query.push_back(std::move(param));
  }
  return parsed;
}

std::string RequestTarget::to_string() const {
  std::string out = path;
  for (size_t i = 0; i < query.size(); ++i) {
    out += i == 0 ? '?' : '&';
    const QueryParam& param = query[i];
    out += !param.raw.empty() ? param.raw
                              : encode_component(param.key) + "=" + encode_component(param.value);
  }
  return out;
}

const QueryParam* RequestTarget::first(std::string_view key) const {
  for (const auto& param : query) {
    if (param.key == key) return &param;
  }
  return nullptr;
}

void RequestTarget::set(std::string_view key, std::string_view value) {
  // The first occurrence keeps its place; later ones go.
  std::vector<QueryParam> kept;
  bool placed = false;
  for (auto& param : query) {
    if (param.key != key) {
      kept.push_back(std::move(param));
    } else if (!placed) {
      kept.push_back({std::string(key), std::string(value), {}});
      placed = true;
    }
  }
  if (!placed) kept.push_back({std::string(key), std::string(value), {}});
  query = std::move(kept);
}

void RequestTarget::erase(std::string_view key) {
  std::erase_if(query, [&](const QueryParam& p) { return p.key == key; });
}

// A star never takes a '/' (core/greedy_wildcard.h): a guest's request path costs at most
// pattern x path steps on the engine's loop, however many stars a rule has.
bool path_glob_matches(std::string_view pattern, std::string_view path) {
  return greedy_wildcard_match(
      pattern, path.size(),
      [&](size_t& pi, size_t& si) {
        if (!match_one(pattern, pi, path[si])) return false;
        ++si;
        return true;
      },
      [&](size_t& si) { return path[si++] != '/'; });
}

Status validate_path_glob(std::string_view pattern) {
  for (size_t i = 0; i < pattern.size(); ++i) {
    if (pattern[i] == '\\') {
      if (i + 1 >= pattern.size()) return invalid_argument("ends with an escaping '\\'");
      ++i;
    } else if (pattern[i] == '[') {
      size_t end = 0;
      class_matches(pattern, i, 'a', end);
      if (end == std::string_view::npos) return invalid_argument("unterminated '[' class");
      i = end - 1;
    }
  }
  return {};
}

}  // namespace matchlock::net::policy
