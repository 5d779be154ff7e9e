// Resolves a docker-style user spec ("", "name", "uid", "uid:gid", "name:group", "uid:group")
// against the contents of /etc/passwd and /etc/group. Pure functions over strings: the agent
// reads the files itself because a static binary must not use glibc NSS.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::guest_agent {

struct PasswdEntry {
  std::string name;
  uint32_t uid = 0;
  uint32_t gid = 0;
  std::string home;
};

struct GroupEntry {
  std::string name;
  uint32_t gid = 0;
  std::vector<std::string> members;
};

// Malformed lines (wrong field count, non-numeric ids), comments and blank lines are skipped.
std::vector<PasswdEntry> parse_passwd(std::string_view text);
std::vector<GroupEntry> parse_group(std::string_view text);

struct ResolvedUser {
  uint32_t uid = 0;
  uint32_t gid = 0;
  // Every group the process gets via setgroups: the primary gid first (as `id` lists them),
  // then the supplementary groups; no duplicates.
  std::vector<uint32_t> groups;
  std::string home = "/";
};

// Errors carry the exact one-line message sent to the host (docker's wording).
Result<ResolvedUser> resolve_user(std::string_view spec, std::string_view passwd_text,
                                  std::string_view group_text);

}  // namespace matchlock::guest_agent
