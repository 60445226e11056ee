// SPDX-License-Identifier: Apache-2.0
#include "base/epoll_loop.h"

#include <sys/epoll.h>

#include "absl/strings/str_cat.h"
#include "base/status.h"

namespace microvm {
namespace {
// Token 0 is the loop's own stop eventfd.
constexpr uint64_t kStopToken = 0;
constexpr int kMaxEvents = 32;
}  // namespace

absl::StatusOr<std::unique_ptr<EpollLoop>> EpollLoop::Create() {
  UniqueFd epoll(::epoll_create1(EPOLL_CLOEXEC));
  if (!epoll) return LastErrnoError("epoll_create1");
  MVM_ASSIGN_OR_RETURN(EventFd stop, EventFd::Create());
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kStopToken;
  if (::epoll_ctl(epoll.get(), EPOLL_CTL_ADD, stop.fd(), &ev) != 0) {
    return LastErrnoError("epoll_ctl(ADD stop eventfd)");
  }
  return std::unique_ptr<EpollLoop>(
      new EpollLoop(std::move(epoll), std::move(stop)));
}

EpollLoop::~EpollLoop() = default;

absl::StatusOr<EventLoop::Watch> EpollLoop::Add(int fd, Handler handler,
                                                uint32_t events) {
  auto entry = std::make_shared<Entry>();
  entry->fd = fd;
  entry->handler = std::move(handler);
  absl::MutexLock lock(&mu_);
  uint64_t token = next_token_++;
  epoll_event ev{};
  ev.events = events;
  ev.data.u64 = token;
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &ev) != 0) {
    return LastErrnoError(absl::StrCat("epoll_ctl(ADD fd ", fd, ")"));
  }
  entries_.emplace(token, std::move(entry));
  return Watch(this, token);
}

void EpollLoop::Remove(uint64_t token) {
  absl::MutexLock lock(&mu_);
  auto it = entries_.find(token);
  if (it == entries_.end()) return;
  it->second->live = false;
  // The fd may already be closed by its owner; epoll drops closed fds itself.
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd, nullptr);
  entries_.erase(it);
}

void EpollLoop::Stop(int code) {
  bool expected = false;
  if (stopped_.compare_exchange_strong(expected, true)) {
    stop_code_ = code;
  }
  // Cannot fail: the counter cannot overflow with value 1 writes here.
  (void)stop_.Signal();
}

absl::StatusOr<int> EpollLoop::Run() {
  epoll_event events[kMaxEvents];
  while (!stopped_) {
    int n = ::epoll_wait(epoll_.get(), events, kMaxEvents, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return LastErrnoError("epoll_wait");
    }
    for (int i = 0; i < n && !stopped_; ++i) {
      uint64_t token = events[i].data.u64;
      if (token == kStopToken) continue;
      std::shared_ptr<Entry> entry;
      {
        absl::MutexLock lock(&mu_);
        auto it = entries_.find(token);
        if (it == entries_.end()) continue;
        entry = it->second;
      }
      if (entry->live) entry->handler(events[i].events);
    }
  }
  return stop_code_.load();
}

}  // namespace microvm
