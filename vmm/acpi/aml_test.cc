// SPDX-License-Identifier: Apache-2.0
#include "vmm/acpi/aml.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

// Expected bytes come from iasl 20200925 (acpica-tools) compiling the ASL in
// each comment, checked by hand against ACPI 6.4 chapter 20 and section 6.4.
namespace microvm::acpi::aml {
namespace {

using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

TEST(AmlTest, IntegersUseTheShortestEncoding) {
  EXPECT_THAT(Integer(0), ElementsAre(0x00));
  EXPECT_THAT(Integer(1), ElementsAre(0x01));
  EXPECT_THAT(Integer(~uint64_t{0}), ElementsAre(0xff));
  EXPECT_THAT(Integer(2), ElementsAre(0x0a, 0x02));
  EXPECT_THAT(Integer(0x12), ElementsAre(0x0a, 0x12));
  EXPECT_THAT(Integer(0xff), ElementsAre(0x0a, 0xff));
  EXPECT_THAT(Integer(0x100), ElementsAre(0x0b, 0x00, 0x01));
  EXPECT_THAT(Integer(0x1234), ElementsAre(0x0b, 0x34, 0x12));
  EXPECT_THAT(Integer(0x12345678), ElementsAre(0x0c, 0x78, 0x56, 0x34, 0x12));
  EXPECT_THAT(Integer(0x123456789abcdef0),
              ElementsAre(0x0e, 0xf0, 0xde, 0xbc, 0x9a, 0x78, 0x56, 0x34,
                          0x12));
  EXPECT_THAT(DWord(5), ElementsAre(0x0c, 0x05, 0x00, 0x00, 0x00));
}

TEST(AmlTest, StringIsNulTerminated) {
  // Name (STR1, "Hi")
  EXPECT_THAT(Name("STR1", String("Hi")),
              ElementsAre(0x08, 'S', 'T', 'R', '1', 0x0d, 'H', 'i', 0x00));
}

TEST(AmlTest, NameStrings) {
  EXPECT_THAT(NameString("_SB"), ElementsAre('_', 'S', 'B', '_'));
  EXPECT_THAT(NameString("\\_S5"), ElementsAre('\\', '_', 'S', '5', '_'));
  EXPECT_THAT(NameString("^^C0"), ElementsAre('^', '^', 'C', '0', '_', '_'));
  EXPECT_THAT(NameString("\\"), ElementsAre('\\', 0x00));
  EXPECT_THAT(NameString("_SB.PCI0"),
              ElementsAre(0x2e, '_', 'S', 'B', '_', 'P', 'C', 'I', '0'));
  // Name (\_SB.PCI0.ABCD, One); iasl drops the '\' when the current scope
  // is the root, we keep what was written.
  EXPECT_THAT(Name("\\_SB.PCI0.ABCD", Integer(1)),
              ElementsAre(0x08, '\\', 0x2f, 0x03, '_', 'S', 'B', '_', 'P', 'C',
                          'I', '0', 'A', 'B', 'C', 'D', 0x01));
}

TEST(AmlTest, NamePathValidation) {
  static_assert(IsValidNamePath("\\_SB.PCI0"));
  static_assert(IsValidNamePath("^PCI0"));
  static_assert(IsValidNamePath(""));
  static_assert(!IsValidNamePath("PCI00"));  // segment too long
  static_assert(!IsValidNamePath("0PCI"));   // leading digit
  static_assert(!IsValidNamePath("_SB..X"));
  static_assert(!IsValidNamePath("_SB."));
  static_assert(!IsValidNamePath("\\^X"));
  static_assert(!IsValidNamePath("pci0"));
  EXPECT_TRUE(NamePath::Parse("C00A").ok());
  EXPECT_EQ(NamePath::Parse("\\_SB.C00A").value().text(), "\\_SB.C00A");
  absl::StatusOr<NamePath> bad = NamePath::Parse("CPU12");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()), HasSubstr("'CPU12'"));
  EXPECT_FALSE(NamePath::Parse(std::string(64, 'A')).ok());
}

TEST(AmlTest, EisaId) {
  // EisaId ("PNP0A08") and EisaId ("PNP0501")
  static_assert(EisaIdValue("PNP0A08") == 0x080ad041);
  static_assert(EisaIdValue("PNP0501") == 0x0105d041);
  static_assert(EisaIdValue("PNP0A03") == 0x030ad041);
  EXPECT_THAT(DWord(EisaIdValue("PNP0501")),
              ElementsAre(0x0c, 0x41, 0xd0, 0x05, 0x01));
}

TEST(AmlTest, PkgLengthBoundaries) {
  // 1 byte up to 63 including itself; then 4 + 8n bits with n extra bytes.
  EXPECT_THAT(PkgLength(0), ElementsAre(0x01));
  EXPECT_THAT(PkgLength(62), ElementsAre(0x3f));
  EXPECT_THAT(PkgLength(63), ElementsAre(0x41, 0x04));  // 65 = 0x041
  EXPECT_THAT(PkgLength(149), ElementsAre(0x47, 0x09));  // 151 = 0x097
  EXPECT_THAT(PkgLength(4093), ElementsAre(0x4f, 0xff));  // 4095
  EXPECT_THAT(PkgLength(4094), ElementsAre(0x81, 0x00, 0x01));  // 4097
  EXPECT_THAT(PkgLength((1 << 20) - 4), ElementsAre(0x8f, 0xff, 0xff));
  EXPECT_THAT(PkgLength((1 << 20) - 3),
              ElementsAre(0xc1, 0x00, 0x00, 0x01));  // 2^20 + 1
  EXPECT_THAT(PkgLength((1 << 28) - 5), ElementsAre(0xcf, 0xff, 0xff, 0xff));
}

TEST(AmlTest, LargeBodiesGetMultiBytePkgLength) {
  const Bytes body(5000, 0xa5);
  Bytes scope = Scope("_SB", body);
  // ScopeOp, 3-byte PkgLength of 5000 + 4 (name) + 3 = 5007 = 0x138F.
  ASSERT_EQ(scope.size(), 1 + 3 + 4 + 5000u);
  EXPECT_THAT(Bytes(scope.begin(), scope.begin() + 8),
              ElementsAre(0x10, 0x8f, 0x38, 0x01, '_', 'S', 'B', '_'));
}

TEST(AmlTest, Package) {
  // Name (\_S5, Package () { 5, 0, 0, 0 })
  EXPECT_THAT(
      Name("\\_S5", Package({Integer(5), Integer(0), Integer(0), Integer(0)})),
      ElementsAre(0x08, '\\', '_', 'S', '5', '_', 0x12, 0x07, 0x04, 0x0a,
                  0x05, 0x00, 0x00, 0x00));
  // More than 255 elements: VarPackageOp with a TermArg count.
  Bytes big = Package(std::vector<Bytes>(300, Integer(0)));
  ASSERT_EQ(big.size(), 1 + 2 + 3 + 300u);
  EXPECT_THAT(Bytes(big.begin(), big.begin() + 6),
              ElementsAre(0x13, 0x41, 0x13, 0x0b, 0x2c, 0x01));
}

TEST(AmlTest, MethodReturningAConstant) {
  // Method (_STA, 0, NotSerialized) { Return (0x0F) }
  EXPECT_THAT(Method("_STA", 0, false, Return(Integer(0x0f))),
              ElementsAre(0x14, 0x09, '_', 'S', 'T', 'A', 0x00, 0xa4, 0x0a,
                          0x0f));
  EXPECT_EQ(Method("_DSM", 4, true, {})[6], 0x0c);
}

TEST(AmlTest, MethodNotifyingADevice) {
  // Method (_EVT, 1, NotSerialized) { Notify (PWRB, 0x80) }
  EXPECT_THAT(Method("_EVT", 1, false, Notify("PWRB", 0x80)),
              ElementsAre(0x14, 0x0d, '_', 'E', 'V', 'T', 0x01, 0x86, 'P',
                          'W', 'R', 'B', 0x0a, 0x80));
}

TEST(AmlTest, SerialPortDevice) {
  // Scope (\_SB) { Device (COM1) { Name (_HID, EisaId ("PNP0501"))
  //   Name (_CRS, ResourceTemplate () { IO (Decode16, 0x03F8, 0x03F8, 0x08,
  //   0x08, ) IRQNoFlags () {4} }) } }
  const Bytes device = Device(
      "COM1", Concat({Name("_HID", DWord(EisaIdValue("PNP0501"))),
                      Name("_CRS", ResourceTemplate({Io(0x3f8, 0x3f8, 8, 8),
                                                     IrqNoFlags(4)}))}));
  const uint8_t want[] = {
      0x10, 0x2d, 0x5c, '_',  'S',  'B',  '_',  0x5b, 0x82, 0x25, 'C',
      'O',  'M',  '1',  0x08, '_',  'H',  'I',  'D',  0x0c, 0x41, 0xd0,
      0x05, 0x01, 0x08, '_',  'C',  'R',  'S',  0x11, 0x10, 0x0a, 0x0d,
      0x47, 0x01, 0xf8, 0x03, 0xf8, 0x03, 0x08, 0x08, 0x22, 0x10, 0x00,
      0x79, 0x00};
  EXPECT_THAT(Scope("\\_SB", device), ElementsAreArray(want));
}

TEST(AmlTest, AddressSpaceDescriptors) {
  // WordBusNumber (ResourceProducer, MinFixed, MaxFixed, PosDecode,
  //   0x0000, 0x0000, 0x0000, 0x0000, 0x0001,,, )
  EXPECT_THAT(WordBusNumber(0, 0),
              ElementsAre(0x88, 0x0d, 0x00, 0x02, 0x0c, 0x00, 0x00, 0x00,
                          0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00));
  // WordIO (ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange,
  //   0x0000, 0x0000, 0x0CF7, 0x0000, 0x0CF8,,, , TypeStatic,
  //   DenseTranslation)
  EXPECT_THAT(WordIo(0, 0xcf7),
              ElementsAre(0x88, 0x0d, 0x00, 0x01, 0x0c, 0x03, 0x00, 0x00,
                          0x00, 0x00, 0xf7, 0x0c, 0x00, 0x00, 0xf8, 0x0c));
  // DWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed,
  //   NonCacheable, ReadWrite, 0x0, 0xC0000000, 0xDFFFFFFF, 0x0, 0x20000000)
  EXPECT_THAT(DWordMemory(0xc0000000, 0xdfffffff, false),
              ElementsAre(0x87, 0x17, 0x00, 0x00, 0x0c, 0x01, 0x00, 0x00,
                          0x00, 0x00, 0x00, 0x00, 0x00, 0xc0, 0xff, 0xff,
                          0xff, 0xdf, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
                          0x00, 0x20));
  // QWordMemory (ResourceProducer, PosDecode, MinFixed, MaxFixed, Cacheable,
  //   ReadWrite, 0x0, 0x1000000000, 0x1FFFFFFFFF, 0x0, 0x1000000000)
  const Bytes q = QWordMemory(0x1000000000, 0x1fffffffff, true);
  const uint8_t want_q[] = {
      0x88 + 2, 0x2b, 0x00, 0x00, 0x0c, 0x03,                  // header
      0, 0, 0, 0, 0, 0, 0, 0,                                  // granularity
      0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00,          // min
      0xff, 0xff, 0xff, 0xff, 0x1f, 0x00, 0x00, 0x00,          // max
      0, 0, 0, 0, 0, 0, 0, 0,                                  // translation
      0x00, 0x00, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00};         // length
  EXPECT_THAT(q, ElementsAreArray(want_q));
  // Interrupt (ResourceConsumer, Level, ActiveLow, Shared, ,, ) {0x10}
  EXPECT_THAT(Interrupt(0x10, false, true, true),
              ElementsAre(0x89, 0x06, 0x00, 0x0d, 0x01, 0x10, 0x00, 0x00,
                          0x00));
  EXPECT_EQ(Interrupt(4, true, false, false)[3], 0x03);
}

TEST(AmlTest, Memory32Fixed) {
  // Memory32Fixed (ReadWrite, 0xE0000000, 0x00400000, )
  EXPECT_THAT(Memory32Fixed(0xe0000000, 0x400000),
              ElementsAre(0x86, 0x09, 0x00, 0x01, 0x00, 0x00, 0x00, 0xe0,
                          0x00, 0x00, 0x40, 0x00));
}

TEST(AmlTest, ResourceTemplateEndsWithEndTag) {
  EXPECT_THAT(ResourceTemplate({}), ElementsAre(0x11, 0x05, 0x0a, 0x02, 0x79,
                                                0x00));
}

}  // namespace
}  // namespace microvm::acpi::aml
