// SPDX-License-Identifier: Apache-2.0
// kvm_probe against the KVM the runner chose (host or nested): it passes
// there (else the runner would not have come here), its level-triggered
// interrupt check counts one delivery per assertion, and that check does
// catch a line delivered more than once: with --selftest-lower-late the host
// keeps the line high through every other EOI, so a correct KVM delivers each
// assertion twice and the probe must fail and say so.
#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/shell.h"

namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

constexpr char kProbe[] = "tests/nested/kvm_probe";

using microvm::testing::RunShell;
using microvm::testing::ShellResult;

// The probe's guest can hang in the nested machine (about 1 run in 450 there
// with halt_poll_ns=0, seen 2026-12-04: neither the guest's LAPIC rescue
// timer nor signals that make KVM_RUN return and re-enter revive it, so it is
// not a lost wake-up but the nested machine's own fault). The probe then says
// so in one line; one more run is the runner's answer too (run_kvm_test.sh).
// Any other result, right or wrong, counts as it is.
ShellResult RunProbe(const std::string& args) {
  ShellResult r = RunShell(std::string(kProbe) + " " + args);
  if (r.out.find("did not finish within 10 s") != std::string::npos) {
    r = RunShell(std::string(kProbe) + " " + args);
  }
  return r;
}

TEST(KvmProbeTest, PassesWithOneDeliveryPerAssertion) {
  ShellResult r = RunProbe("");
  EXPECT_EQ(r.status, 0) << r.out;
  EXPECT_THAT(r.out, StartsWith("kvm-probe: ok ("));
  EXPECT_THAT(r.out, HasSubstr("level-triggered IOAPIC interrupt delivered 20 times for 20 "
                               "assertions"));
}

TEST(KvmProbeTest, CatchesALineDeliveredTwice) {
  ShellResult r = RunProbe("--selftest-lower-late");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("level-triggered IOAPIC interrupt 40 times for 20 assertions"));
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "one line: " << r.out;
}

TEST(KvmProbeTest, RejectsUnknownArguments) {
  ShellResult r = RunProbe("--bogus");
  EXPECT_EQ(r.status, 1) << r.out;
  EXPECT_THAT(r.out, HasSubstr("unknown argument '--bogus'"));
}

}  // namespace
