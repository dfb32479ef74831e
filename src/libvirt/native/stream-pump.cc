// Interactive streams: a console (virDomainOpenConsole) moves bytes both ways for as long as
// someone is attached, so it cannot borrow a lane thread per read the way a volume upload does
// (a blocked virStreamRecv would hold one of the connection's four threads for the whole
// session). A console stream is therefore non-blocking (VIR_STREAM_NONBLOCK) and pumped by
// libvirt's own event loop (events.cc): virStreamEventAddCallback wakes us on the loop thread
// when the stream is readable or writable, we read until EAGAIN (-2) and hand each chunk to
// JS through a thread-safe function, and JS writes go to a queue the loop thread drains while
// the stream is writable. This is what `virsh console` does (tools/virsh-console.c).
//
// Lifetimes (why it is built this way):
// - The pump is a shared_ptr; libvirt's opaque pointer owns one reference (freed by its
//   freecb), the JS handle another, so neither side can free it under the other.
// - `mu` serialises the loop thread's callback with JS calls (write, pause, close). Lock
//   order is always pump mutex → libvirt's locks; libvirt holds none of its locks while it
//   calls our callback (virNetClientStreamEventTimer unlocks first).
// - After close() no event reaches JS: the callback checks `open` under the mutex.
// - Closing aborts the stream (virStreamAbort, as virsh does for a console): a console has no
//   "transfer complete" to confirm. Abort is an RPC, so it runs on the connection's lane.
// Also virDomainOpenGraphicsFD, which hands back a socket to the domain's VNC server.
#include <deque>
#include <mutex>

#include "common.h"

namespace maaslab {
namespace {

/// What the loop thread reports to JS (the first argument of the JS callback).
enum PumpEvent { kData = 0, kEnd = 1, kError = 2, kDrain = 3 };

/// Bytes per virStreamRecv; a console or VNC frame is far smaller.
constexpr size_t kChunk = 64 * 1024;
/// Reads per wake-up before yielding the loop to other streams and connections.
constexpr int kMaxReadsPerEvent = 16;

struct Delivery {
  PumpEvent kind;
  std::vector<char> data;
  CapturedError error;
};

struct Pump {
  std::mutex mu;
  std::shared_ptr<virStream> stream;
  LanePtr lane;
  Napi::ThreadSafeFunction tsfn;
  bool open = false;        // callback registered and JS still listening
  bool paused = false;      // JS asked for no more data until resume (backpressure)
  bool eof = false;         // the stream said end of data
  int mask = 0;             // events registered now
  std::deque<std::vector<char>> out;
  size_t outOffset = 0;     // bytes of out.front() already sent
  size_t queued = 0;        // bytes in `out` not yet sent

  int WantedMask() const {
    int m = VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP;
    if (!paused && !eof) m |= VIR_STREAM_EVENT_READABLE;
    if (!out.empty()) m |= VIR_STREAM_EVENT_WRITABLE;
    return m;
  }

  // With mu held.
  void UpdateMask() {
    int m = WantedMask();
    if (open && m != mask) {
      virStreamEventUpdateCallback(stream.get(), m);
      mask = m;
    }
  }

  // With mu held: hands one event to JS. Never blocks (the queue is unbounded).
  void Deliver(Delivery *d) {
    napi_status st = tsfn.NonBlockingCall(d, [](Napi::Env env, Napi::Function cb, Delivery *d) {
      if (env != nullptr && cb != nullptr) {
        Napi::HandleScope scope(env);
        switch (d->kind) {
          case kData:
            cb.Call({Napi::Number::New(env, d->kind), Napi::Buffer<char>::Copy(env, d->data.data(), d->data.size())});
            break;
          case kError:
            cb.Call({Napi::Number::New(env, d->kind), MakeError(env, d->error)});
            break;
          default:
            cb.Call({Napi::Number::New(env, d->kind)});
        }
      }
      delete d;
    });
    if (st != napi_ok) delete d;
  }

  // With mu held: stops events and tells JS why. Idempotent.
  void Stop(Delivery *last) {
    if (!open) {
      delete last;
      return;
    }
    virStreamEventRemoveCallback(stream.get());
    open = false;
    mask = 0;
    if (last != nullptr) Deliver(last);
    tsfn.Release();
  }
};

using PumpPtr = std::shared_ptr<Pump>;

void FreePumpOpaque(void *opaque) { delete static_cast<PumpPtr *>(opaque); }

Delivery *ErrorDelivery() {
  auto *d = new Delivery{kError, {}, {}};
  d->error.Capture();
  return d;
}

// On libvirt's event loop thread.
void OnStreamEvent(virStreamPtr st, int events, void *opaque) {
  PumpPtr p = *static_cast<PumpPtr *>(opaque);
  std::lock_guard<std::mutex> lock(p->mu);
  if (!p->open) return;
  if ((events & VIR_STREAM_EVENT_READABLE) && !p->paused && !p->eof) {
    for (int i = 0; i < kMaxReadsPerEvent; i++) {
      std::vector<char> buf(kChunk);
      int n = virStreamRecv(st, buf.data(), buf.size());
      if (n == -2) break;  // EAGAIN: nothing more for now
      if (n < 0) {
        p->Stop(ErrorDelivery());
        return;
      }
      if (n == 0) {
        p->eof = true;
        p->Deliver(new Delivery{kEnd, {}, {}});
        break;
      }
      buf.resize(static_cast<size_t>(n));
      p->Deliver(new Delivery{kData, std::move(buf), {}});
    }
  }
  if ((events & VIR_STREAM_EVENT_WRITABLE) && !p->out.empty()) {
    while (!p->out.empty()) {
      std::vector<char> &front = p->out.front();
      int n = virStreamSend(st, front.data() + p->outOffset, front.size() - p->outOffset);
      if (n == -2) break;
      if (n < 0) {
        p->Stop(ErrorDelivery());
        return;
      }
      p->outOffset += static_cast<size_t>(n);
      p->queued -= static_cast<size_t>(n);
      if (p->outOffset == front.size()) {
        p->out.pop_front();
        p->outOffset = 0;
      }
    }
    if (p->out.empty()) p->Deliver(new Delivery{kDrain, {}, {}});
  }
  if ((events & (VIR_STREAM_EVENT_ERROR | VIR_STREAM_EVENT_HANGUP)) && !p->eof) {
    // The other end went away without an orderly end of data: report it as the end, since a
    // console's guest side has no other way to say it is gone (the domain stopped).
    p->eof = true;
    p->Deliver(new Delivery{kEnd, {}, {}});
  }
  p->UpdateMask();
}

PumpPtr GetPump(const Napi::CallbackInfo &info, size_t i) {
  if (!info[i].IsExternal()) throw Napi::TypeError::New(info.Env(), "argument must be a stream pump");
  return *info[i].As<Napi::External<PumpPtr>>().Data();
}

// streamPumpStart(stream, cb): registers the stream with the event loop. The stream must be
// non-blocking and already attached (e.g. by domainOpenConsole). Returns the pump handle.
Napi::Value StreamPumpStart(const Napi::CallbackInfo &info) {
  Napi::Env env = info.Env();
  auto s = Arg<virStream>(info, 0);
  if (!info[1].IsFunction()) throw Napi::TypeError::New(env, "callback must be a function");
  auto p = std::make_shared<Pump>();
  p->stream = s;
  p->lane = LaneArg<virStream>(info, 0);
  // The TSFN keeps the process alive while the stream is open, as a socket does.
  p->tsfn = Napi::ThreadSafeFunction::New(env, info[1].As<Napi::Function>(), "maaslab:stream-pump", 0, 1);
  std::lock_guard<std::mutex> lock(p->mu);
  p->mask = p->WantedMask();
  auto *opaque = new PumpPtr(p);
  if (virStreamEventAddCallback(s.get(), p->mask, OnStreamEvent, opaque, FreePumpOpaque) < 0) {
    CapturedError err;
    err.Capture();
    delete opaque;
    p->tsfn.Release();
    throw Napi::Error(env, MakeError(env, err));
  }
  p->open = true;
  return Napi::External<PumpPtr>::New(env, new PumpPtr(p), [](Napi::Env, PumpPtr *q) { delete q; });
}

// streamPumpWrite(pump, bytes): queues a copy; returns the bytes queued and not yet sent.
Napi::Value StreamPumpWrite(const Napi::CallbackInfo &info) {
  PumpPtr p = GetPump(info, 0);
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "argument 1 must be a Uint8Array");
  Napi::Uint8Array arr = info[1].As<Napi::Uint8Array>();
  std::lock_guard<std::mutex> lock(p->mu);
  if (!p->open) throw Napi::Error::New(info.Env(), "stream is closed");
  if (arr.ByteLength() > 0) {
    const char *data = reinterpret_cast<const char *>(arr.Data());
    p->out.emplace_back(data, data + arr.ByteLength());
    p->queued += arr.ByteLength();
    p->UpdateMask();
  }
  return Napi::Number::New(info.Env(), static_cast<double>(p->queued));
}

// streamPumpSetPaused(pump, paused): stops or resumes reading (JS's backpressure).
Napi::Value StreamPumpSetPaused(const Napi::CallbackInfo &info) {
  PumpPtr p = GetPump(info, 0);
  std::lock_guard<std::mutex> lock(p->mu);
  p->paused = info[1].ToBoolean().Value();
  p->UpdateMask();
  return info.Env().Undefined();
}

// streamPumpClose(pump): no more events; aborts the stream on the lane. Idempotent.
Napi::Value StreamPumpClose(const Napi::CallbackInfo &info) {
  PumpPtr p = GetPump(info, 0);
  {
    std::lock_guard<std::mutex> lock(p->mu);
    p->Stop(nullptr);
    p->out.clear();
    p->queued = 0;
  }
  auto s = p->stream;
  // virStreamAbort fails on a stream the server already finished; that is a closed stream too.
  return Call::Run(info.Env(), p->lane,
      [s] {
        virStreamAbort(s.get());
        virResetLastError();
        return true;
      },
      Undefined);
}

// virDomainOpenConsole(dom, devName | null, stream, flags)
Napi::Value DomainOpenConsole(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  OptStr dev = OptionalStr(info, 1);
  auto s = Arg<virStream>(info, 2);
  unsigned int flags = U32(info, 3);
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0),
      [d, dev, s, flags] { return virDomainOpenConsole(d.get(), dev.c_str(), s.get(), flags) >= 0; }, Undefined);
}

// virDomainOpenGraphicsFD(dom, idx, flags) -> Promise<fd>; the caller owns the descriptor.
Napi::Value DomainOpenGraphicsFD(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  unsigned int idx = U32(info, 1);
  unsigned int flags = U32(info, 2);
  auto fd = std::make_shared<int>(-1);
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0),
      [d, idx, flags, fd] { return (*fd = virDomainOpenGraphicsFD(d.get(), idx, flags)) >= 0; },
      [fd](Napi::Env env) { return Napi::Number::New(env, *fd); });
}

}  // namespace

void InitStreamPump(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "streamPumpStart", StreamPumpStart);
  Export(env, exports, "streamPumpWrite", StreamPumpWrite);
  Export(env, exports, "streamPumpSetPaused", StreamPumpSetPaused);
  Export(env, exports, "streamPumpClose", StreamPumpClose);
  Export(env, exports, "domainOpenConsole", DomainOpenConsole);
  Export(env, exports, "domainOpenGraphicsFD", DomainOpenGraphicsFD);
}

}  // namespace maaslab
