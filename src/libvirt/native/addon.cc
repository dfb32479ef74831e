// Module entry point, error capture and the generic async worker.
#include <cstdlib>

#include "common.h"

namespace maaslab {

const char *KindName(Kind kind) {
  switch (kind) {
    case Kind::Connect: return "connection";
    case Kind::Domain: return "domain";
    case Kind::Snapshot: return "snapshot";
    case Kind::Network: return "network";
    case Kind::Interface: return "interface";
    case Kind::Pool: return "storage pool";
    case Kind::Volume: return "storage volume";
    case Kind::Stream: return "stream";
  }
  return "unknown";
}

Handle *GetHandle(const Napi::CallbackInfo &info, size_t i, Kind kind) {
  Napi::Value v = info[i];
  if (!v.IsExternal()) {
    throw Napi::TypeError::New(info.Env(), std::string("argument ") + std::to_string(i) + " must be a libvirt " +
                                               KindName(kind) + " handle");
  }
  Handle *h = v.As<Napi::External<Handle>>().Data();
  if (h == nullptr || h->kind != kind) {
    throw Napi::TypeError::New(info.Env(), std::string("argument ") + std::to_string(i) + " is not a libvirt " +
                                               KindName(kind) + " handle");
  }
  return h;
}

unsigned int U32(const Napi::CallbackInfo &info, size_t i) {
  if (info[i].IsUndefined()) return 0;  // flags default to 0, as in libvirt
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().Uint32Value();
}

int I32(const Napi::CallbackInfo &info, size_t i) {
  if (info[i].IsUndefined()) return 0;
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  return info[i].As<Napi::Number>().Int32Value();
}

unsigned long long U64(const Napi::CallbackInfo &info, size_t i) {
  if (info[i].IsUndefined()) return 0;
  if (info[i].IsBigInt()) {
    bool lossless = false;
    return info[i].As<Napi::BigInt>().Uint64Value(&lossless);
  }
  if (!info[i].IsNumber()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a number");
  double d = info[i].As<Napi::Number>().DoubleValue();
  if (d < 0) throw Napi::RangeError::New(info.Env(), "argument " + std::to_string(i) + " must not be negative");
  return static_cast<unsigned long long>(d);
}

std::string Str(const Napi::CallbackInfo &info, size_t i) {
  if (!info[i].IsString()) throw Napi::TypeError::New(info.Env(), "argument " + std::to_string(i) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

OptStr OptionalStr(const Napi::CallbackInfo &info, size_t i) {
  OptStr out;
  if (info[i].IsUndefined() || info[i].IsNull()) return out;
  out.set = true;
  out.value = Str(info, i);
  return out;
}

std::string TakeString(char *s) {
  if (s == nullptr) return std::string();
  std::string out(s);
  free(s);
  return out;
}

void CapturedError::Capture() {
  virError err;
  memset(&err, 0, sizeof(err));
  // virCopyLastError returns the code, or 0 when this thread has no error; the
  // latter happens for calls that fail without reporting (rare, but possible).
  if (virCopyLastError(&err) > 0) {
    code = err.code;
    domain = err.domain;
    level = err.level;
    message = err.message != nullptr ? err.message : "libvirt error " + std::to_string(err.code);
  }
  virResetError(&err);
  virResetLastError();
}

Napi::Value MakeError(Napi::Env env, const CapturedError &err) {
  auto *data = env.GetInstanceData<InstanceData>();
  if (data != nullptr && !data->errorFactory.IsEmpty()) {
    // The TS layer owns the LibvirtError class; native code only reports fields.
    return data->errorFactory.Call({Napi::Number::New(env, err.code), Napi::Number::New(env, err.domain),
                                    Napi::Number::New(env, err.level), Napi::String::New(env, err.message)});
  }
  Napi::Error e = Napi::Error::New(env, err.message);
  e.Set("code", Napi::Number::New(env, err.code));
  e.Set("domain", Napi::Number::New(env, err.domain));
  e.Set("level", Napi::Number::New(env, err.level));
  return e.Value();
}

Call::Call(Napi::Env env, Work work, Done done)
    : deferred_(Napi::Promise::Deferred::New(env)), work_(std::move(work)), done_(std::move(done)) {}

Napi::Value Call::Run(Napi::Env env, LanePtr lane, Work work, Done done) {
  auto *data = env.GetInstanceData<InstanceData>();
  auto *call = new Call(env, std::move(work), std::move(done));
  Napi::Promise promise = call->deferred_.Promise();
  call->completion = data->completion;
  if (data->pending++ == 0) data->completion.Ref(env);
  SubmitToLane(lane ? lane : NewLane(), call);
  return promise;
}

void Call::Execute() {
  if (!work_()) {
    failed_ = true;
    error_.Capture();
  }
  // Drop captured shared_ptrs here, off the JS thread: the last reference to a
  // remote connection closes it, which is network I/O.
  work_ = nullptr;
}

void Call::Complete(Napi::Env env) {
  Napi::HandleScope scope(env);
  auto *data = env.GetInstanceData<InstanceData>();
  if (data != nullptr && --data->pending == 0) data->completion.Unref(env);
  // A call can complete while the environment is being torn down, when no JS
  // can run; nothing is waiting for the promise then, so failures are dropped
  // rather than escaping through a C callback (which would abort).
  try {
    if (failed_) {
      deferred_.Reject(MakeError(env, error_));
      return;
    }
    try {
      deferred_.Resolve(done_(env));
    } catch (const Napi::Error &e) {
      deferred_.Reject(e.Value());
    }
  } catch (const Napi::Error &) {
  }
}

namespace {

// libvirt prints every error to stderr unless a handler is installed; errors are
// delivered through promises instead.
void SilentErrorHandler(void *, virErrorPtr) {}

Napi::Value SetErrorFactory(const Napi::CallbackInfo &info) {
  auto *data = info.Env().GetInstanceData<InstanceData>();
  if (!info[0].IsFunction()) throw Napi::TypeError::New(info.Env(), "error factory must be a function");
  data->errorFactory = Napi::Persistent(info[0].As<Napi::Function>());
  return info.Env().Undefined();
}

// Drops our reference now instead of waiting for GC. For connections prefer
// connectClose, which closes off the JS thread.
Napi::Value Free(const Napi::CallbackInfo &info) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "argument 0 must be a libvirt handle");
  Handle *h = info[0].As<Napi::External<Handle>>().Data();
  bool wasLive = static_cast<bool>(h->ptr);
  h->ptr.reset();
  return Napi::Boolean::New(info.Env(), wasLive);
}

Napi::Value IsFreed(const Napi::CallbackInfo &info) {
  if (!info[0].IsExternal()) throw Napi::TypeError::New(info.Env(), "argument 0 must be a libvirt handle");
  Handle *h = info[0].As<Napi::External<Handle>>().Data();
  return Napi::Boolean::New(info.Env(), !h->ptr);
}

Napi::Value LaneThreads(const Napi::CallbackInfo &info) {
  return Napi::Number::New(info.Env(), static_cast<double>(LaneThreadCount()));
}

Napi::Value SetLaneIdleMs(const Napi::CallbackInfo &info) {
  double ms = info[0].IsNumber() ? info[0].As<Napi::Number>().DoubleValue() : -1;
  if (!(ms >= 1 && ms <= 3'600'000)) {
    throw Napi::RangeError::New(info.Env(), "lane idle time must be 1 ms to 1 h");
  }
  SetLaneIdle(std::chrono::milliseconds(static_cast<int64_t>(ms)));
  return info.Env().Undefined();
}

Napi::Value GetVersion(const Napi::CallbackInfo &info) {
  unsigned long version = 0;
  if (virGetVersion(&version, nullptr, nullptr) < 0) {
    CapturedError err;
    err.Capture();
    throw Napi::Error(info.Env(), MakeError(info.Env(), err));
  }
  return Napi::Number::New(info.Env(), static_cast<double>(version));
}

}  // namespace

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  auto *data = new InstanceData();
  env.SetInstanceData(data);
  // One thread-safe function per environment carries every finished call back to JS; it
  // holds the event loop only while calls are in flight (Call::Run refs, Complete unrefs).
  data->completion = Napi::ThreadSafeFunction::New(
      env, Napi::Function::New(env, [](const Napi::CallbackInfo &) {}), "maaslab:libvirt", 0, 1);
  data->completion.Unref(env);
  // virInitialize is idempotent and makes libvirt safe to use from many threads.
  virInitialize();
  virSetErrorFunc(nullptr, SilentErrorHandler);
  Export(env, exports, "setErrorFactory", SetErrorFactory);
  Export(env, exports, "free", Free);
  Export(env, exports, "isFreed", IsFreed);
  Export(env, exports, "getVersion", GetVersion);
  Export(env, exports, "laneThreads", LaneThreads);
  Export(env, exports, "setLaneIdleMs", SetLaneIdleMs);
  InitEvents(env, exports);  // registers the default event impl before any connect
  InitConnection(env, exports);
  InitDomain(env, exports);
  InitNetwork(env, exports);
  InitStorage(env, exports);
  InitStreamPump(env, exports);
  return exports;
}

}  // namespace maaslab

static Napi::Object InitModule(Napi::Env env, Napi::Object exports) { return maaslab::Init(env, exports); }

NODE_API_MODULE(maaslab_libvirt, InitModule)
