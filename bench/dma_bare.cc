// SPDX-License-Identifier: Apache-2.0
// The baseline of the DMA-map benchmark (tools/lab/scenarios/bench_dma.sh):
// what mapping guest RAM for a device costs with nothing but the kernel's
// VFIO interface. Opens the container and the IOMMU group, maps N MiB of
// fresh anonymous memory (microvm's own MapGuestRam, 2 MiB-aligned:
// 4 KiB pages, transparent huge pages advised (--thp, what microvm does), or
// 2 MiB hugetlb pages) with one VFIO_IOMMU_MAP_DMA, unmaps, repeats, and
// prints one line per run:
//   dma-bare: mib=<N> hugepages=<0|1> thp=<0|1> map_ms=<ms>
// microvm maps its RAM the same way, in 64 MiB chunks (devices/vfio/
// dma_mapper.cc), and with --dma_map=eager prints
// "mapped N MiB of guest RAM for DMA in <duration>"; the scenario compares.
//
// Usage: dma_bare --group /dev/vfio/<N> --mib <N> [--hugepages|--thp] [--runs R]
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "base/ioctl.h"
#include "base/linux_uapi.h"
#include "base/status.h"
#include "base/unique_fd.h"
#include "memory/guest_memory.h"

ABSL_FLAG(std::string, group, "", "IOMMU group device, e.g. /dev/vfio/1");
ABSL_FLAG(int64_t, mib, 256, "MiB to map");
ABSL_FLAG(bool, hugepages, false, "Back the memory with 2 MiB huge pages");
ABSL_FLAG(bool, thp, false,
          "madvise(MADV_HUGEPAGE) the memory, as microvm does without "
          "--hugepages");
ABSL_FLAG(int, runs, 3, "Map/unmap rounds");

namespace microvm {
namespace {

constexpr uint64_t kIova = 0;

absl::StatusOr<UniqueFd> OpenOrError(const std::string& path) {
  int fd = open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd < 0) return LastErrnoError(absl::StrCat("open ", path));
  return UniqueFd(fd);
}

absl::Status Run() {
  const std::string group_path = absl::GetFlag(FLAGS_group);
  const uint64_t bytes = static_cast<uint64_t>(absl::GetFlag(FLAGS_mib)) << 20;
  const bool huge = absl::GetFlag(FLAGS_hugepages);
  const bool thp = absl::GetFlag(FLAGS_thp) && !huge;
  if (group_path.empty() || bytes == 0) {
    return absl::InvalidArgumentError("give --group /dev/vfio/N and --mib N");
  }
  MVM_ASSIGN_OR_RETURN(UniqueFd container, OpenOrError("/dev/vfio/vfio"));
  MVM_ASSIGN_OR_RETURN(UniqueFd group, OpenOrError(group_path));
  vfio_group_status status = {.argsz = sizeof(status)};
  MVM_RETURN_IF_ERROR(
      MVM_IOCTL(group.get(), VFIO_GROUP_GET_STATUS, &status).status());
  if (!(status.flags & VFIO_GROUP_FLAGS_VIABLE)) {
    return absl::FailedPreconditionError(
        absl::StrCat(group_path, " is not viable"));
  }
  int cfd = container.get();
  MVM_RETURN_IF_ERROR(
      MVM_IOCTL(group.get(), VFIO_GROUP_SET_CONTAINER, &cfd).status());
  MVM_RETURN_IF_ERROR(
      MVM_IOCTL(container.get(), VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU).status());

  for (int run = 0; run < absl::GetFlag(FLAGS_runs); ++run) {
    // microvm's own guest RAM mapping (2 MiB-aligned), so both sides map
    // the same kind of memory.
    void* host = MapGuestRam(bytes, huge);
    if (host == MAP_FAILED) {
      return LastErrnoError(absl::StrCat("mmap ", bytes >> 20, " MiB",
                                         huge ? " of huge pages" : ""));
    }
    if (thp) madvise(host, bytes, MADV_HUGEPAGE);
    vfio_iommu_type1_dma_map map = {
        .argsz = sizeof(map),
        .flags = VFIO_DMA_MAP_FLAG_READ | VFIO_DMA_MAP_FLAG_WRITE,
        .vaddr = reinterpret_cast<uint64_t>(host),
        .iova = kIova,
        .size = bytes,
    };
    auto t0 = std::chrono::steady_clock::now();
    absl::Status mapped =
        MVM_IOCTL(container.get(), VFIO_IOMMU_MAP_DMA, &map).status();
    auto t1 = std::chrono::steady_clock::now();
    if (mapped.ok()) {
      vfio_iommu_type1_dma_unmap unmap = {
          .argsz = sizeof(unmap), .iova = kIova, .size = bytes};
      mapped = MVM_IOCTL(container.get(), VFIO_IOMMU_UNMAP_DMA, &unmap).status();
    }
    munmap(host, bytes);
    MVM_RETURN_IF_ERROR(mapped);
    std::printf("dma-bare: mib=%llu hugepages=%d thp=%d map_ms=%.3f\n",
                static_cast<unsigned long long>(bytes >> 20), huge ? 1 : 0,
                thp ? 1 : 0,
                std::chrono::duration<double, std::milli>(t1 - t0).count());
    std::fflush(stdout);
  }
  return absl::OkStatus();
}

}  // namespace
}  // namespace microvm

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::Status s = microvm::Run();
  if (!s.ok()) {
    std::fprintf(stderr, "dma-bare: %s\n", std::string(s.message()).c_str());
    return 1;
  }
  return 0;
}
