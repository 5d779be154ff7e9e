#include "sandbox/saved_guest_key.h"

#include "image/digest.h"

namespace matchlock::sandbox {

std::string saved_guest_key(const SavedGuestKeyInputs& inputs) {
  image::Sha256 hash;
  // Each field length-prefixed, so no two different inputs serialise alike.
  auto add = [&hash](const std::string& field) {
    std::string len = std::to_string(field.size()) + ":";
    hash.update(len.data(), len.size());
    hash.update(field.data(), field.size());
  };
  add("matchlock saved guest v2: QEMU mapped-ram");  // a new format is a new key
  add(inputs.engine_version);
  add(inputs.image_digest);
  add(std::to_string(inputs.file_identities.size()));
  for (const auto& f : inputs.file_identities) add(f);
  add(std::to_string(inputs.qemu_argv.size()));
  for (const auto& a : inputs.qemu_argv) add(a);
  return image::digest_hex(hash.finish()).substr(0, 32);
}

}  // namespace matchlock::sandbox
