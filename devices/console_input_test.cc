// SPDX-License-Identifier: Apache-2.0
#include "devices/console_input.h"

#include <fcntl.h>
#include <pty.h>
#include <stdlib.h>
#include <termios.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>

#include "base/epoll_loop.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

// Runs an EpollLoop on its own thread, as the VMM does; the test thread
// plays the vCPU.
class LoopThread {
 public:
  explicit LoopThread(EpollLoop* loop)
      : loop_(loop), thread_([this] { (void)loop_->Run(); }) {}
  ~LoopThread() {
    loop_->Stop(0);
    thread_.join();
  }

 private:
  EpollLoop* loop_;
  std::thread thread_;
};

// Reads `n` bytes the way a polling guest driver does (LSR.DR, then RBR).
std::string GuestRead(Serial& serial, size_t n) {
  std::string got;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
    uint8_t lsr = 0;
    serial.Read(5, absl::MakeSpan(&lsr, 1));
    if ((lsr & 0x01) == 0) {
      std::this_thread::sleep_for(std::chrono::microseconds(50));
      continue;
    }
    uint8_t b = 0;
    serial.Read(0, absl::MakeSpan(&b, 1));
    got.push_back(static_cast<char>(b));
  }
  return got;
}

bool WaitFor(const std::function<bool()>& cond) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!cond()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::string Pattern(size_t n) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>('!' + i % 90);
  return s;
}

void WriteAll(int fd, const std::string& s) {
  size_t done = 0;
  while (done < s.size()) {
    ssize_t n = ::write(fd, s.data() + done, s.size() - done);
    ASSERT_GT(n, 0);
    done += static_cast<size_t>(n);
  }
}

TEST(ConsoleInputTest, PipeInputReachesGuestInOrderDespiteSmallFifo) {
  auto loop = EpollLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  Serial serial(nullptr, nullptr);
  uint8_t fcr = 0x01;
  serial.Write(2, absl::MakeConstSpan(&fcr, 1));
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  // A buffer much smaller than the input forces the pause/resume path.
  auto input = ConsoleInput::Create(loop->get(), fds[0], &serial,
                                    {.buffer_size = 64});
  ASSERT_TRUE(input.ok()) << input.status();
  {
    LoopThread thread(loop->get());
    const std::string data = Pattern(20000);
    WriteAll(fds[1], data);
    EXPECT_EQ(GuestRead(serial, data.size()), data);
    EXPECT_FALSE((*input)->eof());
    ::close(fds[1]);
    EXPECT_TRUE(WaitFor([&] { return (*input)->eof(); }));
  }
  input->reset();
  ::close(fds[0]);
}

TEST(ConsoleInputTest, RegularFileIsReadOnDemandToTheEnd) {
  auto loop = EpollLoop::Create();
  ASSERT_TRUE(loop.ok());
  Serial serial(nullptr, nullptr);
  std::string path = std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR")
                                                       : "/tmp") +
                     "/console_input_XXXXXX";
  int fd = ::mkstemp(path.data());
  ASSERT_GE(fd, 0);
  ::unlink(path.c_str());
  const std::string data = Pattern(5000);
  WriteAll(fd, data);
  ASSERT_EQ(::lseek(fd, 0, SEEK_SET), 0);
  auto input =
      ConsoleInput::Create(loop->get(), fd, &serial, {.buffer_size = 100});
  ASSERT_TRUE(input.ok()) << input.status();
  {
    LoopThread thread(loop->get());
    // FIFOs off: one byte at a time through the holding register.
    EXPECT_EQ(GuestRead(serial, data.size()), data);
    EXPECT_TRUE(WaitFor([&] { return (*input)->eof(); }));
  }
  input->reset();
  ::close(fd);
}

TEST(ConsoleInputTest, TerminalIsRawWhileWatchedAndRestoredAfter) {
  int master = -1, slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  termios before{};
  ASSERT_EQ(::tcgetattr(slave, &before), 0);
  ASSERT_TRUE(before.c_lflag & ICANON);
  auto loop = EpollLoop::Create();
  ASSERT_TRUE(loop.ok());
  Serial serial(nullptr, nullptr);
  auto input = ConsoleInput::Create(loop->get(), slave, &serial);
  ASSERT_TRUE(input.ok()) << input.status();
  termios during{};
  ASSERT_EQ(::tcgetattr(slave, &during), 0);
  EXPECT_FALSE(during.c_lflag & (ICANON | ECHO | ISIG));
  EXPECT_FALSE(during.c_iflag & (ICRNL | IXON));
  EXPECT_EQ(during.c_oflag, before.c_oflag);  // output processing kept
  {
    LoopThread thread(loop->get());
    // No newline needed and ^C arrives as a byte: raw mode.
    WriteAll(master, "a\x03");
    EXPECT_EQ(GuestRead(serial, 2), "a\x03");
  }
  input->reset();
  termios after{};
  ASSERT_EQ(::tcgetattr(slave, &after), 0);
  EXPECT_EQ(after.c_lflag, before.c_lflag);
  EXPECT_EQ(after.c_iflag, before.c_iflag);
  ::close(master);
  ::close(slave);
}

TEST(ConsoleInputTest, HostSignalsOptionKeepsIsig) {
  int master = -1, slave = -1;
  ASSERT_EQ(::openpty(&master, &slave, nullptr, nullptr, nullptr), 0);
  auto loop = EpollLoop::Create();
  ASSERT_TRUE(loop.ok());
  Serial serial(nullptr, nullptr);
  auto input = ConsoleInput::Create(loop->get(), slave, &serial,
                                    {.host_signals = true});
  ASSERT_TRUE(input.ok()) << input.status();
  termios during{};
  ASSERT_EQ(::tcgetattr(slave, &during), 0);
  EXPECT_TRUE(during.c_lflag & ISIG);
  EXPECT_FALSE(during.c_lflag & ICANON);
  input->reset();
  ::close(master);
  ::close(slave);
}

TEST(ConsoleInputTest, RejectsMissingPieces) {
  auto loop = EpollLoop::Create();
  ASSERT_TRUE(loop.ok());
  Serial serial(nullptr, nullptr);
  EXPECT_EQ(ConsoleInput::Create(loop->get(), -1, &serial).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ConsoleInput::Create(loop->get(), 0, nullptr).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace microvm
