// virDomain* and virDomainSnapshot*.
#include "ops.h"

namespace maaslab {
namespace {

Napi::Value DomainSaveFlags(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  std::string to = Str(info, 1);
  OptStr dxml = OptionalStr(info, 2);
  unsigned int flags = U32(info, 3);
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0), [d, to, dxml, flags] { return virDomainSaveFlags(d.get(), to.c_str(), dxml.c_str(), flags) >= 0; },
      Undefined);
}

Napi::Value DomainGetState(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  unsigned int flags = U32(info, 1);
  auto st = std::make_shared<std::pair<int, int>>(0, 0);
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0), [d, flags, st] { return virDomainGetState(d.get(), &st->first, &st->second, flags) >= 0; },
      [st](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("state", Napi::Number::New(env, st->first));
        o.Set("reason", Napi::Number::New(env, st->second));
        return o;
      });
}

Napi::Value DomainGetInfo(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  auto di = std::make_shared<virDomainInfo>();
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0), [d, di] { return virDomainGetInfo(d.get(), di.get()) >= 0; },
      [di](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        o.Set("state", Napi::Number::New(env, di->state));
        o.Set("maxMem", Napi::Number::New(env, static_cast<double>(di->maxMem)));
        o.Set("memory", Napi::Number::New(env, static_cast<double>(di->memory)));
        o.Set("nrVirtCpu", Napi::Number::New(env, di->nrVirtCpu));
        o.Set("cpuTime", Napi::BigInt::New(env, static_cast<uint64_t>(di->cpuTime)));
        return o;
      });
}

/// virDomainGetJobInfo: the domain's background job (a save, a dump, a migration), if any.
/// Byte counts fit a double exactly up to 8 PiB, so they cross as numbers.
Napi::Value DomainGetJobInfo(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  auto ji = std::make_shared<virDomainJobInfo>();
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0), [d, ji] { return virDomainGetJobInfo(d.get(), ji.get()) >= 0; },
      [ji](Napi::Env env) {
        Napi::Object o = Napi::Object::New(env);
        auto num = [&](const char *k, unsigned long long v) { o.Set(k, Napi::Number::New(env, static_cast<double>(v))); };
        o.Set("type", Napi::Number::New(env, ji->type));
        num("timeElapsed", ji->timeElapsed);
        num("timeRemaining", ji->timeRemaining);
        num("dataTotal", ji->dataTotal);
        num("dataProcessed", ji->dataProcessed);
        num("dataRemaining", ji->dataRemaining);
        num("memTotal", ji->memTotal);
        num("memProcessed", ji->memProcessed);
        num("memRemaining", ji->memRemaining);
        num("fileTotal", ji->fileTotal);
        num("fileProcessed", ji->fileProcessed);
        num("fileRemaining", ji->fileRemaining);
        return o;
      });
}

/// What one look at a domain reads, filled on the worker thread.
struct DomainSnapshotOfState {
  int state = 0;
  int reason = 0;
  int persistent = 0;
  int managedSave = 0;
  std::string inactiveXml;
  bool active = false;
  std::string liveXml;
};

/// Everything a controller's look at a domain needs in one worker hop instead of five:
/// virDomainGetState, virDomainIsPersistent, virDomainHasManagedSaveImage, the persistent
/// definition and, while the domain runs, the live one. Each call still is its own RPC to
/// libvirtd; what this saves is four thread round trips and promise settlements on the JS
/// thread. The first failure ends the call with that function's error.
Napi::Value DomainObserve(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  unsigned int xmlFlags = U32(info, 1);
  auto o = std::make_shared<DomainSnapshotOfState>();
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0),
      [d, xmlFlags, o] {
        if (virDomainGetState(d.get(), &o->state, &o->reason, 0) < 0) return false;
        if ((o->persistent = virDomainIsPersistent(d.get())) < 0) return false;
        if ((o->managedSave = virDomainHasManagedSaveImage(d.get(), 0)) < 0) return false;
        char *inactive = virDomainGetXMLDesc(d.get(), xmlFlags | VIR_DOMAIN_XML_INACTIVE);
        if (inactive == nullptr) return false;
        o->inactiveXml = TakeString(inactive);
        // Not shut off and with a state: there is a live definition to read (as the TypeScript
        // side's ACTIVE_STATES, which counts a crashed domain QEMU may still hold).
        o->active = o->state != VIR_DOMAIN_SHUTOFF && o->state != VIR_DOMAIN_NOSTATE;
        if (!o->active) return true;
        char *live = virDomainGetXMLDesc(d.get(), xmlFlags);
        if (live == nullptr) return false;
        o->liveXml = TakeString(live);
        return true;
      },
      [o](Napi::Env env) {
        Napi::Object r = Napi::Object::New(env);
        r.Set("state", Napi::Number::New(env, o->state));
        r.Set("reason", Napi::Number::New(env, o->reason));
        r.Set("persistent", Napi::Boolean::New(env, o->persistent > 0));
        r.Set("hasManagedSave", Napi::Boolean::New(env, o->managedSave > 0));
        r.Set("inactiveXml", Napi::String::New(env, o->inactiveXml));
        r.Set("liveXml", o->active ? Napi::Value(Napi::String::New(env, o->liveXml)) : env.Null());
        return r;
      });
}

/// A look after a start by the same pass, which knows the rest unchanged: virDomainGetState
/// and, unless the domain is shut off or without a state, its live definition. Two RPCs in
/// one worker hop instead of DomainObserve's five.
Napi::Value DomainObserveLive(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  unsigned int xmlFlags = U32(info, 1);
  auto o = std::make_shared<DomainSnapshotOfState>();
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0),
      [d, xmlFlags, o] {
        if (virDomainGetState(d.get(), &o->state, &o->reason, 0) < 0) return false;
        o->active = o->state != VIR_DOMAIN_SHUTOFF && o->state != VIR_DOMAIN_NOSTATE;
        if (!o->active) return true;
        char *live = virDomainGetXMLDesc(d.get(), xmlFlags);
        if (live == nullptr) return false;
        o->liveXml = TakeString(live);
        return true;
      },
      [o](Napi::Env env) {
        Napi::Object r = Napi::Object::New(env);
        r.Set("state", Napi::Number::New(env, o->state));
        r.Set("reason", Napi::Number::New(env, o->reason));
        r.Set("liveXml", o->active ? Napi::Value(Napi::String::New(env, o->liveXml)) : env.Null());
        return r;
      });
}

Napi::Value DomainGetID(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  unsigned int id = virDomainGetID(d.get());
  // (unsigned)-1 means "not running": surface it as -1.
  return Napi::Number::New(info.Env(), id == static_cast<unsigned int>(-1) ? -1 : static_cast<double>(id));
}

Napi::Value DomainGetMetadata(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  int type = I32(info, 1);
  OptStr uri = OptionalStr(info, 2);
  unsigned int flags = U32(info, 3);
  auto result = std::make_shared<std::string>();
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0),
      [d, type, uri, flags, result] {
        char *s = virDomainGetMetadata(d.get(), type, uri.c_str(), flags);
        if (s == nullptr) return false;
        *result = TakeString(s);
        return true;
      },
      [result](Napi::Env env) { return Napi::String::New(env, *result); });
}

Napi::Value DomainSetMetadata(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  int type = I32(info, 1);
  OptStr metadata = OptionalStr(info, 2);
  OptStr key = OptionalStr(info, 3);
  OptStr uri = OptionalStr(info, 4);
  unsigned int flags = U32(info, 5);
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0),
      [d, type, metadata, key, uri, flags] {
        return virDomainSetMetadata(d.get(), type, metadata.c_str(), key.c_str(), uri.c_str(), flags) >= 0;
      },
      Undefined);
}

Napi::Value DomainSnapshotCurrent(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  unsigned int flags = U32(info, 1);
  auto result = std::make_shared<std::shared_ptr<virDomainSnapshot>>();
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0),
      [d, flags, result] {
        virDomainSnapshotPtr s = virDomainSnapshotCurrent(d.get(), flags);
        if (s == nullptr) return false;
        *result = Own(s);
        return true;
      },
      [result](Napi::Env env) { return Wrap(env, *result); });
}

Napi::Value DomainSnapshotLookupByName(const Napi::CallbackInfo &info) {
  auto d = Arg<virDomain>(info, 0);
  std::string name = Str(info, 1);
  unsigned int flags = U32(info, 2);
  auto result = std::make_shared<std::shared_ptr<virDomainSnapshot>>();
  return Call::Run(info.Env(), LaneArg<virDomain>(info, 0),
      [d, name, flags, result] {
        virDomainSnapshotPtr s = virDomainSnapshotLookupByName(d.get(), name.c_str(), flags);
        if (s == nullptr) return false;
        *result = Own(s);
        return true;
      },
      [result](Napi::Env env) { return Wrap(env, *result); });
}

Napi::Value DomainSnapshotGetParent(const Napi::CallbackInfo &info) {
  auto s = Arg<virDomainSnapshot>(info, 0);
  unsigned int flags = U32(info, 1);
  auto result = std::make_shared<std::shared_ptr<virDomainSnapshot>>();
  return Call::Run(info.Env(), LaneArg<virDomainSnapshot>(info, 0),
      [s, flags, result] {
        virDomainSnapshotPtr p = virDomainSnapshotGetParent(s.get(), flags);
        if (p == nullptr) return false;
        *result = Own(p);
        return true;
      },
      [result](Napi::Env env) { return Wrap(env, *result); });
}

}  // namespace

void InitDomain(Napi::Env env, Napi::Object exports) {
  Export(env, exports, "domainGetName", SyncNameOp<virDomain, virDomainGetName>);
  Export(env, exports, "domainGetUUIDString", SyncUUIDOp<virDomain, virDomainGetUUIDString>);
  Export(env, exports, "domainGetID", DomainGetID);
  Export(env, exports, "domainCreateWithFlags", FlagsOp<virDomain, virDomainCreateWithFlags>);
  Export(env, exports, "domainShutdownFlags", FlagsOp<virDomain, virDomainShutdownFlags>);
  Export(env, exports, "domainDestroyFlags", FlagsOp<virDomain, virDomainDestroyFlags>);
  Export(env, exports, "domainReboot", FlagsOp<virDomain, virDomainReboot>);
  Export(env, exports, "domainReset", FlagsOp<virDomain, virDomainReset>);
  Export(env, exports, "domainSuspend", VoidOp<virDomain, virDomainSuspend>);
  Export(env, exports, "domainResume", VoidOp<virDomain, virDomainResume>);
  Export(env, exports, "domainManagedSave", FlagsOp<virDomain, virDomainManagedSave>);
  Export(env, exports, "domainHasManagedSaveImage", BoolFlagsOp<virDomain, virDomainHasManagedSaveImage>);
  Export(env, exports, "domainManagedSaveRemove", FlagsOp<virDomain, virDomainManagedSaveRemove>);
  Export(env, exports, "domainSaveFlags", DomainSaveFlags);
  Export(env, exports, "domainUndefineFlags", FlagsOp<virDomain, virDomainUndefineFlags>);
  Export(env, exports, "domainGetXMLDesc", StringFlagsOp<virDomain, virDomainGetXMLDesc>);
  Export(env, exports, "domainGetState", DomainGetState);
  Export(env, exports, "domainGetInfo", DomainGetInfo);
  Export(env, exports, "domainGetJobInfo", DomainGetJobInfo);
  Export(env, exports, "domainAbortJobFlags", FlagsOp<virDomain, virDomainAbortJobFlags>);
  Export(env, exports, "domainObserve", DomainObserve);
  Export(env, exports, "domainObserveLive", DomainObserveLive);
  Export(env, exports, "domainIsActive", BoolOp<virDomain, virDomainIsActive>);
  Export(env, exports, "domainIsPersistent", BoolOp<virDomain, virDomainIsPersistent>);
  Export(env, exports, "domainSetAutostart", SetIntOp<virDomain, virDomainSetAutostart>);
  Export(env, exports, "domainGetAutostart", GetBoolOp<virDomain, virDomainGetAutostart>);
  Export(env, exports, "domainAttachDeviceFlags", StrFlagsOp<virDomain, virDomainAttachDeviceFlags>);
  Export(env, exports, "domainDetachDeviceFlags", StrFlagsOp<virDomain, virDomainDetachDeviceFlags>);
  Export(env, exports, "domainUpdateDeviceFlags", StrFlagsOp<virDomain, virDomainUpdateDeviceFlags>);
  Export(env, exports, "domainGetMetadata", DomainGetMetadata);
  Export(env, exports, "domainSetMetadata", DomainSetMetadata);
  Export(env, exports, "domainSnapshotCreateXML", CreateOp<virDomain, virDomainSnapshot, virDomainSnapshotCreateXML>);
  Export(env, exports, "domainListAllSnapshots", ListAllOp<virDomain, virDomainSnapshot, virDomainListAllSnapshots>);
  Export(env, exports, "domainSnapshotLookupByName", DomainSnapshotLookupByName);
  Export(env, exports, "domainSnapshotCurrent", DomainSnapshotCurrent);
  Export(env, exports, "domainHasCurrentSnapshot", BoolFlagsOp<virDomain, virDomainHasCurrentSnapshot>);
  Export(env, exports, "domainSnapshotGetName", SyncNameOp<virDomainSnapshot, virDomainSnapshotGetName>);
  Export(env, exports, "domainSnapshotGetXMLDesc", StringFlagsOp<virDomainSnapshot, virDomainSnapshotGetXMLDesc>);
  Export(env, exports, "domainSnapshotGetParent", DomainSnapshotGetParent);
  Export(env, exports, "domainSnapshotIsCurrent", BoolFlagsOp<virDomainSnapshot, virDomainSnapshotIsCurrent>);
  Export(env, exports, "domainSnapshotListAllChildren",
         ListAllOp<virDomainSnapshot, virDomainSnapshot, virDomainSnapshotListAllChildren>);
  Export(env, exports, "domainRevertToSnapshot", FlagsOp<virDomainSnapshot, virDomainRevertToSnapshot>);
  Export(env, exports, "domainSnapshotDelete", FlagsOp<virDomainSnapshot, virDomainSnapshotDelete>);
}

}  // namespace maaslab
