// Between OCI image config blobs and ImageSettings: a build reads the settings (and history) of
// its base image from the base's config blob, changes them instruction by instruction, and writes
// the built image's config blob here.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.h"
#include "dockerbuild/image_settings.h"

namespace matchlock::dockerbuild {

// The marker written into the history "comment" of every entry a matchlock build adds.
inline constexpr std::string_view kHistoryComment = "matchlock.build.v1";

// config.{Env,User,WorkingDir,Entrypoint,Cmd,Shell,Labels,ExposedPorts,Volumes,StopSignal,
// Healthcheck,OnBuild} of a base image's config blob. Absent or null fields stay empty (Cmd and
// Entrypoint stay unset); a field of the wrong type is an error naming it.
Result<ImageSettings> settings_from_config(std::string_view config_json);

// The base image's "history", oldest first. `created` is read as RFC 3339 (whole seconds kept;
// 0 when absent or unreadable). Absent history is an empty list.
Result<std::vector<HistoryEntry>> history_from_config(std::string_view config_json);

// The built image's OCI config blob. From `base_config_json` ("" for FROM scratch) it keeps the
// platform and authorship fields a build does not manage (author, architecture, variant, os,
// os.version, os.features); a scratch image gets the host architecture and "linux". Everything
// else comes from the arguments: "config" holds only the settings that are set, "rootfs" lists
// `diff_ids` (every layer, base ones first), "history" is `history` as given (base entries and
// the build's). Keys are written in a fixed order and times as RFC 3339 UTC, so equal inputs
// give byte-identical configs (and so equal digests).
std::string write_config_json(std::string_view base_config_json, const ImageSettings& settings,
                              const std::vector<std::string>& diff_ids,
                              const std::vector<HistoryEntry>& history, int64_t created_unix);

// "2024-05-01T12:00:00Z" (RFC 3339, UTC, whole seconds).
std::string format_rfc3339_utc(int64_t unix_seconds);
// RFC 3339 with an optional fraction (dropped) and a "Z" or +hh:mm offset; nullopt otherwise.
std::optional<int64_t> parse_rfc3339(std::string_view text);

}  // namespace matchlock::dockerbuild
