// Lanes: the worker threads that run blocking libvirt calls, one set per connection.
//
// Why not libuv's thread pool: it has four threads for the whole process (file system and
// DNS included). A host that accepts a connection and then stops answering blocks each call
// to it until keepalive gives up; four such calls would stop every other host, and every
// file read, meanwhile. A lane is private to one connection (or to one connection attempt),
// so a hung host holds up only its own lane.
//
// A lane runs up to kMaxThreads calls at once (libvirt multiplexes calls on one connection,
// and a lab starts its domains in parallel), starts threads on demand and lets each go after
// 20 s without work, so an idle operator keeps no lane threads. Threads are detached: a call
// stuck in the kernel must never keep the process from exiting.
//
// The registry maps a live virConnectPtr to its lane. A libvirt object holds a reference to
// its connection, so the address is unique while any handle of that connection exists; a
// connection opened later at a recycled address gets a fresh lane (RegisterConnectionLane),
// never the threads of a dead host.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

#include <semaphore.h>
#include <time.h>
#include <cerrno>

#ifdef __linux__
#include <pthread.h>
#include <sched.h>
#endif

#include "common.h"

namespace maaslab {

/// An idle thread of a lane: it waits on its own semaphore, not on a condition variable.
/// glibc's pthread_cond_signal can itself sleep (it waits for earlier waiters to leave their
/// group), and the signaller is the JS thread: in perf's sched_switch trace of a 1000-node
/// build it slept there 421 times, 0.44 s in all (1.1 s once lane threads ran as SCHED_BATCH,
/// below); with semaphores, 0.08 s (V8's own). sem_post never waits, and a wake-up goes to one
/// chosen thread.
struct Waiter {
  Waiter() { sem_init(&wake, 0, 0); }
  ~Waiter() { sem_destroy(&wake); }
  Waiter(const Waiter &) = delete;
  Waiter &operator=(const Waiter &) = delete;
  sem_t wake;
};

class Lane {
 public:
  std::mutex mu;
  std::deque<Call *> queue;
  /// Threads started and not yet gone.
  int threads = 0;
  /// Threads waiting for work, the one idle the shortest last. A thread leaves this list
  /// only under `mu`: taken by whoever will post its semaphore, or by itself when it goes.
  std::vector<Waiter *> idle;
};

namespace {

constexpr int kMaxThreads = 4;
/// How long a thread waits for work before it goes (SetLaneIdle; tests shorten it).
std::atomic<int64_t> g_idleMs{20'000};

std::mutex g_registryMu;
std::unordered_map<virConnectPtr, LanePtr> g_registry;
std::atomic<size_t> g_threads{0};
/// Every lane still alive (a connection's, or one call's), for SetLaneIdle.
std::mutex g_lanesMu;
std::vector<std::weak_ptr<Lane>> g_lanes;

void Deliver(Call *call) {
  // Blocking: the queue is unbounded, so this only waits for the TSFN's own lock. When the
  // environment is gone (napi_closing) no JS can run; the call is dropped.
  napi_status status =
      call->completion.BlockingCall(call, [](Napi::Env env, Napi::Function, Call *c) {
        c->Complete(env);
        delete c;
      });
  if (status != napi_ok) delete call;
}

/// Waits up to the idle time for a post to `self`; false when none came.
bool AwaitWake(Waiter &self) {
  timespec deadline{};
  clock_gettime(CLOCK_MONOTONIC, &deadline);
  int64_t idleMs = g_idleMs.load();
  int64_t ns = deadline.tv_nsec + (idleMs % 1000) * 1'000'000;
  deadline.tv_sec += idleMs / 1000 + ns / 1'000'000'000;
  deadline.tv_nsec = ns % 1'000'000'000;
  for (;;) {
    if (sem_clockwait(&self.wake, CLOCK_MONOTONIC, &deadline) == 0) return true;
    if (errno != EINTR) return false;
  }
}

void LaneMain(LanePtr lane) {
#ifdef __linux__
  // SCHED_BATCH: a woken lane thread does not preempt the thread that woke it. That thread is
  // the JS thread (it submits calls), and what a lane produces is a result only the JS thread
  // can take: preempting it to produce the result sooner gains nothing and costs a switch each
  // way. Under SCHED_OTHER, the 1000-node build switched the JS thread out this way about 2900
  // times in its 7300 calls (perf sched_switch, prev_state R in Call::Run); now about 600
  // (the scheduler's tick still ends its slice at times). The lane still runs at once on an
  // idle core, and gets its fair share of a busy one. A refusal is harmless.
  sched_param param{};
  param.sched_priority = 0;
  pthread_setschedparam(pthread_self(), SCHED_BATCH, &param);
#endif
  Waiter self;
  for (;;) {
    Call *call = nullptr;
    {
      std::lock_guard<std::mutex> lock(lane->mu);
      if (!lane->queue.empty()) {
        call = lane->queue.front();
        lane->queue.pop_front();
      } else {
        lane->idle.push_back(&self);
      }
    }
    if (call != nullptr) {
      call->Execute();
      Deliver(call);
      continue;
    }
    if (AwaitWake(self)) continue;
    {
      std::lock_guard<std::mutex> lock(lane->mu);
      auto it = std::find(lane->idle.begin(), lane->idle.end(), &self);
      if (it != lane->idle.end()) {
        // Idle for the idle time, and nobody chose this thread meanwhile: it goes.
        lane->idle.erase(it);
        lane->threads--;
        g_threads--;
        return;
      }
    }
    // Chosen just as the wait ran out: the post is on its way (and `self` must outlive it).
    while (sem_wait(&self.wake) != 0) {
    }
  }
}

}  // namespace

void SubmitToLane(const LanePtr &lane, Call *call) {
  Waiter *wake = nullptr;
  bool start = false;
  {
    std::lock_guard<std::mutex> lock(lane->mu);
    lane->queue.push_back(call);
    if (!lane->idle.empty()) {
      // The thread idle the shortest: the others stay idle long enough to go.
      wake = lane->idle.back();
      lane->idle.pop_back();
    } else if (lane->threads < kMaxThreads) {
      lane->threads++;
      g_threads++;
      start = true;
    }
  }
  // Both after the lock is released: a thread woken while the JS thread still holds it would
  // block on it at once and need a second wake-up (perf's sched_switch trace showed the JS
  // thread switched out in that second wake, __lll_lock_wake, about 1000 times per 1000-node
  // build). Busy threads look at the queue before they wait, so a call that wakes or starts
  // no thread is taken by the next one that finishes.
  if (wake != nullptr) sem_post(&wake->wake);
  if (start) std::thread(LaneMain, lane).detach();
}

LanePtr NewLane() {
  auto lane = std::make_shared<Lane>();
  std::lock_guard<std::mutex> lock(g_lanesMu);
  g_lanes.erase(std::remove_if(g_lanes.begin(), g_lanes.end(),
                    [](const std::weak_ptr<Lane> &l) { return l.expired(); }),
      g_lanes.end());
  g_lanes.push_back(lane);
  return lane;
}

LanePtr LaneOfConnection(virConnectPtr c) {
  std::lock_guard<std::mutex> lock(g_registryMu);
  LanePtr &lane = g_registry[c];
  if (!lane) lane = NewLane();
  return lane;
}

void RegisterConnectionLane(virConnectPtr c) {
  std::lock_guard<std::mutex> lock(g_registryMu);
  g_registry[c] = NewLane();
}

void ForgetConnectionLane(virConnectPtr c) {
  std::lock_guard<std::mutex> lock(g_registryMu);
  g_registry.erase(c);
}

size_t LaneThreadCount() { return g_threads.load(); }

void SetLaneIdle(std::chrono::milliseconds idle) {
  g_idleMs = idle.count();
  // Idle threads wake (with no call) and wait again with the new time, so that it holds at
  // once rather than after the old one runs out.
  std::vector<LanePtr> lanes;
  {
    std::lock_guard<std::mutex> lock(g_lanesMu);
    for (auto &weak : g_lanes) {
      if (auto lane = weak.lock()) lanes.push_back(std::move(lane));
    }
  }
  for (auto &lane : lanes) {
    std::vector<Waiter *> waiters;
    {
      std::lock_guard<std::mutex> lock(lane->mu);
      waiters.swap(lane->idle);
    }
    for (Waiter *w : waiters) sem_post(&w->wake);
  }
}

}  // namespace maaslab
