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
// kIdle without work, so an idle operator keeps no lane threads. Threads are detached: a call
// stuck in the kernel must never keep the process from exiting.
//
// The registry maps a live virConnectPtr to its lane. A libvirt object holds a reference to
// its connection, so the address is unique while any handle of that connection exists; a
// connection opened later at a recycled address gets a fresh lane (RegisterConnectionLane),
// never the threads of a dead host.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "common.h"

namespace maaslab {

class Lane {
 public:
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Call *> queue;
  int threads = 0;
  int idle = 0;
};

namespace {

constexpr int kMaxThreads = 4;
constexpr auto kIdle = std::chrono::seconds(20);

std::mutex g_registryMu;
std::unordered_map<virConnectPtr, LanePtr> g_registry;
std::atomic<size_t> g_threads{0};

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

void LaneMain(LanePtr lane) {
  for (;;) {
    Call *call = nullptr;
    {
      std::unique_lock<std::mutex> lock(lane->mu);
      lane->idle++;
      bool got = lane->cv.wait_for(lock, kIdle, [&] { return !lane->queue.empty(); });
      lane->idle--;
      if (!got) {
        lane->threads--;
        g_threads--;
        return;
      }
      call = lane->queue.front();
      lane->queue.pop_front();
    }
    call->Execute();
    Deliver(call);
  }
}

}  // namespace

void SubmitToLane(const LanePtr &lane, Call *call) {
  std::lock_guard<std::mutex> lock(lane->mu);
  lane->queue.push_back(call);
  if (lane->idle > static_cast<int>(lane->queue.size()) - 1) {
    lane->cv.notify_one();
    return;
  }
  if (lane->threads < kMaxThreads) {
    lane->threads++;
    g_threads++;
    std::thread(LaneMain, lane).detach();
  }
}

LanePtr NewLane() { return std::make_shared<Lane>(); }

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

}  // namespace maaslab
