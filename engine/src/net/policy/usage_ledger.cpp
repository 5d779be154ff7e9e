#include "net/policy/usage_ledger.h"

#include <fcntl.h>
#include <rapidjson/document.h>
#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>

#include "core/json.h"
#include "core/log.h"
#include "net/policy/event_log.h"

namespace matchlock::net::policy {
namespace {

// The cost_usd of one existing log line, 0 when it has none.
double line_cost(std::string_view line) {
  json::Document doc;
  doc.Parse(line.data(), line.size());
  if (doc.HasParseError() || !doc.IsObject()) return 0;
  auto it = doc.FindMember("cost_usd");
  if (it == doc.MemberEnd() || !it->value.IsNumber()) return 0;
  double cost = it->value.GetDouble();
  return std::isfinite(cost) && cost > 0 ? cost : 0;
}

// Adds up the spend of the log already at `fd`, reading it in bounded pieces; `unterminated`
// tells whether the last line lacks its newline (a hand-edited or cut file).
Result<double> existing_spend(int fd, const std::string& path, bool& unterminated) {
  double total = 0;
  unterminated = false;
  std::string line;
  bool skipping = false;  // inside a line over kMaxLineBytes
  char buffer[16 * 1024];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);  // O_APPEND: the offset starts at 0
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return io_error("usage log " + path + ": " + std::strerror(errno));
    if (n == 0) break;
    unterminated = buffer[n - 1] != '\n';
    for (ssize_t i = 0; i < n; ++i) {
      char c = buffer[i];
      if (c == '\n') {
        if (!skipping) total += line_cost(line);
        line.clear();
        skipping = false;
      } else if (!skipping) {
        line += c;
        if (line.size() > UsageLedger::kMaxLineBytes) skipping = true, line.clear();
      }
    }
  }
  if (!skipping) total += line_cost(line);
  return total;
}

}  // namespace

Result<std::shared_ptr<UsageLedger>> UsageLedger::open(const std::string& path) {
  auto file = AppendFile::open(path, "usage log", /*readable=*/true);
  if (!file.ok()) return file.error();
  bool unterminated = false;
  auto spent = existing_spend(file->fd(), path, unterminated);
  if (!spent.ok()) return spent.error();
  auto ledger = std::shared_ptr<UsageLedger>(new UsageLedger(std::move(file.value()), *spent));
  // New lines must stand alone, or the next reader would merge one into a cut last line.
  if (unterminated) ledger->write_line("\n");
  return ledger;
}

std::string UsageLedger::format_line(const UsageRecord& record,
                                     std::chrono::system_clock::time_point time) {
  rapidjson::StringBuffer buffer;
  json::Writer w(buffer);
  auto number = [&](const char* key, const std::optional<int64_t>& value) {
    w.Key(key);
    value ? w.Int64(*value) : w.Null();
  };
  w.StartObject();
  w.Key("ts");
  w.String(rfc3339_utc_millis(time).c_str());
  w.Key("host");
  w.String(record.host.c_str(), static_cast<rapidjson::SizeType>(record.host.size()));
  w.Key("model");
  w.String(record.model.c_str(), static_cast<rapidjson::SizeType>(record.model.size()));
  number("prompt_tokens", record.prompt_tokens);
  number("completion_tokens", record.completion_tokens);
  number("total_tokens", record.total_tokens);
  w.Key("cost_usd");
  record.cost_usd&& std::isfinite(*record.cost_usd) ? w.Double(*record.cost_usd) : w.Null();
  w.EndObject();
  return std::string(buffer.GetString(), buffer.GetSize()) + "\n";
}

void UsageLedger::record(const UsageRecord& record, std::chrono::system_clock::time_point time) {
  if (record.cost_usd && std::isfinite(*record.cost_usd) && *record.cost_usd > 0) {
    spent_usd_ += *record.cost_usd;
  }
  write_line(format_line(record, time));
}

void UsageLedger::write_line(const std::string& line) {
  file_.append(line);
}

}  // namespace matchlock::net::policy
