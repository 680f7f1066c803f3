// memfd_create, ftruncate and file seals.
#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "native.h"

namespace mdevsim {

namespace {

// memfd_create(name, flags) -> fd. The caller chooses the flags (the facade
// always passes MFD_CLOEXEC | MFD_ALLOW_SEALING).
Napi::Value MemfdCreate(const Napi::CallbackInfo& info) {
  std::string name;
  int64_t flags = 0;
  if (!ArgString(info, 0, "memfdCreate", "name", &name) ||
      !ArgInt(info, 1, "memfdCreate", "flags", 0, UINT32_MAX, &flags))
    return Napi::Value();
  const int fd = memfd_create(name.c_str(), static_cast<unsigned>(flags));
  if (fd < 0) {
    ThrowErrno(info.Env(), "memfd_create", errno);
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), fd);
}

// ftruncate(fd, size): sets the size of a memfd (sparse: pages are allocated
// only when touched).
Napi::Value Ftruncate(const Napi::CallbackInfo& info) {
  int fd = 0;
  int64_t size = 0;
  if (!ArgFd(info, 0, "ftruncate", &fd) ||
      !ArgInt(info, 1, "ftruncate", "size", 0, 9007199254740991LL, &size))
    return Napi::Value();
  int rc;
  do rc = ftruncate(fd, static_cast<off_t>(size));
  while (rc != 0 && errno == EINTR);
  if (rc != 0) ThrowErrno(info.Env(), "ftruncate", errno);
  return info.Env().Undefined();
}

// fcntl(fd, F_ADD_SEALS, seals)
Napi::Value AddSeals(const Napi::CallbackInfo& info) {
  int fd = 0;
  int64_t seals = 0;
  if (!ArgFd(info, 0, "addSeals", &fd) || !ArgInt(info, 1, "addSeals", "seals", 0, INT32_MAX, &seals))
    return Napi::Value();
  if (fcntl(fd, F_ADD_SEALS, static_cast<int>(seals)) != 0) ThrowErrno(info.Env(), "fcntl", errno);
  return info.Env().Undefined();
}

// fcntl(fd, F_GET_SEALS) -> seals
Napi::Value GetSeals(const Napi::CallbackInfo& info) {
  int fd = 0;
  if (!ArgFd(info, 0, "getSeals", &fd)) return Napi::Value();
  const int seals = fcntl(fd, F_GET_SEALS);
  if (seals < 0) {
    ThrowErrno(info.Env(), "fcntl", errno);
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), seals);
}

}  // namespace

void InitMemfd(Napi::Env env, Napi::Object exports) {
  exports.Set("memfdCreate", Napi::Function::New(env, MemfdCreate, "memfdCreate"));
  exports.Set("ftruncate", Napi::Function::New(env, Ftruncate, "ftruncate"));
  exports.Set("addSeals", Napi::Function::New(env, AddSeals, "addSeals"));
  exports.Set("getSeals", Napi::Function::New(env, GetSeals, "getSeals"));
}

}  // namespace mdevsim
