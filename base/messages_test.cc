// SPDX-License-Identifier: Apache-2.0
#include "base/messages.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <string>
#include <thread>

#include "base/unique_fd.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

struct Pipe {
  Pipe() {
    int fds[2];
    EXPECT_EQ(::pipe2(fds, O_CLOEXEC | O_NONBLOCK), 0);
    read_end = UniqueFd(fds[0]);
    write_end = UniqueFd(fds[1]);
  }
  std::string Drain() {
    std::string all;
    char buffer[4096];
    for (ssize_t n; (n = ::read(read_end.get(), buffer, sizeof(buffer))) > 0;) {
      all.append(buffer, static_cast<size_t>(n));
    }
    return all;
  }
  UniqueFd read_end, write_end;
};

bool Console(MessageStream& s, int fd, const std::string& text) {
  return s.WriteConsole(
      fd, absl::MakeConstSpan(reinterpret_cast<const uint8_t*>(text.data()),
                              text.size()));
}

// One pipe for both, as under a supervisor or a test that merges them: a
// message written mid-line waits for the line's end.
TEST(MessageStreamTest, MessageWaitsForTheConsoleLineToEnd) {
  Pipe out;
  const int fd = out.write_end.get();
  MessageStream s(fd);
  ASSERT_TRUE(Console(s, fd, "PT re"));
  s.Message("mapped 64 MiB");
  EXPECT_EQ(out.Drain(), "PT re");
  ASSERT_TRUE(Console(s, fd, "ady\nPT do"));
  EXPECT_EQ(out.Drain(), "ady\nmicrovm: mapped 64 MiB\nPT do");
  ASSERT_TRUE(Console(s, fd, "ne\n"));
  s.Message("at a line start");
  EXPECT_EQ(out.Drain(), "ne\nmicrovm: at a line start\n");
}

TEST(MessageStreamTest, SeveralMessagesWaitInOrder) {
  Pipe out;
  const int fd = out.write_end.get();
  MessageStream s(fd);
  ASSERT_TRUE(Console(s, fd, "a"));
  s.Message("one");
  s.MessageLines("microvm: stats: a\nmicrovm: stats: b\n");
  s.Message("two");
  ASSERT_TRUE(Console(s, fd, "b\n"));
  EXPECT_EQ(out.Drain(),
            "ab\nmicrovm: one\nmicrovm: stats: a\nmicrovm: stats: b\n"
            "microvm: two\n");
}

// The guest left a prompt: once the first message has waited the limit, the
// next write ends the line and lets them out.
TEST(MessageStreamTest, AMessageWaitsNoLongerThanTheLimit) {
  Pipe out;
  const int fd = out.write_end.get();
  MessageStream s(fd);
  ASSERT_TRUE(Console(s, fd, "login: "));
  s.Message("held");
  std::this_thread::sleep_for(MessageStream::kHoldLimit);
  s.Message("and this");
  EXPECT_EQ(out.Drain(), "login: \nmicrovm: held\nmicrovm: and this\n");
  ASSERT_TRUE(Console(s, fd, "r"));
  EXPECT_EQ(out.Drain(), "r");
}

TEST(MessageStreamTest, FlushEndsTheLineAndWritesWhatWaited) {
  Pipe out;
  const int fd = out.write_end.get();
  MessageStream s(fd);
  ASSERT_TRUE(Console(s, fd, "no newline"));
  s.Message("last words");
  s.Flush();
  EXPECT_EQ(out.Drain(), "no newline\nmicrovm: last words\n");
  s.Message("after");
  EXPECT_EQ(out.Drain(), "microvm: after\n");
  s.Flush();  // At a line start with nothing waiting: writes nothing.
  EXPECT_EQ(out.Drain(), "");
}

// Different files: nothing waits, nothing is added to either.
TEST(MessageStreamTest, SeparateFilesNeverWait) {
  Pipe console, messages;
  MessageStream s(messages.write_end.get());
  ASSERT_TRUE(Console(s, console.write_end.get(), "half a line"));
  s.Message("now");
  s.Flush();
  EXPECT_EQ(console.Drain(), "half a line");
  EXPECT_EQ(messages.Drain(), "microvm: now\n");
}

// The same file through another descriptor (dup, or 2>&1) is one file.
TEST(MessageStreamTest, ADuplicatedDescriptorIsTheSameFile) {
  Pipe out;
  UniqueFd dup(::fcntl(out.write_end.get(), F_DUPFD_CLOEXEC, 0));
  ASSERT_GE(dup.get(), 0);
  MessageStream s(dup.get());
  ASSERT_TRUE(Console(s, out.write_end.get(), "x"));
  s.Message("m");
  EXPECT_EQ(out.Drain(), "x");
  ASSERT_TRUE(Console(s, out.write_end.get(), "\n"));
  EXPECT_EQ(out.Drain(), "\nmicrovm: m\n");
}

TEST(MessageStreamTest, AClosedConsoleReportsFailure) {
  Pipe out;
  const int fd = out.write_end.get();
  MessageStream s(STDERR_FILENO);
  out.read_end.reset();
  ::signal(SIGPIPE, SIG_IGN);  // EPIPE, not the signal
  EXPECT_FALSE(Console(s, fd, "gone"));
}

}  // namespace
}  // namespace microvm
