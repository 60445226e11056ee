// SPDX-License-Identifier: Apache-2.0
// The whole-process baseline of ExitRatio/process/* (exits_bench.cc): one
// process, one KVM VM built from microvm's pieces (bench_vm.h), and a bare
// KVM_RUN loop on its main thread that runs guests/exits.c to its power-off,
// writing the guest's console to stdout. Fully static, like microvm_static.
//
// Usage: bare_exits GUEST_ELF
#include <unistd.h>

#include <cstdio>
#include <string>

#include "bench/bench_vm.h"

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s GUEST_ELF\n", argv[0]);
    return 2;
  }
  absl::StatusOr<std::unique_ptr<microvm::bench::BenchVm>> vm =
      microvm::bench::BenchVm::Create(argv[1], microvm::bench::BenchVm::Loop::kBare);
  std::string console;
  absl::Status ran = vm.ok() ? (*vm)->RunBareToPowerOff(&console) : vm.status();
  for (size_t done = 0; done < console.size();) {
    const ssize_t n = write(STDOUT_FILENO, console.data() + done, console.size() - done);
    if (n <= 0) break;
    done += static_cast<size_t>(n);
  }
  if (!ran.ok()) {
    std::fprintf(stderr, "bare_exits: %s\n", std::string(ran.message()).c_str());
    return 1;
  }
  return 0;
}
