// mdevsim native shim: module init. Export table only; the functions live in
// fd.cc, memfd.cc, mmap.cc, scm.cc, dgram.cc, eventfd.cc and watcher.cc. The
// typed declaration of everything exported here is src/sys/addon.ts (a test
// checks that the two agree).
#include <fcntl.h>
#include <limits.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "native.h"

namespace {

// Bump when the exported surface changes incompatibly; addon.ts checks it.
constexpr int kAbiVersion = 1;

Napi::Object Constants(Napi::Env env) {
  Napi::Object c = Napi::Object::New(env);
  auto set = [&](const char* name, double value) { c.Set(name, Napi::Number::New(env, value)); };
  set("MFD_CLOEXEC", MFD_CLOEXEC);
  set("MFD_ALLOW_SEALING", MFD_ALLOW_SEALING);
  set("F_SEAL_SEAL", F_SEAL_SEAL);
  set("F_SEAL_SHRINK", F_SEAL_SHRINK);
  set("F_SEAL_GROW", F_SEAL_GROW);
  set("F_SEAL_WRITE", F_SEAL_WRITE);
  set("EFD_CLOEXEC", EFD_CLOEXEC);
  set("EFD_NONBLOCK", EFD_NONBLOCK);
  set("EFD_SEMAPHORE", EFD_SEMAPHORE);
  set("UV_READABLE", UV_READABLE);
  set("UV_WRITABLE", UV_WRITABLE);
  set("UV_DISCONNECT", UV_DISCONNECT);
  set("RECV_NREAD", mdevsim::kRecvNread);
  set("RECV_NFDS", mdevsim::kRecvNfds);
  set("RECV_FDS_AT", mdevsim::kRecvFdsAt);
  set("RECV_FLAGS", mdevsim::kRecvFlags);
  set("RECV_ERRNO", mdevsim::kRecvErrno);
  set("RECV_STATUS_LEN", mdevsim::kRecvStatusLen);
  set("RECV_FLAG_EOF", mdevsim::kRecvFlagEof);
  set("RECV_FLAG_CTRUNC", mdevsim::kRecvFlagCtrunc);
  set("RECV_FLAG_FULL", mdevsim::kRecvFlagFull);
  set("SCM_MAX_FD", 253);
  set("IOV_MAX", IOV_MAX);
  set("PAGE_SIZE", static_cast<double>(sysconf(_SC_PAGESIZE)));
  set("S_IFMT", S_IFMT);
  set("S_IFREG", S_IFREG);
  set("S_IFSOCK", S_IFSOCK);
  return c;
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, kAbiVersion));
  exports.Set("constants", Constants(env));
  mdevsim::InitFd(env, exports);
  mdevsim::InitMemfd(env, exports);
  mdevsim::InitMmap(env, exports);
  mdevsim::InitScm(env, exports);
  mdevsim::InitDgram(env, exports);
  mdevsim::InitEventfd(env, exports);
  mdevsim::InitWatcher(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(mdevsim_native, Init)
