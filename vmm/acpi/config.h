// SPDX-License-Identifier: Apache-2.0
// What the VMM tells the ACPI table builders about the machine.
#ifndef MICROVM_VMM_ACPI_CONFIG_H_
#define MICROVM_VMM_ACPI_CONFIG_H_

#include <cstdint>
#include <vector>

namespace microvm::acpi {

// A PCI device's INTx pin wired to an IOAPIC input (GSI), for the host
// bridge's _PRT. PCI INTx is level-triggered, active low (ACPI 6.4 6.2.13:
// a _PRT entry with Source 0 names a GSI with those properties).
struct PciRoute {
  uint8_t device;  // 0-31 on bus 0
  uint8_t pin;     // 0 = INTA# ... 3 = INTD#
  uint32_t gsi;    // IOAPIC input, 0 to kIoApicPins - 1
};

struct AcpiConfig {
  int cpus = 1;  // 1 to kMaxCpus; APIC id = ACPI processor UID = index
  // With `pci`: the host bridge \_SB.PCI0 in the DSDT, the MCFG table and a
  // motherboard-resource device reserving the ECAM range.
  bool pci = false;
  // 64-bit MMIO window of the host bridge; none when mmio64_size is 0.
  uint64_t mmio64_base = 0;
  uint64_t mmio64_size = 0;
  std::vector<PciRoute> pci_routes;
  int pci_buses = 1;  // buses 0 .. pci_buses - 1 behind ECAM, 1 to 256
};

// APIC ids are 8 bits in the MADT's Processor Local APIC entries and 0xff is
// broadcast; the IOAPIC takes id `cpus`.
inline constexpr int kMaxCpus = 254;
inline constexpr int kIoApicPins = 24;  // KVM's in-kernel IOAPIC

}  // namespace microvm::acpi

#endif  // MICROVM_VMM_ACPI_CONFIG_H_
