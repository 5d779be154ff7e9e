// The agent's tar reader (guest/src/tar_format.cpp): ustar header blocks and pax records of the
// layer tar the host streams in for layer-apply.
// Invariants: a decoded header re-encodes (encode_header) to blocks that decode, with pax folded
// in, to the same entry; encoded headers are whole blocks.
#include <string>

#include "fuzz_check.h"
#include "tar_format.h"

namespace tar = matchlock::guest_agent::tar;

namespace {

bool same_entry(const tar::Entry& a, const tar::Entry& b) {
  return a.name == b.name && a.type == b.type && a.mode == b.mode && a.uid == b.uid &&
         a.gid == b.gid && a.size == b.size && a.mtime == b.mtime && a.link_name == b.link_name &&
         a.dev_major == b.dev_major && a.dev_minor == b.dev_minor && a.xattrs == b.xattrs;
}

// Reads what encode_header wrote: an optional pax 'x' header and its body, then the ustar block.
tar::Entry decode_encoded(const std::string& blocks) {
  FUZZ_CHECK(blocks.size() % tar::kBlockSize == 0 && !blocks.empty());
  auto first = tar::decode_header(std::string_view(blocks).substr(0, tar::kBlockSize));
  FUZZ_CHECK(first.ok() && first->has_value());
  if ((*first)->type != tar::kPaxExtended) return **first;
  size_t body_blocks = ((*first)->size + tar::kBlockSize - 1) / tar::kBlockSize;
  size_t main_at = tar::kBlockSize * (1 + body_blocks);
  FUZZ_CHECK(blocks.size() == main_at + tar::kBlockSize);
  auto main = tar::decode_header(std::string_view(blocks).substr(main_at, tar::kBlockSize));
  FUZZ_CHECK(main.ok() && main->has_value());
  tar::Entry entry = **main;
  auto applied = tar::apply_pax_records(
      std::string_view(blocks).substr(tar::kBlockSize, (*first)->size), entry);
  FUZZ_CHECK(applied.ok());
  return entry;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view input = matchlock::fuzz::as_text(data, size);
  // A header block, then (if any bytes remain) pax records applied onto it.
  std::string block(input.substr(0, tar::kBlockSize));
  block.resize(tar::kBlockSize, '\0');
  auto decoded = tar::decode_header(block);
  if (!decoded.ok() || !decoded->has_value()) return 0;
  tar::Entry entry = **decoded;
  if (input.size() > tar::kBlockSize) {
    if (!tar::apply_pax_records(input.substr(tar::kBlockSize), entry).ok()) return 0;
  }
  // A NUL cannot survive a ustar field; layer_tar_apply.cpp refuses such names itself.
  if (entry.name.find('\0') != std::string::npos ||
      entry.link_name.find('\0') != std::string::npos) {
    return 0;
  }
  if (entry.type == tar::kPaxExtended || entry.type == tar::kPaxGlobal ||
      entry.type == tar::kGnuLongName || entry.type == tar::kGnuLongLink) {
    return 0;  // meta entries are never re-encoded as such
  }
  FUZZ_CHECK(same_entry(decode_encoded(tar::encode_header(entry)), entry));
  return 0;
}
