// Plain file-descriptor syscalls: close, dup, O_NONBLOCK, fstat.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "native.h"

namespace mdevsim {

namespace {

// close(fd). EINTR is not an error on Linux: the fd is released either way
// (man 2 close, "Dealing with error returns from close()"), so it is ignored.
Napi::Value Close(const Napi::CallbackInfo& info) {
  int fd = 0;
  if (!ArgFd(info, 0, "close", &fd)) return Napi::Value();
  if (close(fd) != 0 && errno != EINTR) ThrowErrno(info.Env(), "close", errno);
  return info.Env().Undefined();
}

// fcntl(fd, F_DUPFD_CLOEXEC, 0) -> new fd
Napi::Value DupCloexec(const Napi::CallbackInfo& info) {
  int fd = 0;
  if (!ArgFd(info, 0, "dupCloexec", &fd)) return Napi::Value();
  const int copy = fcntl(fd, F_DUPFD_CLOEXEC, 0);
  if (copy < 0) {
    ThrowErrno(info.Env(), "fcntl", errno);
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), copy);
}

// Set or clear O_NONBLOCK (a property of the open file description: shared
// with every process holding a duplicate of the fd).
Napi::Value SetNonBlocking(const Napi::CallbackInfo& info) {
  int fd = 0;
  bool on = false;
  if (!ArgFd(info, 0, "setNonBlocking", &fd) || !ArgBool(info, 1, "setNonBlocking", "nonBlocking", &on))
    return Napi::Value();
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0) {
    ThrowErrno(info.Env(), "fcntl", errno);
    return Napi::Value();
  }
  const int wanted = on ? (flags | O_NONBLOCK) : (flags & ~O_NONBLOCK);
  if (wanted != flags && fcntl(fd, F_SETFL, wanted) != 0) ThrowErrno(info.Env(), "fcntl", errno);
  return info.Env().Undefined();
}

// fstat(fd) -> { size, mode } (mode includes the S_IFMT type bits).
Napi::Value Fstat(const Napi::CallbackInfo& info) {
  int fd = 0;
  if (!ArgFd(info, 0, "fstat", &fd)) return Napi::Value();
  struct stat st {};
  if (fstat(fd, &st) != 0) {
    ThrowErrno(info.Env(), "fstat", errno);
    return Napi::Value();
  }
  Napi::Object out = Napi::Object::New(info.Env());
  out.Set("size", Napi::Number::New(info.Env(), static_cast<double>(st.st_size)));
  out.Set("mode", Napi::Number::New(info.Env(), st.st_mode));
  return out;
}

}  // namespace

void InitFd(Napi::Env env, Napi::Object exports) {
  exports.Set("close", Napi::Function::New(env, Close, "close"));
  exports.Set("dupCloexec", Napi::Function::New(env, DupCloexec, "dupCloexec"));
  exports.Set("setNonBlocking", Napi::Function::New(env, SetNonBlocking, "setNonBlocking"));
  exports.Set("fstat", Napi::Function::New(env, Fstat, "fstat"));
}

}  // namespace mdevsim
