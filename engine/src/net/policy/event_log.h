// The event log: every policy decision and plugin event as one JSON line in a file the user
// reads, greps or ships elsewhere (schema: rpc-schema/event-log.schema.json).
//
// Threat model. Much of what an event says comes from the guest (host names, SNI, reasons
// quoting them), so a line is built to stay one well-formed line whatever the guest sends:
// every string is JSON-escaped (control characters, NUL) and invalid UTF-8 becomes U+FFFD;
// strings, tags and data fields are capped and the whole line is bounded (kMaxLineBytes), so a
// flood of huge names cannot grow lines without limit. The file is opened O_APPEND and each
// line goes out in one write(2), so lines from several writers never interleave. The log is
// an observer: a failing write is reported once on stderr and never stops the sandbox.
// Producers must not put secret values into events (secret_injector.h names secrets only);
// this file cannot tell a value from any other string.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "core/append_file.h"
#include "core/result.h"
#include "net/policy/event_sink.h"

namespace matchlock::net::policy {

// Who is writing: the same for every line of one run.
struct EventLogIdentity {
  std::string run_id;        // the sandbox / run this log belongs to
  std::string agent_system;  // the agent harness that drives it ("" when unknown)
};

class EventLog : public EventSink {
 public:
  // Caps in bytes of escaped JSON text; a cut string ends in "…". Data fields that would
  // overflow the line are dropped and "truncated": true is added to `data`.
  static constexpr size_t kMaxLineBytes = 16 * 1024;  // newline included
  static constexpr size_t kMaxIdentityBytes = 256;    // run_id, agent_system, plugin
  static constexpr size_t kMaxSummaryBytes = 1024;
  static constexpr size_t kMaxTags = 16;
  static constexpr size_t kMaxTagBytes = 64;
  static constexpr size_t kMaxDataFields = 32;
  static constexpr size_t kMaxDataKeyBytes = 64;
  static constexpr size_t kMaxDataStringBytes = 1024;

  // Creates the file (mode 0600) when missing and appends to it. kIo when it cannot be opened.
  static Result<std::unique_ptr<EventLog>> open(const std::string& path, EventLogIdentity identity);

  // A pipeline decision becomes a gate_decision / route_decision / request_transform /
  // response_transform event with data {host, allowed, reason}.
  void on_decision(const PolicyEvent& event) override;
  void on_event(const Event& event) override;

  // The line for `event` at `time`, newline included, never longer than kMaxLineBytes.
  std::string format_line(const Event& event, std::chrono::system_clock::time_point time) const;

  // Lines that could not be written (fully) since the log was opened.
  size_t failed_writes() const { return file_.failed_writes(); }

 private:
  EventLog(AppendFile file, EventLogIdentity identity)
      : file_(std::move(file)), identity_(std::move(identity)) {}
  void write_line(const std::string& line);

  AppendFile file_;
  EventLogIdentity identity_;
};

// The structured form of a pipeline decision (what on_decision writes).
Event decision_event(const PolicyEvent& decision);

// RFC 3339 UTC with milliseconds: "2026-12-03T08:26:31.042Z".
std::string rfc3339_utc_millis(std::chrono::system_clock::time_point time);

}  // namespace matchlock::net::policy
