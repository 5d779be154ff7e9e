// Parsing of WWW-Authenticate challenges (RFC 7235): `Bearer realm="…",service="…",scope="…"`
// from token registries, `Basic realm="…"` from htpasswd ones. Hostile input: bounded, and a
// malformed header yields an error rather than a guess.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::image::registry {

struct Challenge {
  std::string scheme;                         // lowercase: "bearer", "basic", ...
  std::map<std::string, std::string> params;  // names lowercase, values unquoted
  std::string param(const std::string& name) const {
    auto it = params.find(name);
    return it == params.end() ? std::string() : it->second;
  }
};

Result<std::vector<Challenge>> parse_www_authenticate(std::string_view header);

}  // namespace matchlock::image::registry
