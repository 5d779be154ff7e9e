#include "user_lookup.h"

#include <algorithm>
#include <charconv>
#include <optional>

namespace matchlock::guest_agent {
namespace {

std::vector<std::string_view> split(std::string_view text, char sep) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    size_t end = text.find(sep, start);
    if (end == std::string_view::npos) {
      parts.push_back(text.substr(start));
      return parts;
    }
    parts.push_back(text.substr(start, end - start));
    start = end + 1;
  }
}

std::optional<uint32_t> parse_id(std::string_view text) {
  if (text.empty()) return std::nullopt;
  uint32_t value = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return value;
}

// Calls `on_line` for each non-blank, non-comment line, with a trailing '\r' removed.
template <typename F>
void for_each_line(std::string_view text, F&& on_line) {
  for (std::string_view line : split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line.front() == '#') continue;
    on_line(line);
  }
}

// Docker matches a spec part against either the entry's name or its numeric id.
bool matches(std::string_view spec, const std::string& name, uint32_t id) {
  return spec == name || spec == std::to_string(id);
}

void add_unique(std::vector<uint32_t>& ids, uint32_t id) {
  if (std::find(ids.begin(), ids.end(), id) == ids.end()) ids.push_back(id);
}

}  // namespace

std::vector<PasswdEntry> parse_passwd(std::string_view text) {
  std::vector<PasswdEntry> entries;
  for_each_line(text, [&](std::string_view line) {
    auto fields = split(line, ':');  // name:password:uid:gid:gecos:home:shell
    if (fields.size() != 7 || fields[0].empty()) return;
    auto uid = parse_id(fields[2]);
    auto gid = parse_id(fields[3]);
    if (!uid || !gid) return;
    entries.push_back({std::string(fields[0]), *uid, *gid, std::string(fields[5])});
  });
  return entries;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> entries;
  for_each_line(text, [&](std::string_view line) {
    auto fields = split(line, ':');  // name:password:gid:member,member
    if (fields.size() != 4 || fields[0].empty()) return;
    auto gid = parse_id(fields[2]);
    if (!gid) return;
    GroupEntry entry{std::string(fields[0]), *gid, {}};
    if (!fields[3].empty()) {
      for (std::string_view member : split(fields[3], ',')) {
        if (!member.empty()) entry.members.emplace_back(member);
      }
    }
    entries.push_back(std::move(entry));
  });
  return entries;
}

Result<ResolvedUser> resolve_user(std::string_view spec, std::string_view passwd_text,
                                  std::string_view group_text) {
  std::string_view user_part = spec;
  std::string_view group_part;
  bool explicit_group = false;
  if (size_t colon = spec.find(':'); colon != std::string_view::npos) {
    user_part = spec.substr(0, colon);
    group_part = spec.substr(colon + 1);
    explicit_group = !group_part.empty();
  }
  // An empty user part means root, like docker's default.
  if (user_part.empty()) user_part = "0";

  const auto passwd = parse_passwd(passwd_text);
  ResolvedUser user;
  std::string user_name;
  auto entry = std::find_if(passwd.begin(), passwd.end(), [&](const PasswdEntry& e) {
    return matches(user_part, e.name, e.uid);
  });
  if (entry != passwd.end()) {
    user.uid = entry->uid;
    user.gid = entry->gid;
    if (!entry->home.empty()) user.home = entry->home;
    user_name = entry->name;
  } else if (auto uid = parse_id(user_part)) {
    user.uid = *uid;
    user.gid = 0;  // docker: a numeric uid without a passwd entry runs with gid 0
  } else {
    return Error(ErrorCode::kNotFound, "unable to find user " + std::string(user_part) +
                                           ": no matching entries in passwd file");
  }

  const auto groups = parse_group(group_text);
  if (explicit_group) {
    // With an explicit group docker sets only that group, no supplementary ones.
    auto group = std::find_if(groups.begin(), groups.end(), [&](const GroupEntry& g) {
      return matches(group_part, g.name, g.gid);
    });
    if (group != groups.end()) {
      user.gid = group->gid;
    } else if (auto gid = parse_id(group_part)) {
      user.gid = *gid;
    } else {
      return Error(ErrorCode::kNotFound, "unable to find group " + std::string(group_part) +
                                             ": no matching entries in group file");
    }
  } else if (!user_name.empty()) {
    add_unique(user.groups, user.gid);  // primary group first, as `id` lists it
    for (const GroupEntry& group : groups) {
      if (std::find(group.members.begin(), group.members.end(), user_name) != group.members.end()) {
        add_unique(user.groups, group.gid);
      }
    }
  }
  add_unique(user.groups, user.gid);
  return user;
}

}  // namespace matchlock::guest_agent
