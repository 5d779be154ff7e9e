// The CONFIG fields the agent needs before it can enter the sandbox's root (protocol v6): they
// make a guest restored from a saved boot unique (entropy, clock) and fresh (re-read disks).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.h"

namespace matchlock::guest_agent {

// Exactly this many random bytes come with every CONFIG ("entropy", base64).
inline constexpr size_t kHostEntropyBytes = 64;

struct BootSettings {
  std::string channel_token;            // echoed in READY: proves READY answers this CONFIG
  std::string entropy;                  // kHostEntropyBytes raw bytes
  std::optional<int64_t> time_unix_ms;  // the host's clock
  bool restored = false;                // this guest was restored from a saved boot
  bool data_disks = false;              // "disks" names at least one (re-probed after a restore)
};

// Parses "channel_token" and "entropy" (both required), "time_unix_ms" and "restored" of a
// CONFIG payload, and whether "disks" is a non-empty list (apply_config checks the disks);
// anything malformed is an error (reported back to the host as ERROR for CONFIG).
Result<BootSettings> parse_boot_settings(std::string_view payload);

}  // namespace matchlock::guest_agent
