// SPDX-License-Identifier: Apache-2.0
// Table-driven: each bad input must end microvm with a non-zero status and
// exactly one line on stderr that names the problem, without a crash (no
// signal), without leaking child processes (the binary creates none before
// KVM) and within a few seconds.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace {

struct Result {
  int status = -1;      // exit status, or -1
  int signal = 0;       // terminating signal, or 0
  std::string out, err;
};

std::string ReadAll(int fd) {
  std::string s;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof buf)) > 0) s.append(buf, n);
  return s;
}

std::string TmpDir() {
  const char* t = getenv("TEST_TMPDIR");
  return t ? t : "/tmp";
}

std::string WriteFile(const std::string& name, const std::string& content) {
  std::string path = TmpDir() + "/" + name;
  std::ofstream(path, std::ios::binary) << content;
  return path;
}

Result RunMicrovm(std::vector<std::string> args) {
  int out[2], err[2];
  EXPECT_EQ(pipe(out), 0);
  EXPECT_EQ(pipe(err), 0);
  pid_t pid = fork();
  if (pid == 0) {
    dup2(out[1], 1);
    dup2(err[1], 2);
    int null = open("/dev/null", O_RDONLY);
    dup2(null, 0);
    close(out[0]);
    close(err[0]);
    alarm(20);  // a hang is a failure too (SIGALRM)
    std::vector<char*> argv;
    static std::string bin = "vmm/microvm";
    argv.push_back(bin.data());
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  Result r;
  r.out = ReadAll(out[0]);
  r.err = ReadAll(err[0]);
  close(out[0]);
  close(err[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status)) r.status = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  return r;
}

struct Case {
  const char* name;
  std::vector<std::string> args;
  const char* expect;  // substring of the one stderr line
};

std::string RealKernel() {
  const char* c = getenv("MICROVM_CACHE");
  std::string path =
      std::string(c && *c ? c : "/var/tmp/microvm-cache") + "/kernel/vmlinuz";
  return path;
}

std::string Truncated(const std::string& from, size_t n, const char* name) {
  std::ifstream in(from, std::ios::binary);
  std::string data(n, '\0');
  in.read(data.data(), n);
  data.resize(in.gcount());
  return WriteFile(name, data);
}

std::vector<Case> Cases() {
  const std::string garbage = WriteFile("garbage", std::string(8192, 'x'));
  const std::string empty = WriteFile("empty", "");
  std::string header(4096, '\0');
  header[0x1fe] = 0x55;
  header[0x1ff] = static_cast<char>(0xaa);
  header.replace(0x202, 4, "HdrX");
  const std::string bad_magic = WriteFile("bad_magic", header);
  std::string old = header;
  old.replace(0x202, 4, "HdrS");
  old[0x206] = 0x02;  // protocol 2.02
  old[0x207] = 0x02;
  const std::string old_protocol = WriteFile("old_protocol", old);
  const std::string kernel = RealKernel();
  const std::string truncated = Truncated(kernel, 600 * 1024, "truncated");
  // Sparse: 100 MiB that costs no disk.
  const std::string big_initrd = WriteFile("big_initrd", "i");
  EXPECT_EQ(truncate(big_initrd.c_str(), 100 << 20), 0);
  return {
      {"no kernel", {}, "--kernel"},
      {"missing kernel", {"--kernel=/nonexistent/bzImage"}, "/nonexistent/bzImage"},
      {"kernel is a directory", {"--kernel=/"}, "not a regular file"},
      {"empty kernel", {"--kernel=" + empty}, "empty"},
      {"garbage kernel", {"--kernel=" + garbage}, "garbage"},
      {"bad bzImage magic", {"--kernel=" + bad_magic}, "bad_magic"},
      {"old boot protocol", {"--kernel=" + old_protocol}, "2.12"},
      {"truncated bzImage", {"--kernel=" + truncated}, "truncated"},
      {"missing initrd", {"--kernel=" + kernel, "--initrd=/nonexistent/initrd"},
       "/nonexistent/initrd"},
      {"initrd larger than memory",
       {"--kernel=" + kernel, "--initrd=" + big_initrd, "--mem=128"}, "initrd"},
      {"memory zero", {"--kernel=" + kernel, "--mem=0"}, "--mem"},
      {"memory too small", {"--kernel=" + kernel, "--mem=8"}, "--mem"},
      {"memory too large", {"--kernel=" + kernel, "--mem=99999999"}, "--mem"},
      {"memory not a number", {"--kernel=" + kernel, "--mem=lots"}, "mem"},
      {"negative memory", {"--kernel=" + kernel, "--mem=-5"}, "--mem"},
      {"zero cpus", {"--kernel=" + kernel, "--cpus=0"}, "--cpus"},
      {"too many cpus", {"--kernel=" + kernel, "--cpus=100000"}, "--cpus"},
      {"cpus not a number", {"--kernel=" + kernel, "--cpus=two"}, "cpus"},
      {"malformed PCI address", {"--kernel=" + kernel, "--vfio=01:00"}, "PCI address"},
      {"PCI function out of range", {"--kernel=" + kernel, "--vfio=0000:01:00.9"},
       "PCI address"},
      {"PCI device out of range", {"--kernel=" + kernel, "--vfio=0000:01:3f.0"},
       "PCI address"},
      {"duplicate PCI address",
       {"--kernel=" + kernel, "--vfio=01:00.0", "--vfio=0000:01:00.0"}, "twice"},
      {"unknown flag", {"--kernel=" + kernel, "--bogus=1"}, "bogus"},
      {"bad --on_reboot", {"--kernel=" + kernel, "--on_reboot=again"},
       "--on_reboot=again: use exit"},
      {"bad --dma_map", {"--kernel=" + kernel, "--dma_map=lazy"},
       "--dma_map=lazy: use overlap"},
      {"stray argument", {"--kernel=" + kernel, "extra"}, "extra"},
      {"cmdline too long", {"--kernel=" + kernel, "--cmdline=" + std::string(70000, 'a')},
       "command line"},
      {"no KVM device", {"--kernel=" + kernel, "--kvm_device=/nonexistent/kvm"},
       "does not exist"},
      {"not a KVM device", {"--kernel=" + kernel, "--kvm_device=/dev/null"},
       "not a KVM device"},
  };
}

TEST(BadInputTest, EveryCaseFailsWithOneClearLine) {
  struct stat st;
  ASSERT_EQ(stat(RealKernel().c_str(), &st), 0)
      << RealKernel() << " is missing: run tools/setup.sh";
  std::vector<Case> cases = Cases();
  EXPECT_GE(cases.size(), 25u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Result r = RunMicrovm(c.args);
    EXPECT_EQ(r.signal, 0) << "killed by signal " << r.signal;
    EXPECT_NE(r.status, 0);
    EXPECT_NE(r.status, 127) << "could not run vmm/microvm";
    std::vector<std::string> lines =
        absl::StrSplit(r.err, '\n', absl::SkipEmpty());
    EXPECT_EQ(lines.size(), 1u) << "stderr:\n" << r.err;
    EXPECT_NE(r.err.find(c.expect), std::string::npos)
        << "expected '" << c.expect << "' in: " << r.err;
    EXPECT_EQ(r.out, "");
  }
}

TEST(BadInputTest, HelpListsEveryMicrovmFlagWithItsDefault) {
  for (const char* form : {"--help", "-h"}) {
    Result r = RunMicrovm({form});
    EXPECT_EQ(r.signal, 0) << form;
    EXPECT_EQ(r.status, 0) << form << ": " << r.err;
    EXPECT_EQ(r.err, "") << form;
    EXPECT_EQ(r.out.rfind("microvm ", 0), 0u) << r.out;
    // Every flag vmm/main.cc defines, with its default.
    for (const char* flag :
         {"--kernel=\"\"\n", "--initrd=\"\"\n", "--cmdline=\"console=ttyS0",
          "--mem=256\n", "--cpus=1\n", "--hugepages=false\n",
          "--pci_test_device=false\n", "--vfio=\"\"\n", "--vfio_intx=\"irqfd\"\n",
          "--vfio_mmap=true\n", "--dma_map=\"overlap\"\n",
          "--kvm_device=\"/dev/kvm\"\n",
          "--boot_timer=false\n", "--stats=false\n", "--stats_json=\"\"\n",
          "--shutdown_timeout=10\n", "--on_reboot=\"exit\"\n",
          "--cpu_affinity=\"\"\n",
          "--halt_poll_ns=-1\n", "--disable_exits=\"\"\n",
          "--seccomp=\"enforce\"\n", "--user=\"\"\n", "--help\n",
          "--version\n"}) {
      EXPECT_NE(r.out.find(std::string("\n  ") + flag), std::string::npos)
          << form << " does not list " << flag << " in:\n" << r.out;
    }
    // Library flags (Abseil's, e.g. --flagfile, --fromenv) stay out.
    for (const char* library : {"--flagfile", "--fromenv", "--helpfull",
                                "--tryfromenv", "--undefok"}) {
      EXPECT_EQ(r.out.find(std::string("\n  ") + library), std::string::npos)
          << library << " listed in:\n" << r.out;
    }
    // Each meaning is on its own indented lines under the flag.
    for (absl::string_view line : absl::StrSplit(r.out, '\n')) {
      EXPECT_LE(line.size(), 90u) << line;
    }
  }
}

TEST(BadInputTest, VersionSaysVersionCommitAndBuild) {
  for (const char* form : {"--version", "-V"}) {
    Result r = RunMicrovm({form});
    EXPECT_EQ(r.signal, 0) << form;
    EXPECT_EQ(r.status, 0) << form << ": " << r.err;
    std::vector<std::string> lines =
        absl::StrSplit(r.out, '\n', absl::SkipEmpty());
    ASSERT_GE(lines.size(), 3u) << r.out;
    std::string version;
    std::ifstream("VERSION") >> version;
    ASSERT_FALSE(version.empty()) << "VERSION not in the runfiles";
    EXPECT_EQ(lines[0], "microvm " + version);
    EXPECT_EQ(lines[1].rfind("commit: ", 0), 0u) << r.out;
    EXPECT_TRUE(lines[2].rfind("build: opt, ", 0) == 0 ||
                lines[2].rfind("build: fastbuild, ", 0) == 0 ||
                lines[2].rfind("build: dbg, ", 0) == 0)
        << r.out;
  }
}

}  // namespace
