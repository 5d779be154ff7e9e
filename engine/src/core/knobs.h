// Every MATCHLOCK_* environment variable the engine reads, in one table. Nothing else in
// engine/src calls getenv for a MATCHLOCK_* name: a knob is added here, documented in
// docs/run.md (Environment), and read through the accessor below.
//
// clang-format off
// | variable                         | for        | meaning                                          |
// |----------------------------------|------------|--------------------------------------------------|
// | MATCHLOCK_HOME                   | users      | state, images and sandboxes (default ~/.matchlock)|
// | MATCHLOCK_LOG                    | users      | debug | info | warn (default) | error             |
// | MATCHLOCK_BUNDLE                 | users      | guest bundle folder (default: bundle/ by the binary)|
// | MATCHLOCK_ACCEL                  | users      | kvm | tcg: skip the accelerator probe             |
// | MATCHLOCK_INSECURE_REGISTRIES    | users      | comma-separated registries reached over plain HTTP|
// | MATCHLOCK_BOOT_TIMEOUT_MS        | users      | how long a boot may take before it fails         |
// | MATCHLOCK_WARM_CACHE_MIB         | users      | disk for saved guests (default 4096; 0: no saves)|
// | MATCHLOCK_KVM_PROBE_CPU          | tests      | -cpu model of the KVM probe boot                 |
// | MATCHLOCK_KVM_PROBE_TIMEOUT_MS   | tests      | how long the KVM probe boot may take             |
// | MATCHLOCK_UNSAFE_SLIRP_BASELINE  | bench only | 1: QEMU's unfiltered -netdev user (no policy!)   |
// | MATCHLOCK_UNSAFE_BENCH_VIRTFS    | bench only | /abs/dir: shared over QEMU's virtio-9p (no policy!)|
// clang-format on
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace matchlock::knobs {

// The raw value, or nullopt when unset or empty.
std::optional<std::string> get(const char* name);

// A positive integer number of milliseconds, or nullopt when unset, empty or not one.
std::optional<uint64_t> milliseconds(const char* name);

inline constexpr const char* kHome = "MATCHLOCK_HOME";
inline constexpr const char* kLog = "MATCHLOCK_LOG";
inline constexpr const char* kBundle = "MATCHLOCK_BUNDLE";
inline constexpr const char* kAccel = "MATCHLOCK_ACCEL";
inline constexpr const char* kInsecureRegistries = "MATCHLOCK_INSECURE_REGISTRIES";
inline constexpr const char* kBootTimeoutMs = "MATCHLOCK_BOOT_TIMEOUT_MS";
inline constexpr const char* kKvmProbeCpu = "MATCHLOCK_KVM_PROBE_CPU";
inline constexpr const char* kKvmProbeTimeoutMs = "MATCHLOCK_KVM_PROBE_TIMEOUT_MS";
inline constexpr const char* kUnsafeSlirpBaseline = "MATCHLOCK_UNSAFE_SLIRP_BASELINE";
inline constexpr const char* kUnsafeBenchVirtfs = "MATCHLOCK_UNSAFE_BENCH_VIRTFS";
inline constexpr const char* kWarmCacheMib = "MATCHLOCK_WARM_CACHE_MIB";

}  // namespace matchlock::knobs
