// Shared plumbing for the libvirt addon: handles, argument readers and the one
// generic async worker every blocking libvirt call goes through.
//
// Design notes (why, not what):
// - Every libvirt object lives in a std::shared_ptr whose deleter is the matching
//   vir*Free. A JS handle (Napi::External<Handle>) owns one reference; each async
//   call copies the shared_ptr, so an explicit free() or a GC while a call is in
//   flight can never release the object under the worker thread.
// - libvirt keeps its "last error" per thread, so errors are copied with
//   virCopyLastError on the worker thread right after the failing call.
// - Calls run on the *lane* of the connection they talk through (lane.cc), not on
//   libuv's shared four-thread pool: a host that stops answering holds up its own
//   lane's threads, never another host's calls, Node's file system or DNS.
#pragma once

#include <chrono>

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <napi.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace maaslab {

class Lane;
/// The worker lane of one connection (or of one connection attempt); see lane.cc.
using LanePtr = std::shared_ptr<Lane>;

enum class Kind { Connect, Domain, Snapshot, Network, Interface, Pool, Volume, Stream };

const char *KindName(Kind kind);

/// What a JS handle points at. `ptr` is empty after an explicit free. `lane` is the
/// lane of the connection the object belongs to, where its calls run.
struct Handle {
  Kind kind;
  std::shared_ptr<void> ptr;
  LanePtr lane;
};

/// A fresh lane, for a connection being opened (its attempt may hang on its own).
LanePtr NewLane();
/// The lane of connection `c`: the one registered when it was opened, else a new one.
LanePtr LaneOfConnection(virConnectPtr c);
/// Registers a fresh lane for a connection that was just opened, replacing any stale
/// lane left under the same address by a connection libvirt has freed since.
void RegisterConnectionLane(virConnectPtr c);
/// Forgets the lane of a connection that is being closed for good.
void ForgetConnectionLane(virConnectPtr c);
/// Number of lane threads alive now (for tests of the isolation).
size_t LaneThreadCount();
/// How long an idle lane thread stays (20 s); tests shorten it to see threads go. The
/// lanes' waiting threads take the new time at once.
void SetLaneIdle(std::chrono::milliseconds idle);

template <typename T> struct Traits;
template <> struct Traits<virConnect> {
  static constexpr Kind kind = Kind::Connect;
  // virConnectClose may block on a remote connection; explicit close runs it on a worker.
  static void Free(virConnectPtr p) {
    ForgetConnectionLane(p);
    virConnectClose(p);
  }
  static virConnectPtr ConnectionOf(virConnectPtr p) { return p; }
};
template <> struct Traits<virDomain> {
  static constexpr Kind kind = Kind::Domain;
  static void Free(virDomainPtr p) { virDomainFree(p); }
  // A plain accessor: no reference is taken and no I/O happens.
  static virConnectPtr ConnectionOf(virDomainPtr p) { return virDomainGetConnect(p); }
};
template <> struct Traits<virDomainSnapshot> {
  static constexpr Kind kind = Kind::Snapshot;
  static void Free(virDomainSnapshotPtr p) { virDomainSnapshotFree(p); }
  // A plain accessor: no reference is taken and no I/O happens.
  static virConnectPtr ConnectionOf(virDomainSnapshotPtr p) { return virDomainSnapshotGetConnect(p); }
};
template <> struct Traits<virNetwork> {
  static constexpr Kind kind = Kind::Network;
  static void Free(virNetworkPtr p) { virNetworkFree(p); }
  // A plain accessor: no reference is taken and no I/O happens.
  static virConnectPtr ConnectionOf(virNetworkPtr p) { return virNetworkGetConnect(p); }
};
template <> struct Traits<virInterface> {
  static constexpr Kind kind = Kind::Interface;
  static void Free(virInterfacePtr p) { virInterfaceFree(p); }
  // A plain accessor: no reference is taken and no I/O happens.
  static virConnectPtr ConnectionOf(virInterfacePtr p) { return virInterfaceGetConnect(p); }
};
template <> struct Traits<virStoragePool> {
  static constexpr Kind kind = Kind::Pool;
  static void Free(virStoragePoolPtr p) { virStoragePoolFree(p); }
  // A plain accessor: no reference is taken and no I/O happens.
  static virConnectPtr ConnectionOf(virStoragePoolPtr p) { return virStoragePoolGetConnect(p); }
};
template <> struct Traits<virStorageVol> {
  static constexpr Kind kind = Kind::Volume;
  static void Free(virStorageVolPtr p) { virStorageVolFree(p); }
  // A plain accessor: no reference is taken and no I/O happens.
  static virConnectPtr ConnectionOf(virStorageVolPtr p) { return virStorageVolGetConnect(p); }
};
template <> struct Traits<virStream> {
  static constexpr Kind kind = Kind::Stream;
  static void Free(virStreamPtr p) { virStreamFree(p); }
  // libvirt has no accessor for a stream's connection: streamNew sets the lane itself.
  static virConnectPtr ConnectionOf(virStreamPtr) { return nullptr; }
};

/// Takes ownership of one libvirt reference.
template <typename T> std::shared_ptr<T> Own(T *raw) {
  return std::shared_ptr<T>(raw, [](T *p) {
    if (p != nullptr) Traits<T>::Free(p);
  });
}

/// Wraps an owned pointer into a JS handle on the lane of its connection; GC drops our
/// reference.
template <typename T> Napi::Value Wrap(Napi::Env env, std::shared_ptr<T> p) {
  if (!p) return env.Null();
  virConnectPtr conn = Traits<T>::ConnectionOf(p.get());
  auto *h = new Handle{Traits<T>::kind, std::static_pointer_cast<void>(p),
                       conn != nullptr ? LaneOfConnection(conn) : LanePtr()};
  return Napi::External<Handle>::New(env, h, [](Napi::Env, Handle *h) { delete h; });
}

Handle *GetHandle(const Napi::CallbackInfo &info, size_t i, Kind kind);

/// Reads argument i as a live handle of type T, throwing a TypeError otherwise.
template <typename T> std::shared_ptr<T> Arg(const Napi::CallbackInfo &info, size_t i) {
  Handle *h = GetHandle(info, i, Traits<T>::kind);
  if (!h->ptr) {
    throw Napi::Error::New(info.Env(), std::string("libvirt ") + KindName(h->kind) + " handle already freed");
  }
  return std::static_pointer_cast<T>(h->ptr);
}

/// The lane the calls on argument i (a handle of type T) run on.
template <typename T> LanePtr LaneArg(const Napi::CallbackInfo &info, size_t i) {
  Handle *h = GetHandle(info, i, Traits<T>::kind);
  return h->lane ? h->lane : NewLane();
}

unsigned int U32(const Napi::CallbackInfo &info, size_t i);
int I32(const Napi::CallbackInfo &info, size_t i);
unsigned long long U64(const Napi::CallbackInfo &info, size_t i);
std::string Str(const Napi::CallbackInfo &info, size_t i);
/// Optional string: undefined/null becomes "absent" (a NULL char* for libvirt).
struct OptStr {
  bool set = false;
  std::string value;
  const char *c_str() const { return set ? value.c_str() : nullptr; }
};
OptStr OptionalStr(const Napi::CallbackInfo &info, size_t i);

/// Takes a malloc'd C string from libvirt and frees it.
std::string TakeString(char *s);

/// A libvirt error captured on the thread that produced it.
struct CapturedError {
  int code = VIR_ERR_INTERNAL_ERROR;
  int domain = VIR_FROM_NONE;
  int level = VIR_ERR_ERROR;
  std::string message = "unknown libvirt error";
  void Capture();
};

Napi::Value MakeError(Napi::Env env, const CapturedError &err);

/// Runs `work` on `lane` (a worker thread of that connection's lane); it returns false on
/// libvirt failure, after which the error is captured on that same thread. `done` builds
/// the resolved value on the JS thread. Everything `work` needs must be captured by value.
/// While calls are in flight they keep the event loop alive, as libuv work would.
class Call {
 public:
  using Work = std::function<bool()>;
  using Done = std::function<Napi::Value(Napi::Env)>;
  static Napi::Value Run(Napi::Env env, LanePtr lane, Work work, Done done);

  /// On a lane thread: runs the work and captures its error.
  void Execute();
  /// On the JS thread: settles the promise.
  void Complete(Napi::Env env);
  /// Where the lane thread hands the finished call back to JS.
  Napi::ThreadSafeFunction completion;

 private:
  Call(Napi::Env env, Work work, Done done);
  Napi::Promise::Deferred deferred_;
  Work work_;
  Done done_;
  bool failed_ = false;
  CapturedError error_;
};

/// Queues `call` on `lane`, starting a thread of the lane when none is idle.
void SubmitToLane(const LanePtr &lane, Call *call);

/// Shorthand: resolve with undefined.
inline Napi::Value Undefined(Napi::Env env) { return env.Undefined(); }

// Module sections register their functions on `exports`.
void InitConnection(Napi::Env env, Napi::Object exports);
void InitDomain(Napi::Env env, Napi::Object exports);
void InitNetwork(Napi::Env env, Napi::Object exports);
void InitStorage(Napi::Env env, Napi::Object exports);
void InitEvents(Napi::Env env, Napi::Object exports);
void InitStreamPump(Napi::Env env, Napi::Object exports);

/// Per-environment state (worker threads get their own).
struct InstanceData {
  Napi::FunctionReference errorFactory;
  /// Lane threads hand finished calls back to this environment's JS thread through it.
  Napi::ThreadSafeFunction completion;
  /// Calls in flight; while there are any, `completion` keeps the event loop alive.
  size_t pending = 0;
};

/// Convenience: registers a function under a name.
inline void Export(Napi::Env env, Napi::Object exports, const char *name, Napi::Function::Callback cb) {
  exports.Set(name, Napi::Function::New(env, cb, name));
}

/// Wraps an array of owned libvirt pointers (from a virConnectListAll* style call)
/// into JS handles. Taking ownership right away avoids leaks if wrapping throws.
template <typename T> Napi::Value WrapAll(Napi::Env env, const std::vector<std::shared_ptr<T>> &items) {
  Napi::Array arr = Napi::Array::New(env, items.size());
  for (size_t i = 0; i < items.size(); i++) arr.Set(i, Wrap(env, items[i]));
  return arr;
}

template <typename T> std::vector<std::shared_ptr<T>> OwnAll(T **raw, int n) {
  std::vector<std::shared_ptr<T>> out;
  if (raw == nullptr || n < 0) return out;
  out.reserve(n);
  for (int i = 0; i < n; i++) out.push_back(Own(raw[i]));
  free(raw);
  return out;
}

}  // namespace maaslab
