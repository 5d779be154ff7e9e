#include "sandbox/exec.h"

#include "guest_client/guest_connection.h"

namespace matchlock::sandbox {

ExecHandle::ExecHandle(std::shared_ptr<guest_client::ExecHandle> process)
    : process_(std::move(process)) {}

ExecHandle::~ExecHandle() = default;

void ExecHandle::write_stdin(std::string bytes) {
  if (process_) process_->write_stdin(std::move(bytes));
}

void ExecHandle::close_stdin() {
  if (process_) process_->close_stdin();
}

void ExecHandle::resize(uint16_t rows, uint16_t cols) {
  if (process_) process_->resize(rows, cols);
}

void ExecHandle::signal(int signo) {
  if (process_) process_->signal(signo);
}

void ExecHandle::cancel(uint32_t grace_ms) {
  if (process_) process_->cancel(grace_ms);
}

size_t ExecHandle::stdin_backlog() const {
  return process_ ? process_->stdin_backlog() : 0;
}

void ExecHandle::set_on_stdin_drained(std::function<void()> fn) {
  if (process_) process_->set_on_stdin_drained(std::move(fn));
}

bool ExecHandle::finished() const {
  return !process_ || process_->finished();
}

}  // namespace matchlock::sandbox
