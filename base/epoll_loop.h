// SPDX-License-Identifier: Apache-2.0
// EventLoop on epoll. Run() dispatches on the calling thread until Stop().
#ifndef MICROVM_BASE_EPOLL_LOOP_H_
#define MICROVM_BASE_EPOLL_LOOP_H_

#include <atomic>
#include <memory>

#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "base/event_fd.h"
#include "base/event_loop.h"
#include "base/unique_fd.h"

namespace microvm {

class EpollLoop final : public EventLoop {
 public:
  static absl::StatusOr<std::unique_ptr<EpollLoop>> Create();
  ~EpollLoop() override;

  absl::StatusOr<Watch> Add(int fd, Handler handler,
                            uint32_t events = EPOLLIN) override;

  // Dispatches events until Stop() is called; returns the stop code.
  absl::StatusOr<int> Run();
  // Makes Run() return `code`. Thread-safe; the first code wins.
  void Stop(int code);
  bool stopped() const { return stopped_.load(); }

 private:
  struct Entry {
    int fd;
    Handler handler;
    std::atomic<bool> live{true};
  };

  EpollLoop(UniqueFd epoll, EventFd stop) : epoll_(std::move(epoll)), stop_(std::move(stop)) {}
  void Remove(uint64_t token) override;

  UniqueFd epoll_;
  EventFd stop_;
  std::atomic<bool> stopped_{false};
  std::atomic<int> stop_code_{0};
  absl::Mutex mu_;
  uint64_t next_token_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<uint64_t, std::shared_ptr<Entry>> entries_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace microvm

#endif  // MICROVM_BASE_EPOLL_LOOP_H_
