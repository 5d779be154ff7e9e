// Image reference parsing (docker grammar). normalize_reference() in image_store.h is the public
// entry; the parsed form is the seam where the registry client adds docker.io/library expansion.
#pragma once

#include <string>

#include "core/result.h"

namespace matchlock::image {

struct ParsedReference {
  std::string domain;  // "host[:port]" or empty for a short local name
  std::string path;    // "repo" or "org/repo", lowercase
  std::string tag;     // empty only when a digest is given
  std::string digest;  // "sha256:<hex>" or empty

  // "domain/path:tag@digest" with absent parts left out.
  std::string to_string() const;
};

// Splits and validates; fills in tag "latest" when neither tag nor digest is given.
Result<ParsedReference> parse_reference(const std::string& reference);

}  // namespace matchlock::image
