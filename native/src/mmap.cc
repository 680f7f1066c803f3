// mmap/munmap exposed as external ArrayBuffers.
//
// Lifetime (see docs/native.md): mmap() returns an ArrayBuffer over the
// mapping. munmap(buffer) detaches that ArrayBuffer first (napi_detach_
// arraybuffer: every view now has length 0 and can never touch the unmapped
// pages) and then unmaps. If JS drops the buffer without munmap(), the GC
// finalizer unmaps. A Mapping record shared by both paths, guarded by one
// mutex, makes sure exactly one of them calls munmap.
#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>
#include <unordered_map>

#include "native.h"

namespace mdevsim {

namespace {

struct Mapping {
  void* addr;
  size_t length;
  bool unmapped;  // set (under g_mutex) by whichever path releases the pages
};

// Live mappings by address: munmap() only accepts buffers found here, so JS
// cannot make us unmap memory we did not map (a heap ArrayBuffer, say).
// Process-wide (worker threads share the address space), hence the mutex.
std::mutex g_mutex;
std::unordered_map<void*, Mapping*> g_live;
double g_bytes = 0;  // sum of live mapping lengths (exact below 2^53)
double g_count = 0;

// Called with g_mutex held.
void ForgetLocked(Mapping* m) {
  m->unmapped = true;
  auto it = g_live.find(m->addr);
  if (it != g_live.end() && it->second == m) g_live.erase(it);
  g_bytes -= static_cast<double>(m->length);
  g_count -= 1;
}

// GC finalizer of the external ArrayBuffer. Runs on the JS thread, after an
// explicit munmap() too (then it only frees the record).
void FinalizeMapping(Napi::Env /*env*/, void* /*data*/, Mapping* m) {
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    if (!m->unmapped) {
      munmap(m->addr, m->length);
      ForgetLocked(m);
    }
  }
  delete m;
}

// mmap(fd, offset, length, writable) -> ArrayBuffer over a MAP_SHARED mapping.
Napi::Value Mmap(const Napi::CallbackInfo& info) {
  int fd = 0;
  int64_t offset = 0;
  int64_t length = 0;
  bool writable = false;
  if (!ArgFd(info, 0, "mmap", &fd) ||
      !ArgInt(info, 1, "mmap", "offset", 0, 9007199254740991LL, &offset) ||
      !ArgInt(info, 2, "mmap", "length", 1, 9007199254740991LL, &length) ||
      !ArgBool(info, 3, "mmap", "writable", &writable))
    return Napi::Value();
  const int prot = PROT_READ | (writable ? PROT_WRITE : 0);
  void* addr = mmap(nullptr, static_cast<size_t>(length), prot, MAP_SHARED, fd, static_cast<off_t>(offset));
  if (addr == MAP_FAILED) {
    ThrowErrno(info.Env(), "mmap", errno);
    return Napi::Value();
  }
  Mapping* m = new Mapping{addr, static_cast<size_t>(length), false};
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    g_live[addr] = m;
    g_bytes += static_cast<double>(length);
    g_count += 1;
  }
  Napi::ArrayBuffer ab =
      Napi::ArrayBuffer::New(info.Env(), addr, static_cast<size_t>(length), FinalizeMapping, m);
  if (ab.IsEmpty()) {  // creation failed: an exception is pending, no finalizer will run
    std::lock_guard<std::mutex> lock(g_mutex);
    munmap(addr, static_cast<size_t>(length));
    ForgetLocked(m);
    delete m;
    return Napi::Value();
  }
  return ab;
}

// munmap(buffer): detach the ArrayBuffer returned by mmap(), then unmap it.
Napi::Value Munmap(const Napi::CallbackInfo& info) {
  Napi::ArrayBuffer ab;
  if (!ArgArrayBuffer(info, 0, "munmap", "buffer", &ab)) return Napi::Value();
  void* addr = ab.Data();
  const size_t length = ab.ByteLength();
  Mapping* m = nullptr;
  {
    std::lock_guard<std::mutex> lock(g_mutex);
    auto it = g_live.find(addr);
    if (addr == nullptr || it == g_live.end() || it->second->length != length) {
      ThrowRangeError(info.Env(), "munmap", "buffer",
                      "is not a live mapping returned by mmap() (already unmapped?)");
      return Napi::Value();
    }
    m = it->second;
    ForgetLocked(m);  // from here on the finalizer will not unmap
  }
  // Detach before unmapping: no JS view may ever see the unmapped range. The
  // lock is not held: a (hypothetical) synchronous finalizer would take it.
  napi_status status = napi_detach_arraybuffer(info.Env(), ab);
  if (status != napi_ok) {
    // Still attached, so still in use: keep the pages, undo the bookkeeping.
    // m is alive: its ArrayBuffer is referenced by this call.
    std::lock_guard<std::mutex> lock(g_mutex);
    m->unmapped = false;
    g_live[addr] = m;
    g_bytes += static_cast<double>(length);
    g_count += 1;
    if (!info.Env().IsExceptionPending())
      ThrowRangeError(info.Env(), "munmap", "buffer", "cannot be detached");
    return Napi::Value();
  }
  if (munmap(addr, length) != 0) ThrowErrno(info.Env(), "munmap", errno);
  return info.Env().Undefined();
}

// mappingStats() -> { count, bytes } of live mappings made by mmap().
Napi::Value MappingStats(const Napi::CallbackInfo& info) {
  Napi::Object out = Napi::Object::New(info.Env());
  std::lock_guard<std::mutex> lock(g_mutex);
  out.Set("count", Napi::Number::New(info.Env(), g_count));
  out.Set("bytes", Napi::Number::New(info.Env(), g_bytes));
  return out;
}

}  // namespace

void InitMmap(Napi::Env env, Napi::Object exports) {
  exports.Set("mmap", Napi::Function::New(env, Mmap, "mmap"));
  exports.Set("munmap", Napi::Function::New(env, Munmap, "munmap"));
  exports.Set("mappingStats", Napi::Function::New(env, MappingStats, "mappingStats"));
}

}  // namespace mdevsim
