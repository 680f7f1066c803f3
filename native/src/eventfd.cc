// eventfd(2): create, add to the counter, read-and-reset.
//
// read/write take no MSG_DONTWAIT: the fd itself must be O_NONBLOCK (the
// facade creates eventfds with EFD_NONBLOCK and sets O_NONBLOCK on adopted
// ones), otherwise eventfdRead blocks while the counter is 0.
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>

#include "native.h"

namespace mdevsim {

namespace {

// eventfd(initval, flags) -> fd
Napi::Value Eventfd(const Napi::CallbackInfo& info) {
  int64_t initval = 0;
  int64_t flags = 0;
  if (!ArgInt(info, 0, "eventfd", "initval", 0, UINT32_MAX, &initval) ||
      !ArgInt(info, 1, "eventfd", "flags", 0, INT32_MAX, &flags))
    return Napi::Value();
  const int fd = eventfd(static_cast<unsigned>(initval), static_cast<int>(flags));
  if (fd < 0) {
    ThrowErrno(info.Env(), "eventfd", errno);
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), fd);
}

// eventfdWrite(fd, value) -> true, or false when the add would block (the
// counter would exceed 2^64 - 2). value: bigint or safe integer, >= 0.
Napi::Value EventfdWrite(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = 0;
  if (!ArgFd(info, 0, "eventfdWrite", &fd)) return Napi::Value();
  uint64_t value = 0;
  Napi::Value v = info[1];
  if (v.IsBigInt()) {
    bool lossless = false;
    value = v.As<Napi::BigInt>().Uint64Value(&lossless);
    if (!lossless) {
      ThrowRangeError(env, "eventfdWrite", "value", "must be in [0, 2^64 - 2]");
      return Napi::Value();
    }
  } else if (v.IsNumber()) {
    int64_t n = 0;
    if (!ArgInt(info, 1, "eventfdWrite", "value", 0, 9007199254740991LL, &n)) return Napi::Value();
    value = static_cast<uint64_t>(n);
  } else {
    ThrowTypeError(env, "eventfdWrite", "value", "a bigint or an integer");
    return Napi::Value();
  }
  ssize_t n;
  do n = write(fd, &value, sizeof value);
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof value)) return Napi::Boolean::New(env, true);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Napi::Boolean::New(env, false);
  ThrowErrno(env, "write", n < 0 ? errno : EIO);
  return Napi::Value();
}

// eventfdRead(fd) -> counter value as bigint (counter reset, or decremented by
// one with EFD_SEMAPHORE), or 0n when the counter is 0 (EAGAIN). A successful
// read never returns 0, so 0n is unambiguous.
Napi::Value EventfdRead(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = 0;
  if (!ArgFd(info, 0, "eventfdRead", &fd)) return Napi::Value();
  uint64_t value = 0;
  ssize_t n;
  do n = read(fd, &value, sizeof value);
  while (n < 0 && errno == EINTR);
  if (n == static_cast<ssize_t>(sizeof value)) return Napi::BigInt::New(env, value);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return Napi::BigInt::New(env, static_cast<uint64_t>(0));
  ThrowErrno(env, "read", n < 0 ? errno : EIO);
  return Napi::Value();
}

}  // namespace

void InitEventfd(Napi::Env env, Napi::Object exports) {
  exports.Set("eventfd", Napi::Function::New(env, Eventfd, "eventfd"));
  exports.Set("eventfdWrite", Napi::Function::New(env, EventfdWrite, "eventfdWrite"));
  exports.Set("eventfdRead", Napi::Function::New(env, EventfdRead, "eventfdRead"));
}

}  // namespace mdevsim
