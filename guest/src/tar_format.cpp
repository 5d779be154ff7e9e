#include "tar_format.h"

#include <algorithm>
#include <charconv>
#include <cstring>
#include <vector>

namespace matchlock::guest_agent::tar {
namespace {

// ustar field offsets and widths.
struct Field {
  size_t offset;
  size_t width;
};
constexpr Field kName{0, 100};
constexpr Field kMode{100, 8};
constexpr Field kUid{108, 8};
constexpr Field kGid{116, 8};
constexpr Field kSize{124, 12};
constexpr Field kMtime{136, 12};
constexpr Field kChecksum{148, 8};
constexpr size_t kTypeflag = 156;
constexpr Field kLinkName{157, 100};
constexpr Field kMagic{257, 6};
constexpr Field kVersion{263, 2};
constexpr Field kDevMajor{329, 8};
constexpr Field kDevMinor{337, 8};
constexpr Field kPrefix{345, 155};

// Largest value an octal field of `width` bytes holds (width - 1 digits and a NUL).
uint64_t octal_max(size_t width) {
  return (uint64_t{1} << (3 * (width - 1))) - 1;
}

void put_octal(std::string& block, Field field, uint64_t value) {
  char text[24];
  std::snprintf(text, sizeof text, "%0*llo", static_cast<int>(field.width - 1),
                static_cast<unsigned long long>(value));
  std::memcpy(&block[field.offset], text, field.width - 1);
  block[field.offset + field.width - 1] = '\0';
}

void put_text(std::string& block, Field field, std::string_view text) {
  std::memcpy(&block[field.offset], text.data(), std::min(text.size(), field.width));
}

unsigned checksum_of(std::string_view block, bool as_signed) {
  unsigned sum = 0;
  for (size_t i = 0; i < kBlockSize; ++i) {
    bool in_checksum = i >= kChecksum.offset && i < kChecksum.offset + kChecksum.width;
    unsigned char byte = in_checksum ? ' ' : static_cast<unsigned char>(block[i]);
    sum +=
        as_signed ? static_cast<unsigned>(static_cast<int>(static_cast<signed char>(byte))) : byte;
  }
  return sum;
}

// "%d key=value\n" where %d counts the whole record, itself included.
void add_pax_record(std::string& body, std::string_view key, std::string_view value) {
  size_t payload = 1 + key.size() + 1 + value.size() + 1;  // " key=value\n"
  size_t digits = 1;
  while (std::to_string(payload + digits).size() > digits) ++digits;
  body += std::to_string(payload + digits);
  body += ' ';
  body.append(key);
  body += '=';
  body.append(value);
  body += '\n';
}

std::string ustar_block(const Entry& entry, std::string_view name, std::string_view link,
                        uint64_t size, char type) {
  std::string block(kBlockSize, '\0');
  put_text(block, kName, name);
  put_octal(block, kMode, entry.mode & 07777);
  put_octal(block, kUid, std::min(entry.uid, octal_max(kUid.width)));
  put_octal(block, kGid, std::min(entry.gid, octal_max(kGid.width)));
  put_octal(block, kSize, size);
  put_octal(block, kMtime,
            entry.mtime < 0 ? 0 : std::min<uint64_t>(entry.mtime, octal_max(kMtime.width)));
  block[kTypeflag] = type;
  put_text(block, kLinkName, link);
  put_text(block, kMagic, std::string_view("ustar\0", 6));
  put_text(block, kVersion, "00");
  put_octal(block, kDevMajor, std::min<uint64_t>(entry.dev_major, octal_max(kDevMajor.width)));
  put_octal(block, kDevMinor, std::min<uint64_t>(entry.dev_minor, octal_max(kDevMinor.width)));
  char sum[8];
  std::snprintf(sum, sizeof sum, "%06o", checksum_of(block, false));
  std::memcpy(&block[kChecksum.offset], sum, 6);
  block[kChecksum.offset + 6] = '\0';
  block[kChecksum.offset + 7] = ' ';
  return block;
}

std::string_view field_text(std::string_view block, Field field) {
  std::string_view text = block.substr(field.offset, field.width);
  return text.substr(0, std::min(text.find('\0'), text.size()));
}

// Octal (spaces and NULs around it allowed) or GNU base-256 for large values.
Result<uint64_t> parse_number(std::string_view block, Field field, const char* what) {
  std::string_view raw = block.substr(field.offset, field.width);
  if (!raw.empty() && (static_cast<unsigned char>(raw[0]) & 0x80)) {
    if (static_cast<unsigned char>(raw[0]) != 0x80) {
      return invalid_argument(std::string("tar header: negative or huge ") + what);
    }
    uint64_t value = 0;
    for (size_t i = 1; i < raw.size(); ++i) {
      if (value >> 56) return invalid_argument(std::string("tar header: ") + what + " too large");
      value = (value << 8) | static_cast<unsigned char>(raw[i]);
    }
    return value;
  }
  size_t begin = raw.find_first_not_of(' ');
  if (begin == std::string_view::npos) return uint64_t{0};
  size_t end = raw.find_first_of(std::string_view(" \0", 2), begin);
  std::string_view digits =
      raw.substr(begin, end == std::string_view::npos ? raw.size() - begin : end - begin);
  if (digits.empty()) return uint64_t{0};
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value, 8);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    return invalid_argument(std::string("tar header: bad ") + what + " field");
  }
  return value;
}

Result<uint64_t> parse_decimal(std::string_view text, const char* what) {
  uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value, 10);
  if (text.empty() || ec != std::errc() || ptr != text.data() + text.size()) {
    return invalid_argument(std::string("pax header: bad ") + what);
  }
  return value;
}

// pax mtime: "[-]seconds[.fraction]"; the fraction is dropped (layers keep whole seconds).
Result<int64_t> parse_pax_time(std::string_view text) {
  bool negative = !text.empty() && text[0] == '-';
  if (negative) text.remove_prefix(1);
  text = text.substr(0, text.find('.'));
  auto seconds = parse_decimal(text, "mtime");
  if (!seconds.ok()) return seconds.error();
  if (*seconds > uint64_t{1} << 62) return invalid_argument("pax header: mtime out of range");
  return negative ? -static_cast<int64_t>(*seconds) : static_cast<int64_t>(*seconds);
}

}  // namespace

size_t padding_for(uint64_t size) {
  return static_cast<size_t>((kBlockSize - size % kBlockSize) % kBlockSize);
}

std::string encode_header(const Entry& entry) {
  std::string pax;
  if (entry.name.size() > kName.width) add_pax_record(pax, "path", entry.name);
  if (entry.link_name.size() > kLinkName.width) add_pax_record(pax, "linkpath", entry.link_name);
  if (entry.size > octal_max(kSize.width)) add_pax_record(pax, "size", std::to_string(entry.size));
  if (entry.uid > octal_max(kUid.width)) add_pax_record(pax, "uid", std::to_string(entry.uid));
  if (entry.gid > octal_max(kGid.width)) add_pax_record(pax, "gid", std::to_string(entry.gid));
  if (entry.mtime < 0 || static_cast<uint64_t>(entry.mtime) > octal_max(kMtime.width)) {
    add_pax_record(pax, "mtime", std::to_string(entry.mtime));
  }
  for (const auto& [name, value] : entry.xattrs) {
    add_pax_record(pax, std::string(kXattrPaxPrefix) + name, value);
  }
  std::string out;
  if (!pax.empty()) {
    // The pax header's own name is informational; keep it short and within the ustar field.
    std::string base = entry.name.substr(entry.name.find_last_of('/') + 1);
    std::string pax_name = "PaxHeaders/" + base.substr(0, 80);
    Entry pax_entry;
    pax_entry.mode = 0644;
    pax_entry.mtime = entry.mtime;
    out = ustar_block(pax_entry, pax_name, "", pax.size(), kPaxExtended);
    out += pax;
    out.append(padding_for(pax.size()), '\0');
  }
  out += ustar_block(entry, std::string_view(entry.name).substr(0, kName.width),
                     std::string_view(entry.link_name).substr(0, kLinkName.width),
                     std::min(entry.size, octal_max(kSize.width)), entry.type);
  return out;
}

Result<std::optional<Entry>> decode_header(std::string_view block) {
  if (block.size() != kBlockSize) return invalid_argument("tar header: short block");
  if (std::all_of(block.begin(), block.end(), [](char c) { return c == '\0'; })) {
    return std::optional<Entry>();
  }
  auto stored = parse_number(block, kChecksum, "checksum");
  if (!stored.ok()) return stored.error();
  if (*stored != checksum_of(block, false) && *stored != checksum_of(block, true)) {
    return invalid_argument("tar header: checksum mismatch");
  }
  Entry entry;
  entry.type = block[kTypeflag];
  std::string_view name = field_text(block, kName);
  std::string_view prefix;
  if (block.substr(kMagic.offset, 5) == "ustar") prefix = field_text(block, kPrefix);
  entry.name = prefix.empty() ? std::string(name) : std::string(prefix) + "/" + std::string(name);
  entry.link_name = std::string(field_text(block, kLinkName));
  struct NumberField {
    Field field;
    const char* what;
    uint64_t* out;
  };
  uint64_t mode = 0, mtime = 0, major = 0, minor = 0;
  for (const NumberField& f : {NumberField{kMode, "mode", &mode},
                               {kUid, "uid", &entry.uid},
                               {kGid, "gid", &entry.gid},
                               {kSize, "size", &entry.size},
                               {kMtime, "mtime", &mtime},
                               {kDevMajor, "devmajor", &major},
                               {kDevMinor, "devminor", &minor}}) {
    auto value = parse_number(block, f.field, f.what);
    if (!value.ok()) return value.error();
    *f.out = *value;
  }
  entry.mode = static_cast<uint32_t>(mode & 07777);
  entry.mtime = static_cast<int64_t>(std::min<uint64_t>(mtime, uint64_t{1} << 62));
  if (major > 0xfff || minor > 0xfffff) return invalid_argument("tar header: bad device number");
  entry.dev_major = static_cast<uint32_t>(major);
  entry.dev_minor = static_cast<uint32_t>(minor);
  return std::optional<Entry>(std::move(entry));
}

Status apply_pax_records(std::string_view body, Entry& entry) {
  while (!body.empty()) {
    size_t space = body.find(' ');
    if (space == std::string_view::npos) return invalid_argument("pax header: malformed record");
    auto length = parse_decimal(body.substr(0, space), "record length");
    if (!length.ok()) return length.error();
    if (*length <= space + 1 || *length > body.size() || body[*length - 1] != '\n') {
      return invalid_argument("pax header: bad record length");
    }
    std::string_view record = body.substr(space + 1, *length - space - 2);
    body.remove_prefix(*length);
    size_t equals = record.find('=');
    if (equals == std::string_view::npos) return invalid_argument("pax header: record without =");
    std::string_view key = record.substr(0, equals);
    std::string_view value = record.substr(equals + 1);
    if (key == "path") {
      entry.name = std::string(value);
    } else if (key == "linkpath") {
      entry.link_name = std::string(value);
    } else if (key == "size" || key == "uid" || key == "gid") {
      auto number = parse_decimal(value, std::string(key).c_str());
      if (!number.ok()) return number.error();
      (key == "size" ? entry.size : key == "uid" ? entry.uid : entry.gid) = *number;
    } else if (key == "mtime") {
      auto time = parse_pax_time(value);
      if (!time.ok()) return time.error();
      entry.mtime = *time;
    } else if (key.substr(0, kXattrPaxPrefix.size()) == kXattrPaxPrefix) {
      entry.xattrs[std::string(key.substr(kXattrPaxPrefix.size()))] = std::string(value);
    }
  }
  return {};
}

}  // namespace matchlock::guest_agent::tar
