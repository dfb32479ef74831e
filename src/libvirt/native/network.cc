// virNetwork*, and the few virInterface* calls used to check a host bridge
// (see InitNetwork).
#include "ops.h"

namespace maaslab {
namespace {

struct Lease {
  std::string iface, mac, iaid, ipaddr, hostname, clientid;
  long long expirytime;
  int type;
  unsigned int prefix;
};

std::string Dup(const char *s) { return s == nullptr ? std::string() : std::string(s); }

Napi::Value NetworkGetDHCPLeases(const Napi::CallbackInfo &info) {
  auto n = Arg<virNetwork>(info, 0);
  OptStr mac = OptionalStr(info, 1);
  unsigned int flags = U32(info, 2);
  auto leases = std::make_shared<std::vector<Lease>>();
  return Call::Run(info.Env(), LaneArg<virNetwork>(info, 0),
      [n, mac, flags, leases] {
        virNetworkDHCPLeasePtr *raw = nullptr;
        int count = virNetworkGetDHCPLeases(n.get(), mac.c_str(), &raw, flags);
        if (count < 0) return false;
        // Copy into plain C++ values on the worker so the JS side never touches libvirt memory.
        for (int i = 0; i < count; i++) {
          virNetworkDHCPLeasePtr l = raw[i];
          leases->push_back(Lease{Dup(l->iface), Dup(l->mac), Dup(l->iaid), Dup(l->ipaddr), Dup(l->hostname),
                                  Dup(l->clientid), l->expirytime, l->type, l->prefix});
          virNetworkDHCPLeaseFree(l);
        }
        free(raw);
        return true;
      },
      [leases](Napi::Env env) {
        Napi::Array arr = Napi::Array::New(env, leases->size());
        for (size_t i = 0; i < leases->size(); i++) {
          const Lease &l = (*leases)[i];
          Napi::Object o = Napi::Object::New(env);
          o.Set("iface", l.iface);
          o.Set("expirytime", Napi::Number::New(env, static_cast<double>(l.expirytime)));
          o.Set("type", Napi::Number::New(env, l.type));
          o.Set("mac", l.mac);
          o.Set("iaid", l.iaid.empty() ? env.Null() : Napi::String::New(env, l.iaid));
          o.Set("ipaddr", l.ipaddr);
          o.Set("prefix", Napi::Number::New(env, l.prefix));
          o.Set("hostname", l.hostname.empty() ? env.Null() : Napi::String::New(env, l.hostname));
          o.Set("clientid", l.clientid.empty() ? env.Null() : Napi::String::New(env, l.clientid));
          arr.Set(i, o);
        }
        return arr;
      });
}

Napi::Value NetworkUpdate(const Napi::CallbackInfo &info) {
  auto n = Arg<virNetwork>(info, 0);
  unsigned int command = U32(info, 1);
  unsigned int section = U32(info, 2);
  int parentIndex = I32(info, 3);
  std::string xml = Str(info, 4);
  unsigned int flags = U32(info, 5);
  return Call::Run(info.Env(), LaneArg<virNetwork>(info, 0),
      [n, command, section, parentIndex, xml, flags] {
        return virNetworkUpdate(n.get(), command, section, parentIndex, xml.c_str(), flags) >= 0;
      },
      Undefined);
}

}  // namespace

void InitNetwork(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "networkGetName", SyncNameOp<virNetwork, virNetworkGetName>);
  Export(env, exports, "networkGetUUIDString", SyncUUIDOp<virNetwork, virNetworkGetUUIDString>);
  Export(env, exports, "networkCreate", VoidOp<virNetwork, virNetworkCreate>);
  Export(env, exports, "networkDestroy", VoidOp<virNetwork, virNetworkDestroy>);
  Export(env, exports, "networkUndefine", VoidOp<virNetwork, virNetworkUndefine>);
  Export(env, exports, "networkSetAutostart", SetIntOp<virNetwork, virNetworkSetAutostart>);
  Export(env, exports, "networkGetAutostart", GetBoolOp<virNetwork, virNetworkGetAutostart>);
  Export(env, exports, "networkIsActive", BoolOp<virNetwork, virNetworkIsActive>);
  Export(env, exports, "networkIsPersistent", BoolOp<virNetwork, virNetworkIsPersistent>);
  Export(env, exports, "networkGetXMLDesc", StringFlagsOp<virNetwork, virNetworkGetXMLDesc>);
  Export(env, exports, "networkGetBridgeName", StringOp<virNetwork, virNetworkGetBridgeName>);
  Export(env, exports, "networkGetDHCPLeases", NetworkGetDHCPLeases);
  Export(env, exports, "networkUpdate", NetworkUpdate);
  // virInterface* (host interfaces, e.g. the bridge a bridge-mode network names).
  Export(env, exports, "interfaceGetName", SyncNameOp<virInterface, virInterfaceGetName>);
  Export(env, exports, "interfaceGetMACString", SyncNameOp<virInterface, virInterfaceGetMACString>);
  Export(env, exports, "interfaceIsActive", BoolOp<virInterface, virInterfaceIsActive>);
}

}  // namespace maaslab
