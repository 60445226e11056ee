// SPDX-License-Identifier: Apache-2.0
// Tests of the microvm command line as a user runs it: vmm/microvm_static as
// a child process with the tiny guests, checking its exit status, stdout (the
// guest's serial console) and stderr.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr char kMicrovm[] = "vmm/microvm_static";
constexpr int kTimeoutSeconds = 60;

struct Result {
  int exit_status = -1;  // WEXITSTATUS, or -1 if killed by a signal
  int signal = 0;
  bool timed_out = false;
  std::string out;  // CR LF turned into LF
  std::string err;
};

double Now() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

// Runs microvm with `args`, writes `input` to its stdin (then closes it),
// collects stdout and stderr, and kills it after kTimeoutSeconds.
Result RunMicrovm(const std::vector<std::string>& args,
                  const std::string& input = "") {
  Result r;
  int in[2], out[2], err[2];
  if (pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
    ADD_FAILURE() << "pipe2: " << strerror(errno);
    return r;
  }
  std::vector<std::string> argv_s = {kMicrovm};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : argv_s) argv.push_back(a.data());
  argv.push_back(nullptr);

  pid_t pid = fork();
  if (pid == 0) {
    dup2(in[0], STDIN_FILENO);
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    execv(kMicrovm, argv.data());
    dprintf(STDERR_FILENO, "execv %s: %s\n", kMicrovm, strerror(errno));
    _exit(127);
  }
  close(in[0]);
  close(out[1]);
  close(err[1]);
  if (pid < 0) {
    ADD_FAILURE() << "fork: " << strerror(errno);
    close(in[1]);
    close(out[0]);
    close(err[0]);
    return r;
  }
  // The input fits in the pipe buffer; stdin stays open while microvm runs
  // (EOF on the console is not the point of these tests).
  if (!input.empty()) {
    EXPECT_EQ(write(in[1], input.data(), input.size()),
              static_cast<ssize_t>(input.size()));
  }

  const double deadline = Now() + kTimeoutSeconds;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  std::string* sinks[2] = {&r.out, &r.err};
  int open_fds = 2;
  while (open_fds > 0) {
    int wait_ms = static_cast<int>((deadline - Now()) * 1000);
    if (wait_ms <= 0) {
      r.timed_out = true;
      kill(pid, SIGKILL);
      break;
    }
    int n = poll(fds, 2, wait_ms);
    if (n < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; i++) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) {
        continue;
      }
      char buf[4096];
      ssize_t got = read(fds[i].fd, buf, sizeof(buf));
      if (got > 0) {
        sinks[i]->append(buf, static_cast<size_t>(got));
      } else {
        close(fds[i].fd);
        fds[i].fd = -1;
        open_fds--;
      }
    }
  }
  for (pollfd& p : fds) {
    if (p.fd >= 0) close(p.fd);
  }
  close(in[1]);
  int status = 0;
  if (r.timed_out) {
    waitpid(pid, &status, 0);
  } else {
    // Output closed: microvm is exiting; give it the rest of the budget.
    while (waitpid(pid, &status, WNOHANG) == 0) {
      if (Now() > deadline) {
        r.timed_out = true;
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        break;
      }
      usleep(10000);
    }
  }
  if (WIFEXITED(status)) {
    r.exit_status = WEXITSTATUS(status);
  } else if (WIFSIGNALED(status)) {
    r.signal = WTERMSIG(status);
  }
  r.out = absl::StrReplaceAll(r.out, {{"\r", ""}});
  return r;
}

std::vector<std::string> GuestArgs(const std::string& guest, int cpus = 1) {
  return {"--kernel", "tests/guests/" + guest + ".elf", "--mem", "64",
          "--cpus", absl::StrCat(cpus)};
}

std::string Describe(const Result& r) {
  return absl::StrCat("exit status ", r.exit_status, ", signal ", r.signal,
                      r.timed_out ? ", TIMED OUT" : "", "\n--- stdout:\n",
                      r.out, "--- stderr:\n", r.err);
}

// stderr holds exactly one non-empty line.
void ExpectOneLine(const std::string& err) {
  std::vector<std::string> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(err), '\n');
  EXPECT_EQ(lines.size(), 1u) << "stderr:\n" << err;
  EXPECT_FALSE(lines.empty() || lines[0].empty()) << "stderr is empty";
}

TEST(CliTest, HelloExitsZeroWithGuestOutput) {
  Result r = RunMicrovm(GuestArgs("hello"));
  EXPECT_EQ(r.exit_status, 0) << Describe(r);
  EXPECT_EQ(r.out, "Hello from a microvm guest\n") << Describe(r);
}

TEST(CliTest, PowerOffExitsZero) {
  Result r = RunMicrovm(GuestArgs("poweroff"));
  EXPECT_EQ(r.exit_status, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("poweroff: writing S5 to port 0x3c0\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("FAIL")));
}

TEST(CliTest, ResetExitsZero) {
  Result r = RunMicrovm(GuestArgs("reset"));
  EXPECT_EQ(r.exit_status, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("reset: writing 0xfe to port 0x64\n"));
  EXPECT_THAT(r.out, Not(HasSubstr("FAIL")));
}

TEST(CliTest, BootTimerReportsVcpuStartAndGuestMarkers) {
  std::vector<std::string> args = GuestArgs("boot_marker");
  args.push_back("--boot_timer");
  Result r = RunMicrovm(args);
  EXPECT_EQ(r.exit_status, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("boot_marker: wrote 123 and 42\n"));
  std::vector<std::string> lines =
      absl::StrSplit(absl::StripTrailingAsciiWhitespace(r.err), '\n');
  ASSERT_EQ(lines.size(), 3u) << Describe(r);
  EXPECT_THAT(lines[0], HasSubstr("boot timer: vCPUs start at "));
  EXPECT_THAT(lines[1], HasSubstr("guest marker 123 (init) at "));
  EXPECT_THAT(lines[2], HasSubstr("guest marker 42 at "));
  // Without the flag the page is not there: the guest's writes go nowhere
  // and nothing is reported.
  Result quiet = RunMicrovm(GuestArgs("boot_marker"));
  EXPECT_EQ(quiet.exit_status, 0) << Describe(quiet);
  EXPECT_THAT(quiet.err, Not(HasSubstr("boot timer"))) << Describe(quiet);
}

TEST(CliTest, TripleFaultFailsWithOneClearLine) {
  Result r = RunMicrovm(GuestArgs("triple_fault"));
  EXPECT_FALSE(r.timed_out) << Describe(r);
  EXPECT_NE(r.exit_status, 0) << Describe(r);
  EXPECT_EQ(r.signal, 0) << "microvm must fail with a status, not crash\n"
                         << Describe(r);
  ExpectOneLine(r.err);
  std::string err = absl::AsciiStrToLower(r.err);
  EXPECT_TRUE(absl::StrContains(err, "triple fault") ||
              absl::StrContains(err, "shutdown"))
      << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("triple_fault: loading an empty IDT"));
}

TEST(CliTest, MissingKernelFailsWithOneClearLine) {
  Result r = RunMicrovm({"--kernel", "tests/guests/no-such-guest.elf", "--mem",
                         "64"});
  EXPECT_NE(r.exit_status, 0) << Describe(r);
  EXPECT_EQ(r.signal, 0) << Describe(r);
  ExpectOneLine(r.err);
  EXPECT_THAT(r.err, HasSubstr("no-such-guest.elf")) << Describe(r);
}

TEST(CliTest, StdinReachesTheGuestSerialPort) {
  Result r = RunMicrovm(GuestArgs("serial_irq"), "typed on stdin\n");
  EXPECT_EQ(r.exit_status, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("echo: typed on stdin\n")) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("PASS serial_irq\n")) << Describe(r);
}

TEST(CliTest, SmpGuestSeesEveryCpu) {
  Result r = RunMicrovm(GuestArgs("smp", 2));
  EXPECT_EQ(r.exit_status, 0) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("smp: cpus=2 online=2\n")) << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("PASS smp\n")) << Describe(r);
}

}  // namespace
}  // namespace microvm
