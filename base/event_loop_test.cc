// SPDX-License-Identifier: Apache-2.0
#include <thread>

#include "base/epoll_loop.h"
#include "base/event_fd.h"
#include "gtest/gtest.h"

namespace microvm {
namespace {

TEST(EpollLoopTest, DispatchesAndStopsWithCode) {
  auto loop = EpollLoop::Create();
  ASSERT_TRUE(loop.ok()) << loop.status();
  auto efd = EventFd::Create();
  ASSERT_TRUE(efd.ok());
  int calls = 0;
  auto watch = (*loop)->Add(efd->fd(), [&](uint32_t) {
    ++calls;
    EXPECT_EQ(*efd->Consume(), 3u);
    (*loop)->Stop(7);
  });
  ASSERT_TRUE(watch.ok()) << watch.status();
  ASSERT_TRUE(efd->Signal(3).ok());
  auto code = (*loop)->Run();
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 7);
  EXPECT_EQ(calls, 1);
}

TEST(EpollLoopTest, DroppedWatchIsNotCalled) {
  auto loop = EpollLoop::Create();
  ASSERT_TRUE(loop.ok());
  auto a = EventFd::Create();
  auto b = EventFd::Create();
  ASSERT_TRUE(a.ok() && b.ok());
  int a_calls = 0;
  auto wa = (*loop)->Add(a->fd(), [&](uint32_t) { ++a_calls; });
  ASSERT_TRUE(wa.ok());
  auto wb = (*loop)->Add(b->fd(), [&](uint32_t) { (*loop)->Stop(0); });
  ASSERT_TRUE(wb.ok());
  wa->Reset();
  ASSERT_TRUE(a->Signal().ok());
  ASSERT_TRUE(b->Signal().ok());
  ASSERT_TRUE((*loop)->Run().ok());
  EXPECT_EQ(a_calls, 0);
}

TEST(EpollLoopTest, StopFromAnotherThreadFirstCodeWins) {
  auto loop = EpollLoop::Create();
  ASSERT_TRUE(loop.ok());
  std::thread t([&] {
    (*loop)->Stop(3);
    (*loop)->Stop(4);
  });
  auto code = (*loop)->Run();
  t.join();
  ASSERT_TRUE(code.ok());
  EXPECT_EQ(*code, 3);
}

TEST(EpollLoopTest, AddingABadFdFails) {
  auto loop = EpollLoop::Create();
  ASSERT_TRUE(loop.ok());
  auto w = (*loop)->Add(-1, [](uint32_t) {});
  EXPECT_FALSE(w.ok());
}

}  // namespace
}  // namespace microvm
