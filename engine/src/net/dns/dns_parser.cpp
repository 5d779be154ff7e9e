#include "net/dns/dns_parser.h"

namespace matchlock::net::dns {
namespace {

Error protocol_error(std::string reason) {
  return Error(ErrorCode::kProtocol, "dns: " + std::move(reason));
}

// Bounds-checked cursor over one message.
class Cursor {
 public:
  explicit Cursor(std::string_view message) : message_(message) {}

  size_t position() const { return pos_; }
  std::string_view message() const { return message_; }
  bool has(size_t n) const { return n <= message_.size() - pos_; }
  void seek(size_t pos) { pos_ = pos; }

  Result<uint16_t> u16() {
    if (!has(2)) return protocol_error("truncated message");
    uint16_t v = static_cast<uint16_t>((byte(pos_) << 8) | byte(pos_ + 1));
    pos_ += 2;
    return v;
  }
  Result<uint32_t> u32() {
    if (!has(4)) return protocol_error("truncated message");
    uint32_t v =
        (byte(pos_) << 24) | (byte(pos_ + 1) << 16) | (byte(pos_ + 2) << 8) | byte(pos_ + 3);
    pos_ += 4;
    return v;
  }
  Result<std::string_view> bytes(size_t n) {
    if (!has(n)) return protocol_error("truncated message");
    std::string_view v = message_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  uint32_t byte(size_t i) const { return static_cast<uint8_t>(message_[i]); }

 private:
  std::string_view message_;
  size_t pos_ = 0;
};

// Reads a possibly compressed name at the cursor; leaves the cursor after the name's bytes in
// place (after the first pointer, if any).
Result<DnsName> read_name(Cursor& cursor) {
  std::string_view message = cursor.message();
  DnsName name;
  size_t pos = cursor.position();
  size_t sequence_start = pos;  // pointers must land strictly before this
  size_t resume_at = 0;
  bool jumped = false;
  int jumps = 0;
  size_t wire_length = 0;
  while (true) {
    if (pos >= message.size()) return protocol_error("truncated name");
    uint32_t length = cursor.byte(pos);
    if ((length & 0xc0) == 0xc0) {
      if (pos + 1 >= message.size()) return protocol_error("truncated name");
      size_t target = ((length & 0x3f) << 8) | cursor.byte(pos + 1);
      if (target >= sequence_start) return protocol_error("compression pointer not backwards");
      if (++jumps > kMaxDnsCompressionJumps) return protocol_error("too many compression jumps");
      if (!jumped) resume_at = pos + 2;
      jumped = true;
      pos = sequence_start = target;
      continue;
    }
    if ((length & 0xc0) != 0) return protocol_error("unsupported label type");
    wire_length += 1 + length;
    if (wire_length > kMaxDnsNameWireLength) return protocol_error("name longer than 255");
    if (length == 0) {
      cursor.seek(jumped ? resume_at : pos + 1);
      return name;
    }
    if (length > kMaxDnsLabelLength) return protocol_error("label longer than 63");
    if (length > message.size() - pos - 1) return protocol_error("truncated name");
    name.labels.emplace_back(message.substr(pos + 1, length));
    pos += 1 + length;
  }
}

Result<DnsQuestion> read_question(Cursor& cursor) {
  DnsQuestion question;
  auto name = read_name(cursor);
  if (!name.ok()) return name.error();
  question.name = std::move(*name);
  auto type = cursor.u16();
  if (!type.ok()) return type.error();
  auto klass = cursor.u16();
  if (!klass.ok()) return klass.error();
  question.type = *type;
  question.klass = *klass;
  return question;
}

Result<DnsRecord> read_record(Cursor& cursor) {
  DnsRecord record;
  auto name = read_name(cursor);
  if (!name.ok()) return name.error();
  record.name = std::move(*name);
  auto type = cursor.u16();
  if (!type.ok()) return type.error();
  auto klass = cursor.u16();
  if (!klass.ok()) return klass.error();
  auto ttl = cursor.u32();
  if (!ttl.ok()) return ttl.error();
  auto rdlength = cursor.u16();
  if (!rdlength.ok()) return rdlength.error();
  auto rdata = cursor.bytes(*rdlength);
  if (!rdata.ok()) return rdata.error();
  record.type = *type;
  record.klass = *klass;
  record.ttl = *ttl;
  record.rdata = std::string(*rdata);
  return record;
}

Status read_records(Cursor& cursor, uint16_t count, std::vector<DnsRecord>& out) {
  for (uint16_t i = 0; i < count; ++i) {
    auto record = read_record(cursor);
    if (!record.ok()) return record.error();
    out.push_back(std::move(*record));
  }
  return {};
}

Status collect_addresses(const std::vector<DnsRecord>& records,
                         std::vector<policy::IpAddress>& out) {
  for (const DnsRecord& record : records) {
    if (record.klass != kClassIn) continue;
    const auto* data = reinterpret_cast<const uint8_t*>(record.rdata.data());
    if (record.type == record_type::kA) {
      if (record.rdata.size() != 4) return protocol_error("A record with bad length");
      out.push_back(policy::IpAddress::v4_from_bytes(data));
    } else if (record.type == record_type::kAaaa) {
      if (record.rdata.size() != 16) return protocol_error("AAAA record with bad length");
      out.push_back(policy::IpAddress::v6_from_bytes(data));
    }
  }
  return {};
}

}  // namespace

Result<DnsHeader> parse_dns_header(std::string_view message) {
  if (message.size() < kDnsHeaderSize) return protocol_error("message shorter than a header");
  if (message.size() > kMaxDnsMessageSize) return protocol_error("message too large");
  Cursor cursor(message);
  DnsHeader header;
  header.id = *cursor.u16();
  header.flags = *cursor.u16();
  header.question_count = *cursor.u16();
  header.answer_count = *cursor.u16();
  header.authority_count = *cursor.u16();
  header.additional_count = *cursor.u16();
  return header;
}

Result<DnsQuery> parse_dns_query(std::string_view message) {
  auto header = parse_dns_header(message);
  if (!header.ok()) return header.error();
  if (header->is_response()) return protocol_error("query has the response bit set");
  if (header->question_count != 1) return protocol_error("query must have one question");
  if (header->answer_count != 0 || header->authority_count != 0) {
    return protocol_error("query carries answer or authority records");
  }
  Cursor cursor(message);
  cursor.seek(kDnsHeaderSize);
  DnsQuery query;
  query.header = *header;
  auto question = read_question(cursor);
  if (!question.ok()) return question.error();
  query.question = std::move(*question);
  for (uint16_t i = 0; i < header->additional_count; ++i) {
    auto record = read_record(cursor);
    if (!record.ok()) return record.error();
    if (record->type != record_type::kOpt) continue;
    if (!record->name.labels.empty()) return protocol_error("OPT record not at the root");
    if (query.edns_udp_payload_size) return protocol_error("more than one OPT record");
    query.edns_udp_payload_size = record->klass;  // OPT reuses CLASS as the payload size
  }
  return query;
}

Result<DnsResponse> parse_dns_response(std::string_view message) {
  auto header = parse_dns_header(message);
  if (!header.ok()) return header.error();
  if (!header->is_response()) return protocol_error("answer lacks the response bit");
  Cursor cursor(message);
  cursor.seek(kDnsHeaderSize);
  DnsResponse response;
  response.header = *header;
  for (uint16_t i = 0; i < header->question_count; ++i) {
    auto question = read_question(cursor);
    if (!question.ok()) return question.error();
    response.questions.push_back(std::move(*question));
  }
  MATCHLOCK_TRY(read_records(cursor, header->answer_count, response.answers));
  MATCHLOCK_TRY(read_records(cursor, header->authority_count, response.authorities));
  MATCHLOCK_TRY(read_records(cursor, header->additional_count, response.additionals));
  MATCHLOCK_TRY(collect_addresses(response.answers, response.addresses));
  MATCHLOCK_TRY(collect_addresses(response.authorities, response.addresses));
  MATCHLOCK_TRY(collect_addresses(response.additionals, response.addresses));
  return response;
}

}  // namespace matchlock::net::dns
