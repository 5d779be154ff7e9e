// The key of a saved guest: everything that must be identical between the boot that saved a
// guest and a boot that restores it. QEMU restores device state only into exactly the same
// machine, and the guest's memory holds one kernel, one agent and one image's base disk, so the
// key covers QEMU's command line (with the per-sandbox file names taken out), the files behind
// it (QEMU, kernel, initramfs: by identity, so an upgrade or a rebuilt bundle makes a new key),
// the image digest and the engine's version. Anything else per sandbox is configured after
// restore and is not part of the key.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

#include "core/result.h"

namespace matchlock::sandbox {

struct SavedGuestKeyInputs {
  std::vector<std::string> qemu_argv;  // per-sandbox paths already replaced by placeholders
  std::string image_digest;
  std::vector<std::string> file_identities;  // core/file_identity.h: QEMU, kernel, initramfs
  std::string engine_version;
};

// 32 lowercase hex digits (the first half of a SHA-256 over the inputs).
std::string saved_guest_key(const SavedGuestKeyInputs& inputs);

}  // namespace matchlock::sandbox
