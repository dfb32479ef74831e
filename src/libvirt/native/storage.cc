// virStoragePool*, virStorageVol* and virStream* (blocking streams on worker threads).
#include "ops.h"

namespace maaslab {
namespace {

Napi::Value StoragePoolGetInfo(const Napi::CallbackInfo &info) {
  auto p = Arg<virStoragePool>(info, 0);
  auto pi = std::make_shared<virStoragePoolInfo>();
  return Call::Run(info.Env(), LaneArg<virStoragePool>(info, 0), [p, pi] { return virStoragePoolGetInfo(p.get(), pi.get()) >= 0; },
      [pi](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("state", Napi::Number::New(env, pi->state));
        o.Set("capacity", Napi::Number::New(env, static_cast<double>(pi->capacity)));
        o.Set("allocation", Napi::Number::New(env, static_cast<double>(pi->allocation)));
        o.Set("available", Napi::Number::New(env, static_cast<double>(pi->available)));
        return o;
      });
}

Napi::Value StorageVolGetInfo(const Napi::CallbackInfo &info) {
  auto v = Arg<virStorageVol>(info, 0);
  auto vi = std::make_shared<virStorageVolInfo>();
  return Call::Run(info.Env(), LaneArg<virStorageVol>(info, 0), [v, vi] { return virStorageVolGetInfo(v.get(), vi.get()) >= 0; },
      [vi](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("type", Napi::Number::New(env, vi->type));
        o.Set("capacity", Napi::Number::New(env, static_cast<double>(vi->capacity)));
        o.Set("allocation", Napi::Number::New(env, static_cast<double>(vi->allocation)));
        return o;
      });
}

/// A volume's path and info (virStorageVolGetPath + virStorageVolGetInfo), one hop.
struct VolumeFacts {
  std::string path;
  virStorageVolInfo info{};
};

bool ReadVolumeFacts(virStorageVolPtr v, VolumeFacts &f) {
  char *path = virStorageVolGetPath(v);
  if (path == nullptr) return false;
  f.path = TakeString(path);
  return virStorageVolGetInfo(v, &f.info) >= 0;
}

Napi::Object VolumeFactsObject(Napi::Env env, const VolumeFacts &f) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("path", Napi::String::New(env, f.path));
  o.Set("type", Napi::Number::New(env, f.info.type));
  o.Set("capacity", Napi::Number::New(env, static_cast<double>(f.info.capacity)));
  o.Set("allocation", Napi::Number::New(env, static_cast<double>(f.info.allocation)));
  return o;
}

Napi::Value StorageVolFacts(const Napi::CallbackInfo &info) {
  auto v = Arg<virStorageVol>(info, 0);
  auto f = std::make_shared<VolumeFacts>();
  return Call::Run(info.Env(), LaneArg<virStorageVol>(info, 0), [v, f] { return ReadVolumeFacts(v.get(), *f); },
      [f](Napi::Env env) { return VolumeFactsObject(env, *f); });
}

/// Runs `get` (virStorageVolLookupByName, virStorageVolCreateXML, ...) on the pool of
/// argument 0, on that pool's lane, then reads the volume it returned in the same hop and
/// resolves with StorageVolFacts: { volume, path, ... }. `get` returning null is libvirt's
/// failure. When the facts cannot be read the call fails too, and a volume `get` created is
/// still returned to no one: the error says why. `get` runs on a lane thread: it must capture
/// its arguments by value. Shared by the lookup and the create, which differ only in `get`.
template <typename Get> Napi::Value PoolVolumeFacts(const Napi::CallbackInfo &info, Get get) {
  auto p = Arg<virStoragePool>(info, 0);
  auto f = std::make_shared<VolumeFacts>();
  auto vol = std::make_shared<std::shared_ptr<virStorageVol>>();
  return Call::Run(info.Env(), LaneArg<virStoragePool>(info, 0),
      [p, get, f, vol] {
        virStorageVolPtr v = get(p.get());
        if (v == nullptr) return false;
        *vol = Own(v);
        return ReadVolumeFacts(v, *f);
      },
      [f, vol](Napi::Env env) {
        Napi::Object o = VolumeFactsObject(env, *f);
        o.Set("volume", Wrap(env, *vol));
        return o;
      });
}

/// virStorageVolLookupByName, then the volume's facts as StorageVolFacts: { volume, path, ... }.
Napi::Value StorageVolLookupFacts(const Napi::CallbackInfo &info) {
  std::string name = Str(info, 1);
  return PoolVolumeFacts(info, [name](virStoragePoolPtr p) {
    return virStorageVolLookupByName(p, name.c_str());
  });
}

/// virStorageVolCreateXML, then the new volume's facts as StorageVolFacts: { volume, path, ... }.
Napi::Value StorageVolCreateXMLFacts(const Napi::CallbackInfo &info) {
  std::string xml = Str(info, 1);
  unsigned int flags = U32(info, 2);
  return PoolVolumeFacts(info, [xml, flags](virStoragePoolPtr p) {
    return virStorageVolCreateXML(p, xml.c_str(), flags);
  });
}

Napi::Value StorageVolCreateXMLFrom(const Napi::CallbackInfo &info) {
  auto p = Arg<virStoragePool>(info, 0);
  std::string xml = Str(info, 1);
  auto src = Arg<virStorageVol>(info, 2);
  unsigned int flags = U32(info, 3);
  auto result = std::make_shared<std::shared_ptr<virStorageVol>>();
  return Call::Run(info.Env(), LaneArg<virStoragePool>(info, 0),
      [p, xml, src, flags, result] {
        virStorageVolPtr v = virStorageVolCreateXMLFrom(p.get(), xml.c_str(), src.get(), flags);
        if (v == nullptr) return false;
        *result = Own(v);
        return true;
      },
      [result](Napi::Env env) { return Wrap(env, *result); });
}

Napi::Value StorageVolResize(const Napi::CallbackInfo &info) {
  auto v = Arg<virStorageVol>(info, 0);
  unsigned long long capacity = U64(info, 1);
  unsigned int flags = U32(info, 2);
  return Call::Run(info.Env(), LaneArg<virStorageVol>(info, 0), [v, capacity, flags] { return virStorageVolResize(v.get(), capacity, flags) >= 0; }, Undefined);
}

// virStorageVolUpload/Download(vol, stream, offset, length, flags)
template <int (*Fn)(virStorageVolPtr, virStreamPtr, unsigned long long, unsigned long long, unsigned int)>
Napi::Value VolTransfer(const Napi::CallbackInfo &info) {
  auto v = Arg<virStorageVol>(info, 0);
  auto s = Arg<virStream>(info, 1);
  unsigned long long offset = U64(info, 2);
  unsigned long long length = U64(info, 3);
  unsigned int flags = U32(info, 4);
  return Call::Run(info.Env(), LaneArg<virStorageVol>(info, 0), [v, s, offset, length, flags] { return Fn(v.get(), s.get(), offset, length, flags) >= 0; },
      Undefined);
}

// Sends one whole buffer. The bytes are copied so JS may reuse the buffer at once.
Napi::Value StreamSend(const Napi::CallbackInfo &info) {
  auto s = Arg<virStream>(info, 0);
  if (!info[1].IsTypedArray()) throw Napi::TypeError::New(info.Env(), "argument 1 must be a Uint8Array");
  Napi::Uint8Array arr = info[1].As<Napi::Uint8Array>();
  auto data = std::make_shared<std::vector<char>>(reinterpret_cast<const char *>(arr.Data()),
                                                  reinterpret_cast<const char *>(arr.Data()) + arr.ByteLength());
  return Call::Run(info.Env(), LaneArg<virStream>(info, 0),
      [s, data] {
        size_t off = 0;
        while (off < data->size()) {
          int n = virStreamSend(s.get(), data->data() + off, data->size() - off);
          if (n < 0) return false;  // -2 (EAGAIN) cannot happen: our streams are blocking
          off += static_cast<size_t>(n);
        }
        return true;
      },
      Undefined);
}

// Receives up to `size` bytes; resolves null at end of stream.
Napi::Value StreamRecv(const Napi::CallbackInfo &info) {
  auto s = Arg<virStream>(info, 0);
  unsigned int size = U32(info, 1);
  if (size == 0) size = 256 * 1024;
  auto buf = std::make_shared<std::vector<char>>(size);
  auto got = std::make_shared<int>(0);
  return Call::Run(info.Env(), LaneArg<virStream>(info, 0),
      [s, buf, got] {
        *got = virStreamRecv(s.get(), buf->data(), buf->size());
        return *got >= 0;
      },
      [buf, got](Napi::Env env) -> Napi::Value {
        if (*got == 0) return env.Null();
        return Napi::Buffer<char>::Copy(env, buf->data(), static_cast<size_t>(*got));
      });
}

}  // namespace

void InitStorage(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "storagePoolGetName", SyncNameOp<virStoragePool, virStoragePoolGetName>);
  Export(env, exports, "storagePoolGetUUIDString", SyncUUIDOp<virStoragePool, virStoragePoolGetUUIDString>);
  Export(env, exports, "storagePoolBuild", FlagsOp<virStoragePool, virStoragePoolBuild>);
  Export(env, exports, "storagePoolCreate", FlagsOp<virStoragePool, virStoragePoolCreate>);
  Export(env, exports, "storagePoolDestroy", VoidOp<virStoragePool, virStoragePoolDestroy>);
  Export(env, exports, "storagePoolDelete", FlagsOp<virStoragePool, virStoragePoolDelete>);
  Export(env, exports, "storagePoolUndefine", VoidOp<virStoragePool, virStoragePoolUndefine>);
  Export(env, exports, "storagePoolRefresh", FlagsOp<virStoragePool, virStoragePoolRefresh>);
  Export(env, exports, "storagePoolSetAutostart", SetIntOp<virStoragePool, virStoragePoolSetAutostart>);
  Export(env, exports, "storagePoolGetAutostart", GetBoolOp<virStoragePool, virStoragePoolGetAutostart>);
  Export(env, exports, "storagePoolIsActive", BoolOp<virStoragePool, virStoragePoolIsActive>);
  Export(env, exports, "storagePoolIsPersistent", BoolOp<virStoragePool, virStoragePoolIsPersistent>);
  Export(env, exports, "storagePoolGetInfo", StoragePoolGetInfo);
  Export(env, exports, "storagePoolGetXMLDesc", StringFlagsOp<virStoragePool, virStoragePoolGetXMLDesc>);
  Export(env, exports, "storagePoolListAllVolumes",
         ListAllOp<virStoragePool, virStorageVol, virStoragePoolListAllVolumes>);
  Export(env, exports, "storageVolLookupByName", LookupOp<virStoragePool, virStorageVol, virStorageVolLookupByName>);
  Export(env, exports, "storageVolCreateXML", CreateOp<virStoragePool, virStorageVol, virStorageVolCreateXML>);
  Export(env, exports, "storageVolCreateXMLFrom", StorageVolCreateXMLFrom);
  Export(env, exports, "storageVolGetName", SyncNameOp<virStorageVol, virStorageVolGetName>);
  Export(env, exports, "storageVolGetKey", SyncNameOp<virStorageVol, virStorageVolGetKey>);
  Export(env, exports, "storageVolGetPath", StringOp<virStorageVol, virStorageVolGetPath>);
  Export(env, exports, "storageVolGetInfo", StorageVolGetInfo);
  Export(env, exports, "storageVolFacts", StorageVolFacts);
  Export(env, exports, "storageVolLookupFacts", StorageVolLookupFacts);
  Export(env, exports, "storageVolCreateXMLFacts", StorageVolCreateXMLFacts);
  Export(env, exports, "storageVolGetXMLDesc", StringFlagsOp<virStorageVol, virStorageVolGetXMLDesc>);
  Export(env, exports, "storageVolDelete", FlagsOp<virStorageVol, virStorageVolDelete>);
  Export(env, exports, "storageVolWipe", FlagsOp<virStorageVol, virStorageVolWipe>);
  Export(env, exports, "storageVolResize", StorageVolResize);
  Export(env, exports, "storageVolUpload", VolTransfer<virStorageVolUpload>);
  Export(env, exports, "storageVolDownload", VolTransfer<virStorageVolDownload>);
  Export(env, exports, "streamSend", StreamSend);
  Export(env, exports, "streamRecv", StreamRecv);
  Export(env, exports, "streamFinish", VoidOp<virStream, virStreamFinish>);
  Export(env, exports, "streamAbort", VoidOp<virStream, virStreamAbort>);
}

}  // namespace maaslab
