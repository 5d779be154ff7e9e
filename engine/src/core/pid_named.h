// Temporary files and directories whose names carry their maker's pid ("<prefix><pid>-..."), so
// a later process can tell what a killed maker left behind (its pid no longer runs) from what a
// live one is still writing. A recycled pid only delays a removal, never causes a wrong one.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <string>
#include <string_view>

namespace matchlock::pid_named {

// "<prefix><this pid>-<n><suffix>", unique among processes and this process's threads.
std::string unique_name(std::string_view prefix, std::string_view suffix = {});
// The pid in "<prefix><pid>-...", or 0 when `name` is not such a name.
pid_t maker_of(std::string_view name, std::string_view prefix);
bool maker_is_running(pid_t pid);
// Removes the entries of `dir` named "<prefix><pid>-..." whose maker no longer runs (trees
// too); `removed` is told each one. Returns how many could not be removed.
int remove_dead_makers_leftovers(const std::filesystem::path& dir, std::string_view prefix,
                                 const std::function<void(const std::filesystem::path&)>& removed);

}  // namespace matchlock::pid_named
