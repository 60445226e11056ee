// SPDX-License-Identifier: Apache-2.0
#include "vmm/cli.h"

#include <map>
#include <string>

#include "base/linux_uapi.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

using ::testing::HasSubstr;

TEST(PciAddressTest, ParsesFullAndShortForms) {
  auto a = ParsePciAddress("0000:01:00.0");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->bus, 1);
  EXPECT_EQ(a->ToString(), "0000:01:00.0");
  auto b = ParsePciAddress("ffff:FF:1f.7");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->domain, 0xffff);
  EXPECT_EQ(b->device, 31);
  EXPECT_EQ(b->function, 7);
  auto c = ParsePciAddress("03:1e.2");
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->ToString(), "0000:03:1e.2");
}

TEST(PciAddressTest, RejectsMalformed) {
  for (const char* bad :
       {"", "0000", "0000:01:00", "0000:01:20.0", "0000:01:00.8",
        "00000:01:00.0", "0000:001:00.0", "0000:01:00.0.1", "zz:00.0",
        "0000:01:00.", "0000::00.0", "a:b:c:d", "0000:01:0x.0", "-1:00.0"}) {
    auto r = ParsePciAddress(bad);
    EXPECT_FALSE(r.ok()) << bad;
    if (!r.ok()) {
      EXPECT_NE(r.status().message().find("expected a PCI address"),
                std::string::npos);
    }
  }
}

CliArgs Good() {
  CliArgs a;
  a.kernel = "bzImage";
  return a;
}

TEST(ValidateArgsTest, AcceptsDefaults) {
  auto c = ValidateArgs(Good());
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vm.mem_bytes, 256u << 20);
  EXPECT_EQ(c->vm.cpus, 1);
}

TEST(ValidateArgsTest, RequiresKernel) {
  CliArgs a = Good();
  a.kernel = "";
  auto c = ValidateArgs(a);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.status().message().find("--kernel"), std::string::npos);
}

TEST(ValidateArgsTest, ChecksMemoryAndCpuRanges) {
  for (int64_t mem : {0, 15, -1, 1024 * 1024 + 1}) {
    CliArgs a = Good();
    a.mem_mib = mem;
    EXPECT_FALSE(ValidateArgs(a).ok()) << mem;
  }
  for (int64_t cpus : {0, -3, 255}) {
    CliArgs a = Good();
    a.cpus = cpus;
    EXPECT_FALSE(ValidateArgs(a).ok()) << cpus;
  }
  CliArgs a = Good();
  a.hugepages = true;
  a.mem_mib = 17;
  EXPECT_FALSE(ValidateArgs(a).ok());
  a.mem_mib = 18;
  EXPECT_TRUE(ValidateArgs(a).ok());
}

TEST(ValidateArgsTest, VfioAddressesParsedAndDuplicatesRejected) {
  CliArgs a = Good();
  a.vfio = {"0000:01:00.0", "02:00.1"};
  auto c = ValidateArgs(a);
  ASSERT_TRUE(c.ok()) << c.status();
  ASSERT_EQ(c->vfio.size(), 2u);
  EXPECT_EQ(c->vfio[1].ToString(), "0000:02:00.1");
  a.vfio = {"0000:01:00.0", "01:00.0"};
  EXPECT_FALSE(ValidateArgs(a).ok());
  a.vfio = {"nonsense"};
  EXPECT_FALSE(ValidateArgs(a).ok());
}

TEST(ExtractRepeatedFlagTest, CollectsEveryFormInOrder) {
  char prog[] = "microvm", k[] = "--kernel=x", v1[] = "--vfio", a1[] = "01:00.0",
       v2[] = "--vfio=02:00.0", v3[] = "-vfio", a3[] = "03:00.0",
       other[] = "--vfiox=1", dd[] = "--", tail[] = "--vfio=9";
  std::vector<char*> args = {prog, k, v1, a1, v2, v3, a3, other, dd, tail};
  auto values = ExtractRepeatedFlag(args, "vfio");
  EXPECT_EQ(values,
            (std::vector<std::string>{"01:00.0", "02:00.0", "03:00.0"}));
  ASSERT_EQ(args.size(), 5u);
  EXPECT_STREQ(args[0], "microvm");
  EXPECT_STREQ(args[1], "--kernel=x");
  EXPECT_STREQ(args[2], "--vfiox=1");
  EXPECT_STREQ(args[4], "--vfio=9");
}

TEST(ExtractRepeatedFlagTest, TrailingFlagWithoutValueIsLeft) {
  char prog[] = "microvm", v[] = "--vfio";
  std::vector<char*> args = {prog, v};
  EXPECT_TRUE(ExtractRepeatedFlag(args, "vfio").empty());
  EXPECT_EQ(args.size(), 2u);
}

TEST(HelpTest, HasSwitchFindsEveryFormUpToDoubleDash) {
  char a[] = "--kernel=x", h1[] = "--help", h2[] = "-help", h3[] = "--help=true",
       dd[] = "--", other[] = "--helpfull";
  EXPECT_TRUE(HasSwitch({a, h1}, "help"));
  EXPECT_TRUE(HasSwitch({h2}, "help"));
  EXPECT_TRUE(HasSwitch({h3, a}, "help"));
  EXPECT_FALSE(HasSwitch({a, other}, "help"));
  EXPECT_FALSE(HasSwitch({a, dd, h1}, "help"));
  EXPECT_FALSE(HasSwitch({}, "help"));
}

TEST(HelpTest, GivesFlagFindsEveryFormUpToDoubleDash) {
  char a[] = "--kernel=x", s1[] = "--seccomp", s2[] = "-seccomp=off",
       s3[] = "--seccomp=log", dd[] = "--", other[] = "--seccomp_x=1";
  EXPECT_TRUE(GivesFlag({a, s1}, "seccomp"));
  EXPECT_TRUE(GivesFlag({s2}, "seccomp"));
  EXPECT_TRUE(GivesFlag({s3, a}, "seccomp"));
  EXPECT_FALSE(GivesFlag({a, other}, "seccomp"));
  EXPECT_FALSE(GivesFlag({a, dd, s3}, "seccomp"));
  EXPECT_FALSE(GivesFlag({}, "seccomp"));
}

TEST(HelpTest, ListsEveryFlagWithDefaultAndWrappedMeaning) {
  const std::string help = FormatHelp(
      "usage: microvm --kernel PATH",
      {{"kernel", "", "Guest kernel.", true},
       {"mem", "256", "Guest memory in MiB, a long sentence that has to wrap "
                      "somewhere before the fortieth column", false}},
      40);
  EXPECT_EQ(help,
            "usage: microvm --kernel PATH\n"
            "\n"
            "Options:\n"
            "  --kernel=\"\"\n"
            "        Guest kernel.\n"
            "  --mem=256\n"
            "        Guest memory in MiB, a long\n"
            "        sentence that has to wrap\n"
            "        somewhere before the fortieth\n"
            "        column\n");
}

TEST(HelpTest, AWordLongerThanTheLineStandsAlone) {
  const std::string help =
      FormatHelp("u", {{"x", "1", "short averyveryverylongword end", false},
                       {"help", "", "Help.", false}},
                 20);
  EXPECT_EQ(help,
            "u\n\nOptions:\n  --x=1\n        short\n"
            "        averyveryverylongword\n        end\n"
            "  --help\n        Help.\n");
}

TEST(CliTest, CpuAffinityPairsAndTheLoop) {
  absl::StatusOr<CpuAffinity> a = ParseCpuAffinity("0=2,1=3,loop=1");
  ASSERT_TRUE(a.ok()) << a.status();
  EXPECT_EQ(a->vcpus, (std::map<int, int>{{0, 2}, {1, 3}}));
  EXPECT_EQ(a->loop, 1);
  for (const char* bad : {"0", "0=", "=1", "0=x", "x=1", "0=-1", "-1=0",
                          "0=1,0=2", "loop=1,loop=2", "0=1,,1=2"}) {
    absl::StatusOr<CpuAffinity> r = ParseCpuAffinity(bad);
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_THAT(std::string(r.status().message()),
                HasSubstr("give VCPU=CPU pairs"))
        << bad;
  }
}

TEST(CliTest, CpuAffinityOfAVcpuThatDoesNotExist) {
  CliArgs args = Good();
  args.cpus = 2;
  args.cpu_affinity = "2=0";
  absl::StatusOr<CliConfig> c = ValidateArgs(args);
  ASSERT_FALSE(c.ok());
  EXPECT_THAT(std::string(c.status().message()),
              HasSubstr("pins vCPU 2, but --cpus 2 numbers them 0 to 1"));
  args.cpu_affinity = "1=0,loop=0";
  c = ValidateArgs(args);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vm.vcpu_affinity, (std::map<int, int>{{1, 0}}));
  EXPECT_EQ(c->vm.loop_affinity, 0);
}

TEST(CliTest, HaltPollAndDisableExits) {
  CliArgs args = Good();
  absl::StatusOr<CliConfig> c = ValidateArgs(args);
  ASSERT_TRUE(c.ok());
  EXPECT_FALSE(c->vm.halt_poll_ns.has_value());
  EXPECT_EQ(c->vm.disable_exits, 0u);
  args.halt_poll_ns = 0;
  args.disable_exits = "hlt,pause";
  c = ValidateArgs(args);
  ASSERT_TRUE(c.ok()) << c.status();
  EXPECT_EQ(c->vm.halt_poll_ns, 0u);
  EXPECT_EQ(c->vm.disable_exits,
            uint32_t{KVM_X86_DISABLE_EXITS_HLT | KVM_X86_DISABLE_EXITS_PAUSE});
  args.halt_poll_ns = -2;
  EXPECT_THAT(std::string(ValidateArgs(args).status().message()),
              HasSubstr("--halt_poll_ns -2 is out of range"));
  args.halt_poll_ns = 5000000000;
  EXPECT_THAT(std::string(ValidateArgs(args).status().message()),
              HasSubstr("--halt_poll_ns 5000000000 is out of range: give "
                        "nanoseconds, 0 (no polling) to 4294967295"));
  args.halt_poll_ns = 4294967295;
  EXPECT_TRUE(ValidateArgs(args).ok());
  args.halt_poll_ns = -1;
  args.disable_exits = "hlt,nap";
  EXPECT_THAT(std::string(ValidateArgs(args).status().message()),
              HasSubstr("unknown exit 'nap' (give hlt, pause, mwait or cstate"));
  EXPECT_EQ(ParseDisableExits("mwait,cstate").value(),
            uint32_t{KVM_X86_DISABLE_EXITS_MWAIT | KVM_X86_DISABLE_EXITS_CSTATE});
}

}  // namespace
}  // namespace microvm
