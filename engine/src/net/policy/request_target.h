// An origin-form request target ("/v1/models?limit=5&x") split into what interception rules
// and remote plugins read and edit: the path and the query parameters. The target comes from
// the guest: parsing never fails, it only decides what is path and what is query.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::net::policy {

struct QueryParam {
  std::string key;    // percent-decoded ('+' is a space)
  std::string value;  // percent-decoded
  std::string raw;    // as the guest wrote it ("" for a parameter set by a rule)
};

struct RequestTarget {
  std::string path;  // everything before the first '?', as sent (not decoded)
  std::vector<QueryParam> query;

  static RequestTarget parse(std::string_view target);
  // Untouched parameters keep their original spelling; new ones are percent-encoded.
  std::string to_string() const;

  const QueryParam* first(std::string_view key) const;
  void set(std::string_view key, std::string_view value);  // replaces every `key` by one
  void erase(std::string_view key);
};

std::string percent_decode(std::string_view text, bool plus_is_space);

// Go's path.Match on URL paths: '*' is any run of non-'/' bytes, '?' one non-'/' byte,
// "[a-z]" / "[^a-z]" a class, '\' escapes the next byte. The whole path must match.
bool path_glob_matches(std::string_view pattern, std::string_view path);
// kInvalidArgument (message: the reason) for an unterminated class or a trailing '\'.
Status validate_path_glob(std::string_view pattern);

}  // namespace matchlock::net::policy
