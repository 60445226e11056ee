// SPDX-License-Identifier: Apache-2.0
#include "vmm/sandbox/seccomp.h"

#include <fcntl.h>
#include <malloc.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/kvm.h>
#include <linux/seccomp.h>
#include <seccomp.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <mutex>

#include "absl/base/internal/sysinfo.h"
#include "absl/strings/str_cat.h"
#include "base/status.h"
#include "base/unique_fd.h"

namespace microvm::sandbox {
namespace {

// System call names for the SIGSYS line, resolved once while building (the
// handler may not allocate).
constexpr int kMaxSyscall = 512;
const char* g_syscall_names[kMaxSyscall];
std::once_flag g_names_once;

// si_code of a filter's trap (SYS_SECCOMP in <asm-generic/siginfo.h>, which
// cannot be included beside glibc's <signal.h>).
constexpr int kSysSeccomp = 1;

// The installing thread's name, for the SIGSYS line.
thread_local char t_thread_name[16];

// Async-signal-safe formatting into a fixed buffer.
struct Line {
  char text[320];
  size_t len = 0;
  void Add(const char* s) {
    while (*s != '\0' && len < sizeof(text) - 1) text[len++] = *s++;
  }
  void Number(uint64_t v, int base) {
    char digits[24];
    int n = 0;
    do {
      digits[n++] = "0123456789abcdef"[v % base];
      v /= base;
    } while (v != 0);
    if (base == 16) Add("0x");
    while (n > 0 && len < sizeof(text) - 1) text[len++] = digits[--n];
  }
};

void OnSigsys(int, siginfo_t* info, void* context) {
  // Only the filter's trap is ours: a SIGSYS sent by kill() is ignored.
  if (info->si_code != kSysSeccomp) return;
  const int nr = info->si_syscall;
  Line line;
  line.Add("microvm: the sandbox stopped the ");
  line.Add(t_thread_name[0] != '\0' ? t_thread_name : "?");
  line.Add(" thread: system call ");
  line.Add(nr >= 0 && nr < kMaxSyscall && g_syscall_names[nr] != nullptr
               ? g_syscall_names[nr]
               : "?");
  line.Add(" (");
  line.Number(static_cast<uint64_t>(nr), 10);
  line.Add(")");
  const auto* uc = static_cast<const ucontext_t*>(context);
  if (nr == SYS_ioctl) {
    line.Add(" with request ");
    line.Number(static_cast<uint64_t>(uc->uc_mcontext.gregs[REG_RSI]), 16);
  } else if (nr == SYS_openat || nr == SYS_open) {
    // The path says who wanted the file (a library, usually).
    const char* path = reinterpret_cast<const char*>(
        uc->uc_mcontext.gregs[nr == SYS_open ? REG_RDI : REG_RSI]);
    if (path != nullptr) {
      char shown[96];
      size_t n = 0;
      while (n < sizeof(shown) - 1 && path[n] != '\0') {
        shown[n] = path[n];
        ++n;
      }
      shown[n] = '\0';
      line.Add(" of ");
      line.Add(shown);
    }
  }
  line.Add(
      " is not in its seccomp filter (vmm/sandbox/seccomp_policy.cc): a bug "
      "in microvm or a guest exploiting one; run with --seccomp=log to see "
      "every call missing, and report it\n");
  // Nothing to do if stderr is gone: microvm ends either way.
  const ssize_t written = ::write(STDERR_FILENO, line.text, line.len);
  (void)written;
  ::syscall(SYS_exit_group, 1);
}

absl::Status InstallSigsysHandler() {
  struct sigaction sa {};
  sa.sa_sigaction = OnSigsys;
  sa.sa_flags = SA_SIGINFO;
  sigemptyset(&sa.sa_mask);
  if (::sigaction(SIGSYS, &sa, nullptr) != 0) {
    return LastErrnoError("installing the SIGSYS handler of the sandbox");
  }
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGSYS);
  ::pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  return absl::OkStatus();
}

void ResolveSyscallNames() {
  std::call_once(g_names_once, [] {
    for (int nr = 0; nr < kMaxSyscall; ++nr) {
      // Kept for the process's life: the handler reads them.
      g_syscall_names[nr] =
          seccomp_syscall_resolve_num_arch(SCMP_ARCH_NATIVE, nr);
    }
  });
}

// libseccomp's errors are negative errnos.
absl::Status SeccompError(int rc, absl::string_view what) {
  return ErrnoError(-rc, absl::StrCat("seccomp: ", what));
}

// A vCPU thread's hot call is ioctl(KVM_RUN), once per exit: these seven
// instructions allow it before libseccomp's program runs (which tests the
// architecture, then walks its tree to the ioctl's request). Anything else
// (another architecture, call or request) falls through to that program
// unchanged. The request is compared as the kernel reads it, an unsigned
// int: the low half of the second argument.
std::vector<sock_filter> WithKvmRunFirst(std::vector<sock_filter> program) {
  constexpr uint32_t kArch = offsetof(seccomp_data, arch);
  constexpr uint32_t kNr = offsetof(seccomp_data, nr);
  constexpr uint32_t kRequestLow = offsetof(seccomp_data, args) + sizeof(uint64_t);
  const std::vector<sock_filter> prefix = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kArch),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 0, 5),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kNr),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, __NR_ioctl, 0, 3),
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, kRequestLow),
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, KVM_RUN, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
      // libseccomp's program starts here: every "no" above jumps to it.
  };
  program.insert(program.begin(), prefix.begin(), prefix.end());
  return program;
}

absl::StatusOr<std::vector<sock_filter>> Compile(
    ThreadKind kind, SeccompMode mode, const PolicyOptions& options) {
  scmp_filter_ctx ctx = seccomp_init(
      mode == SeccompMode::kLog ? SCMP_ACT_LOG : SCMP_ACT_TRAP);
  if (ctx == nullptr) {
    return absl::InternalError("seccomp: libseccomp's seccomp_init failed");
  }
  struct Release {
    scmp_filter_ctx ctx;
    ~Release() { seccomp_release(ctx); }
  } release{ctx};
  // Installed with a system call of its own (Install), not seccomp_load.
  (void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_NNP, 0);
  // A call made through another architecture's entry (int 0x80, x32) has
  // other numbers: the process ends, whatever the mode.
  if (int rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
                                SCMP_ACT_KILL_PROCESS);
      rc != 0) {
    return SeccompError(rc, "setting the action for foreign system calls");
  }
  for (const Rule& r : RulesFor(kind, options)) {
    uint32_t action = SCMP_ACT_ALLOW;
    scmp_arg_cmp cmp[2];
    unsigned count = 0;
    switch (r.check) {
      case ArgCheck::kAny:
        break;
      case ArgCheck::kIoctl:
        // The kernel sees the request as an unsigned int.
        cmp[count++] = SCMP_A1(SCMP_CMP_MASKED_EQ, 0xffffffffu, r.value);
        break;
      case ArgCheck::kNoExec:
        cmp[count++] = SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0);
        break;
      case ArgCheck::kThread:
        cmp[count++] =
            SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD);
        break;
      case ArgCheck::kOption:
        cmp[count++] = SCMP_A0(SCMP_CMP_EQ, r.value);
        break;
      case ArgCheck::kFilterNoFlags:
        cmp[count++] = SCMP_A0(SCMP_CMP_EQ, SECCOMP_SET_MODE_FILTER);
        cmp[count++] = SCMP_A1(SCMP_CMP_EQ, 0);
        break;
      case ArgCheck::kOwnProcess:
        cmp[count++] = SCMP_A0(SCMP_CMP_EQ, static_cast<uint64_t>(::getpid()));
        break;
      case ArgCheck::kFailNoSys:
        action = SCMP_ACT_ERRNO(ENOSYS);
        break;
    }
    const int rc = seccomp_rule_add_array(ctx, action, static_cast<int>(r.nr),
                                          count, cmp);
    // -EEXIST: the same entry again (a sanitizer's list repeats some).
    if (rc != 0 && rc != -EEXIST) {
      return SeccompError(rc, absl::StrCat("adding ", r.name, " to the ",
                                           ThreadKindName(kind), " filter"));
    }
  }
  // libseccomp 2.5 writes the program to an fd only.
  UniqueFd fd(::memfd_create("microvm-seccomp", MFD_CLOEXEC));
  if (!fd.valid()) return LastErrnoError("seccomp: memfd_create");
  if (int rc = seccomp_export_bpf(ctx, fd.get()); rc != 0) {
    return SeccompError(rc, "compiling the filter");
  }
  const off_t size = ::lseek(fd.get(), 0, SEEK_END);
  if (size <= 0 || size % sizeof(sock_filter) != 0) {
    return absl::InternalError("seccomp: the compiled filter is malformed");
  }
  std::vector<sock_filter> program(static_cast<size_t>(size) /
                                   sizeof(sock_filter));
  if (::pread(fd.get(), program.data(), static_cast<size_t>(size), 0) !=
      size) {
    return LastErrnoError("seccomp: reading the compiled filter");
  }
  if (kind == ThreadKind::kVcpu) return WithKvmRunFirst(std::move(program));
  return program;
}

}  // namespace

absl::StatusOr<SeccompMode> ParseSeccompMode(absl::string_view text) {
  if (text == "enforce") return SeccompMode::kEnforce;
  if (text == "log") return SeccompMode::kLog;
  if (text == "off") return SeccompMode::kOff;
  return absl::InvalidArgumentError(absl::StrCat(
      "--seccomp=", text,
      ": use enforce (a call outside a thread's list ends microvm), log (it "
      "is let through and the kernel logs it) or off"));
}

SeccompMode DefaultSeccompMode() {
  const char* env = std::getenv("MICROVM_SECCOMP");
  if (env == nullptr) return SeccompMode::kEnforce;
  absl::StatusOr<SeccompMode> mode = ParseSeccompMode(env);
  return mode.ok() ? *mode : SeccompMode::kEnforce;
}

absl::StatusOr<std::unique_ptr<SeccompFilters>> SeccompFilters::Build(
    SeccompMode mode, const PolicyOptions& options) {
  std::unique_ptr<SeccompFilters> f(new SeccompFilters(mode));
  if (mode == SeccompMode::kOff) return f;
  ResolveSyscallNames();
  // What libraries read from files once, lazily, done now: Abseil's mutex
  // asks glibc for the CPU count (/sys/devices/system/cpu/online) at its
  // first contention, and its cycle clock reads the TSC frequency
  // (/sys/devices/system/cpu/cpu0/tsc_freq_khz, else /proc/cpuinfo) when a
  // timed wait first needs it: both may come long after the filters are in.
  // glibc's malloc too: a thread's heap that shrinks reads
  // /proc/sys/vm/overcommit_memory the first time; it never shrinks below the
  // trim threshold, so none does (a guest could otherwise make a vCPU
  // free enough, e.g. by unmasking a thousand MSI-X vectors).
  (void)absl::base_internal::NumCPUs();
  (void)absl::base_internal::NominalCPUFrequency();
  (void)::mallopt(M_TRIM_THRESHOLD, std::numeric_limits<int>::max());
  for (ThreadKind kind :
       {ThreadKind::kVmm, ThreadKind::kVcpu, ThreadKind::kDma}) {
    MVM_ASSIGN_OR_RETURN(f->programs_[static_cast<int>(kind)],
                         Compile(kind, mode, options));
  }
  if (mode == SeccompMode::kEnforce) {
    MVM_RETURN_IF_ERROR(InstallSigsysHandler());
  }
  return f;
}

absl::Status SeccompFilters::Install(ThreadKind kind,
                                     absl::string_view name) const {
  if (mode_ == SeccompMode::kOff) return absl::OkStatus();
  const size_t n = std::min(name.size(), sizeof(t_thread_name) - 1);
  std::memcpy(t_thread_name, name.data(), n);
  t_thread_name[n] = '\0';
  const char* hook = std::getenv("MICROVM_TEST_FORBIDDEN_CALL");
  const bool forbidden_call = hook != nullptr && ThreadKindName(kind) == hook;
  const std::vector<sock_filter>& program = programs_[static_cast<int>(kind)];
  sock_fprog prog = {};
  prog.len = static_cast<unsigned short>(program.size());
  prog.filter = const_cast<sock_filter*>(program.data());
  if (::prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return LastErrnoError(
        absl::StrCat("seccomp: PR_SET_NO_NEW_PRIVS on thread ", name));
  }
  if (::syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
    return LastErrnoError(absl::StrCat(
        "seccomp: installing the ", ThreadKindName(kind), " filter on thread ",
        name, " (a kernel without CONFIG_SECCOMP_FILTER? --seccomp=off runs "
        "without the sandbox)"));
  }
  if (forbidden_call) (void)::socket(AF_INET, SOCK_STREAM, 0);
  return absl::OkStatus();
}

}  // namespace microvm::sandbox
