// SPDX-License-Identifier: Apache-2.0
#include "devices/console_output.h"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "base/epoll_loop.h"
#include "base/messages.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

class ConsoleOutputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_EQ(::pipe2(fds_, O_NONBLOCK | O_CLOEXEC), 0);
    absl::StatusOr<std::unique_ptr<EpollLoop>> loop = EpollLoop::Create();
    ASSERT_TRUE(loop.ok()) << loop.status();
    loop_ = std::move(*loop);
  }
  void TearDown() override {
    ::close(fds_[0]);
    ::close(fds_[1]);
  }
  void Put(ConsoleOutput& out, const std::string& text) {
    for (char c : text) {  // one byte a port write, as a guest does
      const uint8_t b = static_cast<uint8_t>(c);
      out.Write(absl::MakeConstSpan(&b, 1));
    }
  }
  // What the pipe holds now ("" when nothing).
  std::string Drain() {
    std::string got;
    char buf[8192];
    ssize_t n;
    while ((n = ::read(fds_[0], buf, sizeof(buf))) > 0) got.append(buf, n);
    return got;
  }

  int fds_[2];
  std::unique_ptr<EpollLoop> loop_;
};

// A line goes out whole, in one write, once the guest ends it; the bytes
// before that are held.
TEST_F(ConsoleOutputTest, HoldsALineUntilItsNewline) {
  absl::StatusOr<std::unique_ptr<ConsoleOutput>> out =
      ConsoleOutput::Create(loop_.get(), fds_[1]);
  ASSERT_TRUE(out.ok()) << out.status();
  Put(**out, "hello");
  EXPECT_EQ(Drain(), "");
  Put(**out, " world\nnext");
  EXPECT_EQ(Drain(), "hello world\n");
  // The rest goes out when the console is destroyed.
  out->reset();
  EXPECT_EQ(Drain(), "next");
}

// A line the guest leaves open (a prompt) goes out on the loop's timer.
TEST_F(ConsoleOutputTest, WritesAnOpenLineAfterTheDelay) {
  absl::StatusOr<std::unique_ptr<ConsoleOutput>> out =
      ConsoleOutput::Create(loop_.get(), fds_[1]);
  ASSERT_TRUE(out.ok()) << out.status();
  std::thread loop([this] { (void)loop_->Run(); });
  Put(**out, "login: ");
  std::string got;
  for (int i = 0; i < 20000 && got.size() < 7; ++i) {
    got += Drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(got, "login: ");
  // And again for the next open line (the timer re-arms).
  Put(**out, "x");
  got.clear();
  for (int i = 0; i < 20000 && got.empty(); ++i) {
    got += Drain();
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  EXPECT_EQ(got, "x");
  loop_->Stop(0);
  loop.join();
}

// However long the line, no more than kMaxHeld bytes wait.
TEST_F(ConsoleOutputTest, WritesWhenTooMuchIsHeld) {
  absl::StatusOr<std::unique_ptr<ConsoleOutput>> out =
      ConsoleOutput::Create(loop_.get(), fds_[1]);
  ASSERT_TRUE(out.ok()) << out.status();
  const std::string line(ConsoleOutput::kMaxHeld - 1, 'a');
  (*out)->Write(absl::MakeConstSpan(
      reinterpret_cast<const uint8_t*>(line.data()), line.size()));
  EXPECT_EQ(Drain(), "");
  Put(**out, "b");
  EXPECT_EQ(Drain(), line + "b");
}

// microvm's messages never overtake the guest's text: a message written
// while a line is held has the line's start written first and then waits
// for its end (console and messages are one pipe here, as in a log).
TEST_F(ConsoleOutputTest, MessagesComeAfterTheTextBeforeThem) {
  const int saved = ::dup(STDERR_FILENO);
  ASSERT_GE(saved, 0);
  ASSERT_GE(::dup2(fds_[1], STDERR_FILENO), 0);
  // An fd number no other test here wrote to: messages.h decides whether a
  // console shares stderr's file at the first write to that number.
  constexpr int kConsoleFd = 100;
  ASSERT_EQ(::dup2(fds_[1], kConsoleFd), kConsoleFd);
  {
    absl::StatusOr<std::unique_ptr<ConsoleOutput>> out =
        ConsoleOutput::Create(loop_.get(), kConsoleFd);
    ASSERT_TRUE(out.ok()) << out.status();
    Put(**out, "booting");
    Message("guest marker");
    Put(**out, " done\n");
  }
  FlushMessages();
  ::close(kConsoleFd);
  ::dup2(saved, STDERR_FILENO);
  ::close(saved);
  EXPECT_EQ(Drain(), "booting done\nmicrovm: guest marker\n");
}

// A console on another file than the messages is left alone by them: its
// open line stays held (a blocked console must not hold up a message).
TEST_F(ConsoleOutputTest, MessagesLeaveAnotherFilesConsoleAlone) {
  absl::StatusOr<std::unique_ptr<ConsoleOutput>> out =
      ConsoleOutput::Create(loop_.get(), fds_[1]);
  ASSERT_TRUE(out.ok()) << out.status();
  Put(**out, "prompt> ");
  Message("a message to the test's own stderr");
  EXPECT_EQ(Drain(), "");
  out->reset();
  EXPECT_EQ(Drain(), "prompt> ");
}

}  // namespace
}  // namespace microvm
