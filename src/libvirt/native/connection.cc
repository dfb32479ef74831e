// virConnect*: open/close, host facts, and the per-connection lookups and lists.
#include "ops.h"

namespace maaslab {
namespace {

Napi::Value ConnectOpen(const Napi::CallbackInfo &info) {
  OptStr uri = OptionalStr(info, 0);
  unsigned int flags = U32(info, 1);
  auto result = std::make_shared<std::shared_ptr<virConnect>>();
  return Call::Run(info.Env(), NewLane(),
      [uri, flags, result] {
        // virConnectAuthPtrDefault honours VIR_CONNECT_RO and prompts nobody for
        // credentials-less URIs; the operator never runs interactively.
        virConnectPtr c = virConnectOpenAuth(uri.c_str(), virConnectAuthPtrDefault, flags);
        if (c == nullptr) return false;
        // The attempt ran on a lane of its own; the connection gets a fresh one.
        RegisterConnectionLane(c);
        *result = Own(c);
        return true;
      },
      [result](Napi::Env env) { return Wrap(env, *result); });
}

// Moves our reference out of the handle and drops it on a worker thread, because
// closing a remote connection is network I/O.
Napi::Value ConnectClose(const Napi::CallbackInfo &info) {
  Handle *h = GetHandle(info, 0, Kind::Connect);
  auto p = std::static_pointer_cast<virConnect>(h->ptr);
  h->ptr.reset();
  return Call::Run(info.Env(), h->lane,
      [p]() mutable {
        p.reset();
        return true;
      },
      Undefined);
}

Napi::Value ConnectGetLibVersion(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  auto v = std::make_shared<unsigned long>(0);
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0), [c, v] { return virConnectGetLibVersion(c.get(), v.get()) >= 0; },
      [v](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*v)); });
}

// virConnectGetLibVersion on a lane of its own rather than the connection's: the stall nudge
// (src/libvirt/hypervisor/stall-nudge.ts) must get through while the connection's lane is
// full of the very calls it unsticks.
Napi::Value ConnectGetLibVersionAside(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  auto v = std::make_shared<unsigned long>(0);
  return Call::Run(info.Env(), NewLane(), [c, v] { return virConnectGetLibVersion(c.get(), v.get()) >= 0; },
      [v](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*v)); });
}

Napi::Value ConnectGetVersion(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  auto v = std::make_shared<unsigned long>(0);
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0), [c, v] { return virConnectGetVersion(c.get(), v.get()) >= 0; },
      [v](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*v)); });
}

Napi::Value ConnectGetType(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  auto s = std::make_shared<std::string>();
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0),
      [c, s] {
        const char *t = virConnectGetType(c.get());  // static string, not freed
        if (t == nullptr) return false;
        *s = t;
        return true;
      },
      [s](Napi::Env env) { return Napi::String::New(env, *s); });
}

Napi::Value NodeGetInfo(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  auto ni = std::make_shared<virNodeInfo>();
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0), [c, ni] { return virNodeGetInfo(c.get(), ni.get()) >= 0; },
      [ni](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("model", Napi::String::New(env, ni->model));
        o.Set("memory", Napi::Number::New(env, static_cast<double>(ni->memory)));
        o.Set("cpus", Napi::Number::New(env, ni->cpus));
        o.Set("mhz", Napi::Number::New(env, ni->mhz));
        o.Set("nodes", Napi::Number::New(env, ni->nodes));
        o.Set("sockets", Napi::Number::New(env, ni->sockets));
        o.Set("cores", Napi::Number::New(env, ni->cores));
        o.Set("threads", Napi::Number::New(env, ni->threads));
        return o;
      });
}

Napi::Value NodeGetFreeMemory(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  auto v = std::make_shared<unsigned long long>(0);
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0),
      [c, v] {
        // 0 is both "error" and a legal value; tell them apart by the error state.
        virResetLastError();
        *v = virNodeGetFreeMemory(c.get());
        return !(*v == 0 && virGetLastError() != nullptr);
      },
      [v](Napi::Env env) { return Napi::Number::New(env, static_cast<double>(*v)); });
}

Napi::Value ConnectSetKeepAlive(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  int interval = I32(info, 1);
  unsigned int count = U32(info, 2);
  auto r = std::make_shared<int>(0);
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0), [c, interval, count, r] { return (*r = virConnectSetKeepAlive(c.get(), interval, count)) >= 0; },
      // 1 means the remote side does not support keepalive; report it as false.
      [r](Napi::Env env) { return Napi::Boolean::New(env, *r == 0); });
}

Napi::Value DomainDefineXMLFlags(const Napi::CallbackInfo &info) {
  return CreateOp<virConnect, virDomain, virDomainDefineXMLFlags>(info);
}

Napi::Value DomainRestoreFlags(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  std::string from = Str(info, 1);
  OptStr dxml = OptionalStr(info, 2);
  unsigned int flags = U32(info, 3);
  return Call::Run(info.Env(), LaneArg<virConnect>(info, 0), [c, from, dxml, flags] { return virDomainRestoreFlags(c.get(), from.c_str(), dxml.c_str(), flags) >= 0; },
      Undefined);
}

Napi::Value StreamNew(const Napi::CallbackInfo &info) {
  auto c = Arg<virConnect>(info, 0);
  unsigned int flags = U32(info, 1);
  // virStreamNew only allocates; no I/O, so it runs synchronously.
  virStreamPtr s = virStreamNew(c.get(), flags);
  if (s == nullptr) {
    CapturedError err;
    err.Capture();
    throw Napi::Error(info.Env(), MakeError(info.Env(), err));
  }
  Napi::Value handle = Wrap(info.Env(), Own(s));
  // libvirt has no accessor for a stream's connection: its I/O runs on the connection's lane.
  handle.As<Napi::External<Handle>>().Data()->lane = LaneArg<virConnect>(info, 0);
  return handle;
}

}  // namespace

void InitConnection(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "connectOpen", ConnectOpen);
  Export(env, exports, "connectClose", ConnectClose);
  Export(env, exports, "connectGetHostname", StringOp<virConnect, virConnectGetHostname>);
  Export(env, exports, "connectGetURI", StringOp<virConnect, virConnectGetURI>);
  Export(env, exports, "connectGetCapabilities", StringOp<virConnect, virConnectGetCapabilities>);
  Export(env, exports, "connectGetSysinfo", StringFlagsOp<virConnect, virConnectGetSysinfo>);
  Export(env, exports, "connectGetLibVersion", ConnectGetLibVersion);
  Export(env, exports, "connectGetLibVersionAside", ConnectGetLibVersionAside);
  Export(env, exports, "connectGetVersion", ConnectGetVersion);
  Export(env, exports, "connectGetType", ConnectGetType);
  Export(env, exports, "connectIsAlive", BoolOp<virConnect, virConnectIsAlive>);
  Export(env, exports, "connectSetKeepAlive", ConnectSetKeepAlive);
  Export(env, exports, "nodeGetInfo", NodeGetInfo);
  Export(env, exports, "nodeGetFreeMemory", NodeGetFreeMemory);
  Export(env, exports, "connectListAllDomains", ListAllOp<virConnect, virDomain, virConnectListAllDomains>);
  Export(env, exports, "domainLookupByName", LookupOp<virConnect, virDomain, virDomainLookupByName>);
  Export(env, exports, "domainLookupByUUIDString", LookupOp<virConnect, virDomain, virDomainLookupByUUIDString>);
  Export(env, exports, "domainDefineXMLFlags", DomainDefineXMLFlags);
  Export(env, exports, "domainCreateXML", CreateOp<virConnect, virDomain, virDomainCreateXML>);
  Export(env, exports, "domainRestoreFlags", DomainRestoreFlags);
  Export(env, exports, "connectListAllNetworks", ListAllOp<virConnect, virNetwork, virConnectListAllNetworks>);
  Export(env, exports, "networkLookupByName", LookupOp<virConnect, virNetwork, virNetworkLookupByName>);
  Export(env, exports, "networkLookupByUUIDString", LookupOp<virConnect, virNetwork, virNetworkLookupByUUIDString>);
  Export(env, exports, "networkDefineXMLFlags", CreateOp<virConnect, virNetwork, virNetworkDefineXMLFlags>);
  Export(env, exports, "networkCreateXMLFlags", CreateOp<virConnect, virNetwork, virNetworkCreateXMLFlags>);
  Export(env, exports, "interfaceLookupByName", LookupOp<virConnect, virInterface, virInterfaceLookupByName>);
  Export(env, exports, "connectListAllStoragePools",
         ListAllOp<virConnect, virStoragePool, virConnectListAllStoragePools>);
  Export(env, exports, "storagePoolLookupByName", LookupOp<virConnect, virStoragePool, virStoragePoolLookupByName>);
  Export(env, exports, "storagePoolLookupByUUIDString",
         LookupOp<virConnect, virStoragePool, virStoragePoolLookupByUUIDString>);
  Export(env, exports, "storagePoolDefineXML", CreateOp<virConnect, virStoragePool, virStoragePoolDefineXML>);
  Export(env, exports, "storagePoolCreateXML", CreateOp<virConnect, virStoragePool, virStoragePoolCreateXML>);
  Export(env, exports, "storageVolLookupByPath", LookupOp<virConnect, virStorageVol, virStorageVolLookupByPath>);
  Export(env, exports, "storageVolLookupByKey", LookupOp<virConnect, virStorageVol, virStorageVolLookupByKey>);
  Export(env, exports, "streamNew", StreamNew);
}

}  // namespace maaslab
