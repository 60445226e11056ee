// SPDX-License-Identifier: Apache-2.0
// The VMM's event loop, as devices see it: register an fd, get a callback on
// the loop thread when it is ready. Adding a device never edits the loop.
#ifndef MICROVM_BASE_EVENT_LOOP_H_
#define MICROVM_BASE_EVENT_LOOP_H_

#include <sys/epoll.h>

#include <cstdint>
#include <functional>
#include <utility>

#include "absl/status/statusor.h"

namespace microvm {

class EventLoop {
 public:
  // Receives the ready epoll events (EPOLLIN, EPOLLHUP, ...).
  using Handler = std::function<void(uint32_t events)>;

  // Registration handle: dropping it removes the fd from the loop. Move-only.
  class Watch {
   public:
    Watch() = default;
    Watch(EventLoop* loop, uint64_t token) : loop_(loop), token_(token) {}
    Watch(Watch&& other) noexcept
        : loop_(std::exchange(other.loop_, nullptr)), token_(other.token_) {}
    Watch& operator=(Watch&& other) noexcept {
      if (this != &other) {
        Reset();
        loop_ = std::exchange(other.loop_, nullptr);
        token_ = other.token_;
      }
      return *this;
    }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    ~Watch() { Reset(); }
    void Reset() {
      if (loop_ != nullptr) std::exchange(loop_, nullptr)->Remove(token_);
    }

   private:
    EventLoop* loop_ = nullptr;
    uint64_t token_ = 0;
  };

  virtual ~EventLoop() = default;

  // Watches `fd` (not owned; it must outlive the Watch) for `events`
  // (EPOLLIN by default). Thread-safe. After the Watch is dropped the handler
  // is not called again, except that a call already running on the loop
  // thread finishes.
  virtual absl::StatusOr<Watch> Add(int fd, Handler handler,
                                    uint32_t events = EPOLLIN) = 0;

 protected:
  virtual void Remove(uint64_t token) = 0;
};

}  // namespace microvm

#endif  // MICROVM_BASE_EVENT_LOOP_H_
