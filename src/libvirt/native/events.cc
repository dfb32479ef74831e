// libvirt's default event loop on a dedicated thread, and event callbacks that
// reach JS through thread-safe functions.
//
// Lifetimes (why it is built this way):
// - virEventRegisterDefaultImpl must run once per process, before the first
//   connection, or remote connections never get keepalive or events.
// - The loop thread is shared by all Node environments (worker threads); it is
//   started with the first environment and stopped when the last one is torn down.
//   Stopping adds a zero timeout, which wakes the poll loop, and waits at most two
//   seconds, so process exit never hangs on libvirt.
// - Each registration owns one ThreadSafeFunction. The libvirt callback and the
//   TSFN finalizer share a mutex-guarded `alive` flag, so the loop thread never
//   calls into a TSFN that is released or being torn down.
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>

#include "common.h"

namespace maaslab {
namespace {

// ---- the event loop thread -------------------------------------------------

std::once_flag g_registerOnce;
int g_registerResult = 0;
std::mutex g_loopMu;
std::condition_variable g_loopCv;
int g_envs = 0;
bool g_loopRunning = false;
std::atomic<bool> g_quit{false};

void LoopMain() {
  while (!g_quit.load()) {
    if (virEventRunDefaultImpl() < 0) {
      // Only fails on internal errors; back off instead of spinning.
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  }
  std::lock_guard<std::mutex> lock(g_loopMu);
  g_loopRunning = false;
  g_loopCv.notify_all();
}

void WakeTimeout(int timer, void *) { virEventRemoveTimeout(timer); }

// The thread is detached on purpose: when Node exits through process.exit() or an
// uncaught exception, env cleanup hooks do not run, and a joinable std::thread
// left in a static would call std::terminate during static destruction.
void StartLoop() {
  std::unique_lock<std::mutex> lock(g_loopMu);
  if (g_envs++ > 0) return;
  // A previous loop may still be finishing its last iteration; let it go first.
  g_loopCv.wait_for(lock, std::chrono::seconds(2), [] { return !g_loopRunning; });
  g_quit = false;
  g_loopRunning = true;
  std::thread(LoopMain).detach();
}

void StopLoop(void *) {
  std::unique_lock<std::mutex> lock(g_loopMu);
  if (--g_envs > 0) return;
  g_quit = true;
  virEventAddTimeout(0, WakeTimeout, nullptr, nullptr);  // wakes the poll() in the loop
  // Bounded wait: a libvirt callback stuck on a dead daemon must not hang exit.
  g_loopCv.wait_for(lock, std::chrono::seconds(2), [] { return !g_loopRunning; });
}

// ---- registrations ---------------------------------------------------------

struct Registration {
  std::mutex mu;
  bool alive = true;
  bool released = false;
  int callbackId = -1;
  Napi::ThreadSafeFunction tsfn;

  // Called on the JS thread or a worker. Idempotent.
  void Kill() {
    std::lock_guard<std::mutex> lock(mu);
    alive = false;
    if (!released) {
      released = true;
      tsfn.Release();
    }
  }

  // Called on the event loop thread. `fn` runs later on the JS thread.
  void Deliver(std::function<void(Napi::Env, Napi::Function)> fn) {
    std::lock_guard<std::mutex> lock(mu);
    if (!alive) return;
    auto *boxed = new std::function<void(Napi::Env, Napi::Function)>(std::move(fn));
    napi_status st = tsfn.NonBlockingCall(boxed, [](Napi::Env env, Napi::Function cb,
                                                    std::function<void(Napi::Env, Napi::Function)> *f) {
      if (env != nullptr && cb != nullptr) (*f)(env, cb);
      delete f;
    });
    if (st != napi_ok) delete boxed;
  }
};

using RegPtr = std::shared_ptr<Registration>;

// libvirt's opaque pointer: one heap-allocated shared_ptr, deleted by libvirt's freecb.
void FreeOpaque(void *opaque) { delete static_cast<RegPtr *>(opaque); }

RegPtr NewRegistration(Napi::Env env, Napi::Value cb, const char *name, bool ref) {
  if (!cb.IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
  auto reg = std::make_shared<Registration>();
  // The finalizer keeps its own reference so it can flip `alive` safely.
  auto *finalizerRef = new RegPtr(reg);
  reg->tsfn = Napi::ThreadSafeFunction::New(env, cb.As<Napi::Function>(), name, 0, 1, finalizerRef,
                                            [](Napi::Env, RegPtr *r) {
                                              {
                                                std::lock_guard<std::mutex> lock((*r)->mu);
                                                (*r)->alive = false;
                                                (*r)->released = true;
                                              }
                                              delete r;
                                            });
  if (!ref) reg->tsfn.Unref(env);
  return reg;
}

Napi::Value WrapRegistration(Napi::Env env, RegPtr reg) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("id", Napi::Number::New(env, reg->callbackId));
  o.Set("handle", Napi::External<RegPtr>::New(env, new RegPtr(reg), [](Napi::Env, RegPtr *r) { delete r; }));
  return o;
}

RegPtr GetRegistration(const Napi::CallbackInfo &info, size_t i) {
  if (!info[i].IsObject()) throw Napi::TypeError::New(info.Env(), "argument must be an event registration");
  Napi::Value h = info[i].As<Napi::Object>().Get("handle");
  if (!h.IsExternal()) throw Napi::TypeError::New(info.Env(), "argument must be an event registration");
  return *h.As<Napi::External<RegPtr>>().Data();
}

// ---- domain lifecycle ------------------------------------------------------

int OnDomainLifecycle(virConnectPtr, virDomainPtr dom, int event, int detail, void *opaque) {
  RegPtr reg = *static_cast<RegPtr *>(opaque);
  virDomainRef(dom);
  std::shared_ptr<virDomain> d = Own(dom);
  reg->Deliver([d, event, detail](Napi::Env env, Napi::Function cb) {
    cb.Call({Wrap(env, d), Napi::Number::New(env, event), Napi::Number::New(env, detail)});
  });
  return 0;
}

Napi::Value DomainEventRegisterLifecycle(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  std::shared_ptr<virDomain> d;
  if (!info[1].IsNull() && !info[1].IsUndefined()) d = Arg<virDomain>(info, 1);
  RegPtr reg = NewRegistration(info.Env(), info[2], "maaslab:domain-lifecycle", true);
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0),
      [c, d, reg] {
        auto *opaque = new RegPtr(reg);
        int id = virConnectDomainEventRegisterAny(c.get(), d.get(), VIR_DOMAIN_EVENT_ID_LIFECYCLE,
                                                  VIR_DOMAIN_EVENT_CALLBACK(OnDomainLifecycle), opaque, FreeOpaque);
        if (id < 0) {
          delete opaque;
          reg->Kill();
          return false;
        }
        reg->callbackId = id;
        return true;
      },
      [reg](Napi::Env env) { return WrapRegistration(env, reg); });
}

Napi::Value DomainEventDeregisterAny(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  RegPtr reg = GetRegistration(info, 1);
  reg->Kill();  // no more deliveries from this point, even if libvirt still fires
  int id = reg->callbackId;
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0), [c, id] { return virConnectDomainEventDeregisterAny(c.get(), id) >= 0; }, Undefined);
}

// ---- network lifecycle -----------------------------------------------------

void OnNetworkLifecycle(virConnectPtr, virNetworkPtr net, int event, int detail, void *opaque) {
  RegPtr reg = *static_cast<RegPtr *>(opaque);
  virNetworkRef(net);
  std::shared_ptr<virNetwork> n = Own(net);
  reg->Deliver([n, event, detail](Napi::Env env, Napi::Function cb) {
    cb.Call({Wrap(env, n), Napi::Number::New(env, event), Napi::Number::New(env, detail)});
  });
}

Napi::Value NetworkEventRegisterLifecycle(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  std::shared_ptr<virNetwork> n;
  if (!info[1].IsNull() && !info[1].IsUndefined()) n = Arg<virNetwork>(info, 1);
  RegPtr reg = NewRegistration(info.Env(), info[2], "maaslab:network-lifecycle", true);
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0),
      [c, n, reg] {
        auto *opaque = new RegPtr(reg);
        int id = virConnectNetworkEventRegisterAny(c.get(), n.get(), VIR_NETWORK_EVENT_ID_LIFECYCLE,
                                                   VIR_NETWORK_EVENT_CALLBACK(OnNetworkLifecycle), opaque, FreeOpaque);
        if (id < 0) {
          delete opaque;
          reg->Kill();
          return false;
        }
        reg->callbackId = id;
        return true;
      },
      [reg](Napi::Env env) { return WrapRegistration(env, reg); });
}

Napi::Value NetworkEventDeregisterAny(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  RegPtr reg = GetRegistration(info, 1);
  reg->Kill();
  int id = reg->callbackId;
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0), [c, id] { return virConnectNetworkEventDeregisterAny(c.get(), id) >= 0; }, Undefined);
}

// ---- close callback ---------------------------------------------------------

void OnClose(virConnectPtr, int reason, void *opaque) {
  RegPtr reg = *static_cast<RegPtr *>(opaque);
  reg->Deliver([reason](Napi::Env env, Napi::Function cb) { cb.Call({Napi::Number::New(env, reason)}); });
}

// The close callback TSFN is unref'd: a passive notification must not keep the
// process alive on its own.
Napi::Value ConnectRegisterCloseCallback(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  RegPtr reg = NewRegistration(info.Env(), info[1], "maaslab:close", false);
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0),
      [c, reg] {
        auto *opaque = new RegPtr(reg);
        if (virConnectRegisterCloseCallback(c.get(), OnClose, opaque, FreeOpaque) < 0) {
          delete opaque;
          reg->Kill();
          return false;
        }
        return true;
      },
      [reg](Napi::Env env) { return WrapRegistration(env, reg); });
}

Napi::Value ConnectUnregisterCloseCallback(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  RegPtr reg = GetRegistration(info, 1);
  reg->Kill();
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0), [c] { return virConnectUnregisterCloseCallback(c.get(), OnClose) >= 0; }, Undefined);
}

// Lets a registration stop (or resume) keeping the process alive.
Napi::Value EventRegistrationSetRef(const Napi::CallbackInfo &info) {
  RegPtr reg = GetRegistration(info, 0);
  std::lock_guard<std::mutex> lock(reg->mu);
  if (!reg->released) {
    if (info[1].ToBoolean().Value()) {
      reg->tsfn.Ref(info.Env());
    } else {
      reg->tsfn.Unref(info.Env());
    }
  }
  return info.Env().Undefined();
}

}  // namespace

void InitEvents(Napi::Env env, Napi::Object exports) {
  std::call_once(g_registerOnce, [] { g_registerResult = virEventRegisterDefaultImpl(); });
  if (g_registerResult < 0) {
    CapturedError err;
    err.Capture();
    throw Napi::Error(env, MakeError(env, err));
  }
  StartLoop();
  napi_add_env_cleanup_hook(env, StopLoop, nullptr);
  Export(env, exports, "domainEventRegisterLifecycle", DomainEventRegisterLifecycle);
  Export(env, exports, "domainEventDeregisterAny", DomainEventDeregisterAny);
  Export(env, exports, "networkEventRegisterLifecycle", NetworkEventRegisterLifecycle);
  Export(env, exports, "networkEventDeregisterAny", NetworkEventDeregisterAny);
  Export(env, exports, "connectRegisterCloseCallback", ConnectRegisterCloseCallback);
  Export(env, exports, "connectUnregisterCloseCallback", ConnectUnregisterCloseCallback);
  Export(env, exports, "eventRegistrationSetRef", EventRegistrationSetRef);
}

}  // namespace maaslab
