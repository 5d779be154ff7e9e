#include "image/reference.h"

#include <cctype>
#include <string_view>

#include "image/digest.h"
#include "image/image_store.h"

namespace matchlock::image {
namespace {

constexpr size_t kMaxNameLength = 255;
constexpr size_t kMaxTagLength = 128;

bool is_lower_alnum(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

// path-component := [a-z0-9]+ (separator [a-z0-9]+)*, separator := "." | "_" | "__" | "-"+
bool valid_path_component(std::string_view s) {
  if (s.empty() || !is_lower_alnum(s.front()) || !is_lower_alnum(s.back())) return false;
  for (size_t i = 0; i < s.size();) {
    if (is_lower_alnum(s[i])) {
      ++i;
      continue;
    }
    size_t j = i;
    while (j < s.size() && !is_lower_alnum(s[j])) ++j;
    std::string_view sep = s.substr(i, j - i);
    bool dashes = sep.find_first_not_of('-') == std::string_view::npos;
    if (!(sep == "." || sep == "_" || sep == "__" || dashes)) return false;
    i = j;
  }
  return true;
}

// host := label ("." label)*, label := alnum ([alnum-]* alnum)?; optional ":port".
bool valid_domain(std::string_view s) {
  std::string_view host = s;
  if (size_t colon = s.rfind(':'); colon != std::string_view::npos) {
    std::string_view port = s.substr(colon + 1);
    if (port.empty() || port.size() > 5) return false;
    for (char c : port) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
    }
    host = s.substr(0, colon);
  }
  if (host.empty()) return false;
  size_t start = 0;
  while (start <= host.size()) {
    size_t dot = host.find('.', start);
    std::string_view label =
        host.substr(start, dot == std::string_view::npos ? host.npos : dot - start);
    if (label.empty() || !std::isalnum(static_cast<unsigned char>(label.front())) ||
        !std::isalnum(static_cast<unsigned char>(label.back()))) {
      return false;
    }
    for (char c : label) {
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') return false;
    }
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  return true;
}

bool valid_tag(std::string_view t) {
  if (t.empty() || t.size() > kMaxTagLength) return false;
  auto word = [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; };
  if (!word(t.front())) return false;
  for (char c : t) {
    if (!word(c) && c != '.' && c != '-') return false;
  }
  return true;
}

bool has_upper(std::string_view s) {
  for (char c : s) {
    if (c >= 'A' && c <= 'Z') return true;
  }
  return false;
}

}  // namespace

std::string ParsedReference::to_string() const {
  std::string out;
  if (!domain.empty()) out += domain + "/";
  out += path;
  if (!tag.empty()) out += ":" + tag;
  if (!digest.empty()) out += "@" + digest;
  return out;
}

Result<ParsedReference> parse_reference(const std::string& reference) {
  auto bad = [&](const std::string& why) {
    return invalid_argument("invalid reference \"" + reference + "\": " + why);
  };
  if (reference.empty()) return invalid_argument("invalid reference \"\": empty");
  ParsedReference ref;
  std::string_view rest = reference;

  if (size_t at = rest.find('@'); at != std::string_view::npos) {
    ref.digest = std::string(rest.substr(at + 1));
    if (!is_sha256_digest(ref.digest)) return bad("digest must be sha256:<64 lowercase hex>");
    rest = rest.substr(0, at);
  }
  // A tag follows the last ':' only if no '/' comes after it (else it is a registry port).
  size_t colon = rest.rfind(':');
  if (colon != std::string_view::npos && rest.find('/', colon) == std::string_view::npos) {
    ref.tag = std::string(rest.substr(colon + 1));
    if (!valid_tag(ref.tag)) return bad("malformed tag \"" + ref.tag + "\"");
    rest = rest.substr(0, colon);
  }
  if (rest.empty()) return bad("missing repository name");
  if (rest.size() > kMaxNameLength) return bad("name longer than 255 characters");

  // Docker's rule: the first component is a registry if it looks like a host.
  if (size_t slash = rest.find('/'); slash != std::string_view::npos) {
    std::string_view first = rest.substr(0, slash);
    if (first.find_first_of(".:") != std::string_view::npos || first == "localhost") {
      if (!valid_domain(first)) return bad("malformed registry \"" + std::string(first) + "\"");
      ref.domain = std::string(first);
      rest = rest.substr(slash + 1);
    }
  }
  if (has_upper(rest)) return bad("repository name must be lowercase");
  size_t start = 0;
  while (true) {
    size_t slash = rest.find('/', start);
    std::string_view comp =
        rest.substr(start, slash == std::string_view::npos ? rest.npos : slash - start);
    if (!valid_path_component(comp)) return bad("malformed repository name");
    if (slash == std::string_view::npos) break;
    start = slash + 1;
  }
  ref.path = std::string(rest);
  if (ref.tag.empty() && ref.digest.empty()) ref.tag = "latest";
  return ref;
}

Result<std::string> normalize_reference(const std::string& reference) {
  auto parsed = parse_reference(reference);
  if (!parsed) return parsed.error();
  return parsed->to_string();
}

}  // namespace matchlock::image
