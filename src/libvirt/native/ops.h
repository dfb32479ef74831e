// Templates for the common call shapes, so each libvirt function is one line.
// All of them run the libvirt call on a worker thread and return a promise.
#pragma once

#include "common.h"

namespace maaslab {

/// int f(T*) -> Promise<void>
template <typename T, int (*Fn)(T *)> Napi::Value VoidOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  return Call::Run(info.Env(), LaneArg<T>(info, 0), [p] { return Fn(p.get()) >= 0; }, Undefined);
}

/// int f(T*, unsigned int flags) -> Promise<void>
template <typename T, int (*Fn)(T *, unsigned int)> Napi::Value FlagsOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  unsigned int flags = U32(info, 1);
  return Call::Run(info.Env(), LaneArg<T>(info, 0), [p, flags] { return Fn(p.get(), flags) >= 0; }, Undefined);
}

/// int f(T*) returning 0/1 -> Promise<boolean>
template <typename T, int (*Fn)(T *)> Napi::Value BoolOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  auto result = std::make_shared<int>(0);
  return Call::Run(info.Env(), LaneArg<T>(info, 0), [p, result] { return (*result = Fn(p.get())) >= 0; },
      [result](Napi::Env env) { return Napi::Boolean::New(env, *result > 0); });
}

/// int f(T*, unsigned int) returning 0/1 -> Promise<boolean>
template <typename T, int (*Fn)(T *, unsigned int)> Napi::Value BoolFlagsOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  unsigned int flags = U32(info, 1);
  auto result = std::make_shared<int>(0);
  return Call::Run(info.Env(), LaneArg<T>(info, 0), [p, flags, result] { return (*result = Fn(p.get(), flags)) >= 0; },
      [result](Napi::Env env) { return Napi::Boolean::New(env, *result > 0); });
}

/// char* f(T*) (caller frees) -> Promise<string>
template <typename T, char *(*Fn)(T *)> Napi::Value StringOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  auto result = std::make_shared<std::string>();
  return Call::Run(info.Env(), LaneArg<T>(info, 0),
      [p, result] {
        char *s = Fn(p.get());
        if (s == nullptr) return false;
        *result = TakeString(s);
        return true;
      },
      [result](Napi::Env env) { return Napi::String::New(env, *result); });
}

/// char* f(T*, unsigned int) (caller frees) -> Promise<string>
template <typename T, char *(*Fn)(T *, unsigned int)> Napi::Value StringFlagsOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  unsigned int flags = U32(info, 1);
  auto result = std::make_shared<std::string>();
  return Call::Run(info.Env(), LaneArg<T>(info, 0),
      [p, flags, result] {
        char *s = Fn(p.get(), flags);
        if (s == nullptr) return false;
        *result = TakeString(s);
        return true;
      },
      [result](Napi::Env env) { return Napi::String::New(env, *result); });
}

/// int f(T*, int* out) -> Promise<boolean> (getAutostart)
template <typename T, int (*Fn)(T *, int *)> Napi::Value GetBoolOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  auto result = std::make_shared<int>(0);
  return Call::Run(info.Env(), LaneArg<T>(info, 0), [p, result] { return Fn(p.get(), result.get()) >= 0; },
      [result](Napi::Env env) { return Napi::Boolean::New(env, *result != 0); });
}

/// int f(T*, int) -> Promise<void> (setAutostart)
template <typename T, int (*Fn)(T *, int)> Napi::Value SetIntOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  int value = info[1].ToBoolean().Value() ? 1 : 0;
  return Call::Run(info.Env(), LaneArg<T>(info, 0), [p, value] { return Fn(p.get(), value) >= 0; }, Undefined);
}

/// int f(T*, const char*, unsigned int) -> Promise<void> (attach/detach/update device)
template <typename T, int (*Fn)(T *, const char *, unsigned int)>
Napi::Value StrFlagsOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  std::string s = Str(info, 1);
  unsigned int flags = U32(info, 2);
  return Call::Run(info.Env(), LaneArg<T>(info, 0), [p, s, flags] { return Fn(p.get(), s.c_str(), flags) >= 0; }, Undefined);
}

/// Child lookup: C* f(P*, const char*) -> Promise<handle>
template <typename P, typename C, C *(*Fn)(P *, const char *)> Napi::Value LookupOp(const Napi::CallbackInfo &info) {
  auto p = Arg<P>(info, 0);
  std::string s = Str(info, 1);
  auto result = std::make_shared<std::shared_ptr<C>>();
  return Call::Run(info.Env(), LaneArg<P>(info, 0),
      [p, s, result] {
        C *c = Fn(p.get(), s.c_str());
        if (c == nullptr) return false;
        *result = Own(c);
        return true;
      },
      [result](Napi::Env env) { return Wrap(env, *result); });
}

/// Child creation: C* f(P*, const char*, unsigned int) -> Promise<handle>
template <typename P, typename C, C *(*Fn)(P *, const char *, unsigned int)>
Napi::Value CreateOp(const Napi::CallbackInfo &info) {
  auto p = Arg<P>(info, 0);
  std::string s = Str(info, 1);
  unsigned int flags = U32(info, 2);
  auto result = std::make_shared<std::shared_ptr<C>>();
  return Call::Run(info.Env(), LaneArg<P>(info, 0),
      [p, s, flags, result] {
        C *c = Fn(p.get(), s.c_str(), flags);
        if (c == nullptr) return false;
        *result = Own(c);
        return true;
      },
      [result](Napi::Env env) { return Wrap(env, *result); });
}

/// List all: int f(P*, C***, unsigned int) -> Promise<handle[]>
template <typename P, typename C, int (*Fn)(P *, C ***, unsigned int)>
Napi::Value ListAllOp(const Napi::CallbackInfo &info) {
  auto p = Arg<P>(info, 0);
  unsigned int flags = U32(info, 1);
  auto result = std::make_shared<std::vector<std::shared_ptr<C>>>();
  return Call::Run(info.Env(), LaneArg<P>(info, 0),
      [p, flags, result] {
        C **raw = nullptr;
        int n = Fn(p.get(), &raw, flags);
        if (n < 0) return false;
        *result = OwnAll(raw, n);
        return true;
      },
      [result](Napi::Env env) { return WrapAll(env, *result); });
}

/// Local accessor that does no I/O: const char* f(T*) -> string (synchronous).
template <typename T, const char *(*Fn)(T *)> Napi::Value SyncNameOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  const char *s = Fn(p.get());
  return s == nullptr ? info.Env().Null() : Napi::String::New(info.Env(), s);
}

/// Local accessor that does no I/O: int f(T*, char* buf) -> string (synchronous UUID).
template <typename T, int (*Fn)(T *, char *)> Napi::Value SyncUUIDOp(const Napi::CallbackInfo &info) {
  auto p = Arg<T>(info, 0);
  char buf[VIR_UUID_STRING_BUFLEN] = {0};
  if (Fn(p.get(), buf) < 0) return info.Env().Null();
  return Napi::String::New(info.Env(), buf);
}

}  // namespace maaslab
