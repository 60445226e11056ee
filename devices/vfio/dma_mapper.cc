// SPDX-License-Identifier: Apache-2.0
#include "devices/vfio/dma_mapper.h"

#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "base/status.h"
#include "devices/vfio/iova.h"

namespace microvm::vfio {

absl::StatusOr<std::unique_ptr<DmaMapper>> DmaMapper::Create(
    std::shared_ptr<Container> container, const GuestMemory& memory) {
  MVM_ASSIGN_OR_RETURN(IommuInfo iommu, container->GetIommuInfo());
  std::vector<Chunk> chunks;
  for (const MemoryRegion& region : memory.regions()) {
    MVM_RETURN_IF_ERROR(CheckDmaRange(iommu, region.gpa, region.size,
                                      reinterpret_cast<uintptr_t>(region.host)));
    // Chunks stay multiples of the 2 MiB the regions are aligned to, so a
    // hugetlb page is never split between two mappings.
    for (uint64_t at = 0; at < region.size; at += kChunk) {
      chunks.push_back({region.gpa + at, region.host + at,
                        std::min(kChunk, region.size - at)});
    }
  }
  std::sort(chunks.begin(), chunks.end(),
            [](const Chunk& a, const Chunk& b) { return a.gpa < b.gpa; });
  MVM_ASSIGN_OR_RETURN(EventFd done, EventFd::Create());
  return std::unique_ptr<DmaMapper>(
      new DmaMapper(std::move(container), std::move(chunks), std::move(done)));
}

void DmaMapper::Begin(std::function<absl::Status()> on_thread_start) {
  absl::MutexLock lock(&mu_);
  if (begun_ || cancel_) return;
  begun_ = true;
  thread_ = std::thread(
      [this, start = std::move(on_thread_start)] { Run(start); });
}

DmaMapper::DmaMapper(std::shared_ptr<Container> container,
                     std::vector<Chunk> chunks, EventFd done)
    : container_(std::move(container)),
      chunks_(std::move(chunks)),
      done_(std::move(done)) {
  for (const Chunk& c : chunks_) progress_.total += c.size;
  absl::MutexLock lock(&mu_);
  if (chunks_.empty()) End();
}

void DmaMapper::Cancel() {
  {
    absl::MutexLock lock(&mu_);
    cancel_ = true;
  }
  // Begin() cannot start the thread any more; only the owner's thread
  // calls Cancel.
  if (thread_.joinable()) thread_.join();
}

DmaMapper::~DmaMapper() {
  Cancel();
  std::vector<DmaMapping> unmap;
  absl::MutexLock lock(&mu_);
  unmap = std::move(mappings_);
}

void DmaMapper::Run(const std::function<absl::Status()>& on_start) {
  // "dma" in ps -L and /proc/PID/task/*/comm.
  (void)::pthread_setname_np(::pthread_self(), "dma");
  // The lowest priority a thread can give itself (raising it back would
  // need CAP_SYS_NICE): where CPUs are short the guest's boot goes first. A
  // vCPU that needs the memory maps the rest itself (Gate::Wait).
  (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 19);
  if (on_start) {
    absl::Status started = on_start();
    if (!started.ok()) {
      absl::MutexLock lock(&mu_);
      if (failure_.ok()) failure_ = started;
      if (in_flight_ == 0 && !result_.has_value()) {
        mappings_.clear();  // all or nothing, as in MapOne
        End();
      }
      return;
    }
  }
  while (MapOne(nullptr)) {
  }
}

bool DmaMapper::MapOne(const Gate* gate) {
  size_t index = 0;
  {
    absl::MutexLock lock(&mu_);
    if (result_.has_value() || !failure_.ok() || next_ == chunks_.size() ||
        (gate != nullptr && gate->closed_)) {
      return false;
    }
    if (cancel_) {
      // Teardown: no one waits for what is left.
      failure_ = absl::CancelledError(
          "mapping guest RAM for device DMA: cancelled (the VM ended)");
      if (in_flight_ == 0) End();
      return false;
    }
    if (!start_.has_value()) start_ = Clock::now();
    index = next_++;
    ++in_flight_;
  }
  const Chunk& c = chunks_[index];
  absl::StatusOr<DmaMapping> mapping =
      container_->MapDma(c.gpa, c.host, c.size);
  absl::MutexLock lock(&mu_);
  --in_flight_;
  if (mapping.ok()) {
    mappings_.push_back(std::move(*mapping));
    progress_.mapped += c.size;
  } else if (failure_.ok()) {
    failure_ = Annotate(mapping.status(),
                        absl::StrFormat("guest RAM for DMA, %u of %u MiB "
                                        "mapped",
                                        progress_.mapped >> 20,
                                        progress_.total >> 20));
  }
  const bool all_claimed = next_ == chunks_.size() || !failure_.ok();
  if (in_flight_ == 0 && all_claimed && !result_.has_value()) {
    // All or nothing: no device may DMA into a part of guest RAM. Unmapped
    // before the end is announced, so whoever sees the failure finds
    // nothing mapped; under the lock, as a failure ends the VM anyway.
    if (!failure_.ok()) mappings_.clear();
    End();
  }
  return true;
}

void DmaMapper::End() {
  result_ = failure_;
  progress_.finished = Clock::now();
  progress_.elapsed =
      absl::FromChrono(*progress_.finished - start_.value_or(*progress_.finished));
  changed_.SignalAll();
  // Cannot fail: one write of 1 to a fresh eventfd.
  (void)done_.Signal();
}

void DmaMapper::AwaitEnd(const Gate* gate) {
  while (!result_.has_value() && (gate == nullptr || !gate->closed_)) {
    changed_.Wait(&mu_);
  }
}

absl::Status DmaMapper::Finish() {
  while (MapOne(nullptr)) {
  }
  absl::MutexLock lock(&mu_);
  AwaitEnd(nullptr);
  return *result_;
}

std::optional<absl::Status> DmaMapper::result() const {
  absl::MutexLock lock(&mu_);
  return result_;
}

DmaMapper::Progress DmaMapper::progress() const {
  absl::MutexLock lock(&mu_);
  Progress p = progress_;
  if (!p.finished.has_value() && start_.has_value()) {
    p.elapsed = absl::FromChrono(Clock::now() - *start_);
  }
  return p;
}

bool DmaMapper::Gate::open() const {
  absl::MutexLock lock(&mapper_.mu_);
  return !closed_ && mapper_.result_.has_value() && mapper_.result_->ok();
}

bool DmaMapper::Gate::Wait() {
  absl::Time start;
  {
    absl::MutexLock lock(&mapper_.mu_);
    if (closed_ || mapper_.result_.has_value()) {
      return !closed_ && mapper_.result_.has_value() && mapper_.result_->ok();
    }
    start = absl::Now();
    ++waits_;
  }
  // A device needs the memory now: help, at this thread's priority.
  while (mapper_.MapOne(this)) {
  }
  absl::MutexLock lock(&mapper_.mu_);
  mapper_.AwaitEnd(this);  // a chunk another thread is still mapping
  waited_ += absl::Now() - start;
  return !closed_ && mapper_.result_.has_value() && mapper_.result_->ok();
}

void DmaMapper::Gate::Close() {
  absl::MutexLock lock(&mapper_.mu_);
  closed_ = true;
  mapper_.changed_.SignalAll();
}

int DmaMapper::Gate::waits() const {
  absl::MutexLock lock(&mapper_.mu_);
  return waits_;
}

absl::Duration DmaMapper::Gate::waited() const {
  absl::MutexLock lock(&mapper_.mu_);
  return waited_;
}

}  // namespace microvm::vfio
