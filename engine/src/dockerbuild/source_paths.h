// Finding COPY/ADD sources inside a source root (the build context, or a stage's flattened
// rootfs) without ever leaving it: lexical cleaning of the names the Dockerfile gives, symlinks
// resolved as if the root were "/" (an absolute target starts again at the root, ".." may not
// climb above it), and docker's wildcards (`*`, `?`, `[...]`, `\` escapes) matched one path
// component at a time, as Go's filepath.Match does.
#pragma once

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"

namespace matchlock::dockerbuild {

// "a/./b/../c" -> "a/c"; a leading "/" is dropped; nullopt when ".." climbs above the root.
std::optional<std::string> clean_relative(std::string_view path);

// True when `name` (one component) matches `pattern` (one component). A malformed pattern
// (unclosed '[') matches nothing.
bool component_matches(std::string_view pattern, std::string_view name);
bool has_wildcard(std::string_view pattern);

// Resolves `rel` (clean, relative to `root`) following every symlink on the way, the last
// component's too when `follow_last`. Error kNotFound when a component does not exist,
// kInvalidArgument when a link leads out of the root. Returns the clean relative real path.
Result<std::string> resolve_in_root(const std::filesystem::path& root, std::string_view rel,
                                    bool follow_last);

// A path as the Dockerfile named it (for the destination's base name) and where it really is.
struct SourceMatch {
  std::string named;  // clean relative path built from the pattern's components
  std::string real;   // resolve_in_root(named, follow_last = true)
};

// Expands `pattern` (clean relative) against the root. Paths for which `visible` returns false
// (the .dockerignore) do not exist. Matches come sorted; none is an empty vector, not an error.
Result<std::vector<SourceMatch>> expand_source(
    const std::filesystem::path& root, std::string_view pattern,
    const std::function<bool(std::string_view real_rel)>& visible);

}  // namespace matchlock::dockerbuild
