// SPDX-License-Identifier: Apache-2.0
// microvm's own one-line messages ("microvm: ...") on stderr, kept out of the
// middle of the guest's console lines.
//
// The guest's serial console goes to stdout, microvm's messages to stderr, and
// most of the time both are one file: a terminal, or a pipe or log that a
// supervisor (or a test) reads both from. A message written while the guest is
// half-way through a console line would split it ("PT remicrovm: ...\nady"),
// and whatever parses the console would miss the line. So while the console
// is mid-line, a message waits for the console's next newline; one that has
// waited kHoldLimit (the guest left a prompt and waits for input) goes out on
// a line of its own at the next console write or message. Where stdout and
// stderr are different files nothing waits.
//
// Thread-safe: the console is written on vCPU threads, messages come from any
// thread.
#ifndef MICROVM_BASE_MESSAGES_H_
#define MICROVM_BASE_MESSAGES_H_

#include <stdint.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/types/span.h"

namespace microvm {

// Writes "microvm: <message>\n" to stderr (see above: it may wait for the
// console's line to end).
void Message(absl::string_view message);

// The same for text already formatted as whole lines, each "microvm: ..."
// and ending in a newline (a table of several lines stays together).
void MessageLines(absl::string_view lines);

// The guest console's writer: writes all of `data` to `fd`, retrying on
// EINTR and waiting for POLLOUT on EAGAIN, and releases the messages that
// waited for the line it ends. False when `fd` failed otherwise.
bool WriteConsole(int fd, absl::Span<const uint8_t> data);

// Writes every message still waiting, after ending the console's line if it
// is mid-line. microvm calls it when the guest has stopped, before its last
// words.
void FlushMessages();

// A writer that keeps guest console bytes back before WriteConsole
// (devices/console_output.h buffers a line to write it at once). When its
// fd is the messages' file, every message first has it write what it holds,
// so a message never overtakes console text the guest wrote before it: it
// then waits for that line's end as above. A console on another file is
// left alone (a blocked one must not hold up the messages).
class HeldConsole {
 public:
  // Writes what is held through WriteConsole. Called from any thread, with
  // no MessageStream lock held.
  virtual void WriteHeld() = 0;

 protected:
  ~HeldConsole() = default;
};
// Register (with the fd it writes) before its first console write;
// unregister before destruction.
void RegisterHeldConsole(HeldConsole* console, int fd);
void UnregisterHeldConsole(HeldConsole* console);

// The logic behind the functions above, for one console fd and one message
// fd (the functions use one process-wide instance with stderr).
class MessageStream {
 public:
  static constexpr std::chrono::milliseconds kHoldLimit{1000};

  explicit MessageStream(int message_fd) : message_fd_(message_fd) {}

  void Message(absl::string_view message);
  void MessageLines(absl::string_view lines);
  bool WriteConsole(int fd, absl::Span<const uint8_t> data);
  void Flush();
  void Register(HeldConsole* console, int fd);
  void Unregister(HeldConsole* console);

 private:
  using Clock = std::chrono::steady_clock;

  // Whether `fd` is the file the messages go to (same inode; a tty, a pipe,
  // a log file). Decided at its first write.
  bool SharesMessageFile(int fd) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Writes the held messages, first ending the console's line when
  // `break_line`.
  void Release(bool break_line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Has every held console write what it holds (before mu_ is taken: their
  // writes take it).
  void WriteHeldConsoles();

  const int message_fd_;
  // Taken before a held console's own lock, which is taken before mu_.
  absl::Mutex consoles_mu_;
  std::vector<HeldConsole*> consoles_ ABSL_GUARDED_BY(consoles_mu_);
  absl::Mutex mu_;
  int console_fd_ ABSL_GUARDED_BY(mu_) = -1;
  bool console_shared_ ABSL_GUARDED_BY(mu_) = false;
  bool mid_line_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::string> held_ ABSL_GUARDED_BY(mu_);
  Clock::time_point held_since_ ABSL_GUARDED_BY(mu_);
};

}  // namespace microvm

#endif  // MICROVM_BASE_MESSAGES_H_
