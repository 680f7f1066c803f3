// Watcher: readiness of one fd through libuv (uv_poll_t), so the event loop
// sleeps in epoll instead of anyone polling, and nothing ever blocks.
//
//   new Watcher(fd, callback)        callback(status, events, nread)
//   start(events) / stop() / close() (UV_READABLE | UV_WRITABLE | UV_DISCONNECT)
//   setRecv(buffer, maxFds, fdsOut, status) / setRecv(null)
//                                    fdsOut and status may be views on the
//                                    front of buffer: bytes then land after
//                                    them (cheaper drains, see DrainNow)
//   drain()                          one drain now, as a wake does; nread or -1
//   sendDrain(bytes)                 sendmsg(bytes), then, if all of it went,
//                                    drain() as above: one crossing for a
//                                    reply and the read after it
//   ref() / unref()                  keep / do not keep the event loop alive
//
// In receive mode a readable wake drains the socket with DrainRecv *before*
// calling JS, so one wake costs one native->JS crossing that already carries
// the bytes (nread >= 0, details in the status array). Otherwise nread is -1.
// status is libuv's (0 or a negative errno).
//
// Lifetime: while started, the JS object is pinned (strong reference) so the
// GC cannot collect a watcher that may still fire. close() releases the
// uv handle (freed in the close callback), the callback and the buffers; the
// destructor and an env cleanup hook do the same if close() was never called.
#include <sys/socket.h>
#include <uv.h>

#include <cerrno>

#include <memory>

#include "native.h"

namespace mdevsim {

namespace {

class Watcher : public Napi::ObjectWrap<Watcher> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Watcher",
                       {
                           InstanceMethod<&Watcher::Start>("start"),
                           InstanceMethod<&Watcher::Stop>("stop"),
                           InstanceMethod<&Watcher::Close>("close"),
                           InstanceMethod<&Watcher::SetRecv>("setRecv"),
                           InstanceMethod<&Watcher::Drain>("drain"),
                           InstanceMethod<&Watcher::SendDrain>("sendDrain"),
                           InstanceMethod<&Watcher::RefLoop>("ref"),
                           InstanceMethod<&Watcher::UnrefLoop>("unref"),
                       });
  }

  explicit Watcher(const Napi::CallbackInfo& info) : Napi::ObjectWrap<Watcher>(info) {
    Napi::Env env = info.Env();
    int fd = 0;
    if (!ArgFd(info, 0, "Watcher", &fd)) return;
    if (!info[1].IsFunction()) {
      ThrowTypeError(env, "Watcher", "callback", "a function");
      return;
    }
    uv_loop_t* loop = nullptr;
    if (napi_get_uv_event_loop(env, &loop) != napi_ok || loop == nullptr) {
      Napi::Error::New(env, "Watcher: no libuv loop").ThrowAsJavaScriptException();
      return;
    }
    handle_ = new uv_poll_t;
    // Note: uv_poll_init puts the fd in O_NONBLOCK mode.
    const int rc = uv_poll_init(loop, handle_, fd);
    if (rc != 0) {
      delete handle_;  // never initialised: nothing to uv_close
      handle_ = nullptr;
      ThrowErrno(env, "uv_poll_init", -rc);
      return;
    }
    handle_->data = this;
    fd_ = fd;
    callback_ = Napi::Persistent(info[1].As<Napi::Function>());
    context_ = std::make_unique<Napi::AsyncContext>(env, "mdevsim.Watcher", info.This().As<Napi::Object>());
    napi_add_env_cleanup_hook(env, CleanupHook, this);
    hook_ = true;
  }

  ~Watcher() override { Release(); }

 private:
  Napi::Value Start(const Napi::CallbackInfo& info) {
    int64_t events = 0;
    if (!ArgInt(info, 0, "Watcher.start", "events", 0, UV_READABLE | UV_WRITABLE | UV_DISCONNECT, &events))
      return Napi::Value();
    if (handle_ == nullptr) {
      ThrowErrno(info.Env(), "uv_poll_start", EBADF);
      return Napi::Value();
    }
    if (events == 0) return Stop(info);
    const int rc = uv_poll_start(handle_, static_cast<int>(events), OnPoll);
    if (rc != 0) {
      ThrowErrno(info.Env(), "uv_poll_start", -rc);
      return Napi::Value();
    }
    if (!pinned_) {
      Ref();
      pinned_ = true;
    }
    return info.Env().Undefined();
  }

  Napi::Value Stop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_poll_stop(handle_);
    Unpin();
    return info.Env().Undefined();
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    Release();
    return info.Env().Undefined();
  }

  Napi::Value SetRecv(const Napi::CallbackInfo& info) {
    if (info[0].IsNull() || info[0].IsUndefined()) {
      ClearRecv();
      return info.Env().Undefined();
    }
    Napi::ArrayBuffer buffer;
    int64_t maxFds = 0;
    int32_t* fdsOut = nullptr;
    size_t fdsCap = 0;
    int32_t* status = nullptr;
    size_t statusLen = 0;
    if (!ArgArrayBuffer(info, 0, "Watcher.setRecv", "buffer", &buffer) ||
        !ArgInt(info, 1, "Watcher.setRecv", "maxFds", 0, 253, &maxFds) ||
        !ArgInt32Array(info, 2, "Watcher.setRecv", "fdsOut", &fdsOut, &fdsCap) ||
        !ArgInt32Array(info, 3, "Watcher.setRecv", "status", &status, &statusLen))
      return Napi::Value();
    if (buffer.ByteLength() == 0) {
      ThrowRangeError(info.Env(), "Watcher.setRecv", "buffer", "must not be empty");
      return Napi::Value();
    }
    if (fdsCap < static_cast<size_t>(maxFds)) {
      ThrowRangeError(info.Env(), "Watcher.setRecv", "fdsOut", "must have room for maxFds fds");
      return Napi::Value();
    }
    if (statusLen < kRecvStatusLen) {
      ThrowRangeError(info.Env(), "Watcher.setRecv", "status", "must have RECV_STATUS_LEN elements");
      return Napi::Value();
    }
    // fdsOut and status may be views on the front of buffer itself: then
    // bytes land after both, and one query of buffer per drain (is it still
    // attached?) vouches for all three.
    uint8_t* base = static_cast<uint8_t*>(buffer.Data());
    const size_t len = buffer.ByteLength();
    const uint8_t* fdsBytes = reinterpret_cast<const uint8_t*>(fdsOut);
    const uint8_t* stBytes = reinterpret_cast<const uint8_t*>(status);
    const bool stInside = stBytes >= base && stBytes < base + len;
    // An empty fdsOut has no memory to share: it goes with status.
    const bool fdsInside = fdsCap == 0 ? stInside : fdsBytes >= base && fdsBytes < base + len;
    size_t recvAt = 0;
    if (fdsInside || stInside) {
      const size_t fdsBegin = fdsCap == 0 ? 0 : fdsBytes - base;
      const size_t fdsEnd = fdsCap == 0 ? 0 : fdsBegin + fdsCap * sizeof(int32_t);
      const size_t stBegin = stBytes - base, stEnd = stBegin + statusLen * sizeof(int32_t);
      if (!fdsInside || !stInside || (fdsBegin < stEnd && stBegin < fdsEnd)) {
        ThrowRangeError(info.Env(), "Watcher.setRecv", "fdsOut",
                        "and status must both be views on buffer (not overlapping) or neither");
        return Napi::Value();
      }
      recvAt = fdsEnd > stEnd ? fdsEnd : stEnd;
      if (recvAt >= len) {
        ThrowRangeError(info.Env(), "Watcher.setRecv", "buffer", "must have room for bytes after fdsOut and status");
        return Napi::Value();
      }
    }
    buffer_ = Napi::Persistent(buffer);
    fdsOut_ = Napi::Persistent(info[2].As<Napi::Int32Array>());
    status_ = Napi::Persistent(info[3].As<Napi::Int32Array>());
    maxFds_ = static_cast<int>(maxFds);
    shared_ = recvAt > 0;
    base_ = base;
    len_ = len;
    recvAt_ = recvAt;
    fdsPtr_ = fdsOut;
    fdsLen_ = fdsCap;
    stPtr_ = status;
    recv_ = true;
    return info.Env().Undefined();
  }

  void ClearRecv() {
    recv_ = false;
    shared_ = false;
    base_ = nullptr;
    fdsPtr_ = nullptr;
    stPtr_ = nullptr;
    buffer_.Reset();
    fdsOut_.Reset();
    status_.Reset();
  }

  Napi::Value RefLoop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_ref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  Napi::Value UnrefLoop(const Napi::CallbackInfo& info) {
    if (handle_ != nullptr) uv_unref(reinterpret_cast<uv_handle_t*>(handle_));
    return info.Env().Undefined();
  }

  void Unpin() {
    if (pinned_) {
      pinned_ = false;
      Unref();
    }
  }

  // Idempotent: closes the uv handle and drops every reference.
  void Release() {
    if (handle_ != nullptr) {
      handle_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(handle_), OnClosed);
      handle_ = nullptr;
    }
    if (hook_) {
      napi_remove_env_cleanup_hook(Env(), CleanupHook, this);
      hook_ = false;
    }
    ClearRecv();
    callback_.Reset();
    Unpin();
  }

  static void OnClosed(uv_handle_t* h) { delete reinterpret_cast<uv_poll_t*>(h); }

  // Env teardown (process or worker exit) with the watcher still open: the
  // loop must not keep a handle whose owner is going away.
  static void CleanupHook(void* arg) {
    Watcher* w = static_cast<Watcher*>(arg);
    w->hook_ = false;  // it ran; removing it again is not allowed
    if (w->handle_ != nullptr) {
      w->handle_->data = nullptr;
      uv_close(reinterpret_cast<uv_handle_t*>(w->handle_), OnClosed);
      w->handle_ = nullptr;
    }
  }

  // One DrainRecv into the setRecv buffers; their status array, or nullptr
  // when not in receive mode or a buffer is unusable (detached, too short).
  // JS may have detached a buffer, so it is checked every time. With fdsOut
  // and status inside buffer (shared_), buffer still being the same memory
  // vouches for all three and the pointers from setRecv are used: one query.
  // Otherwise each array is queried (raw napi: Napi's accessors repeat it).
  int32_t* DrainNow(napi_env env) {
    if (!recv_ || handle_ == nullptr) return nullptr;
    void* buf = nullptr;
    size_t cap = 0;
    if (shared_) {
      if (napi_get_arraybuffer_info(env, buffer_.Value(), &buf, &cap) != napi_ok || buf != base_ || cap != len_)
        return nullptr;
      DrainRecv(fd_, base_ + recvAt_, len_ - recvAt_, maxFds_, maxFds_ > 0 ? fdsPtr_ : nullptr, fdsLen_, stPtr_);
      return stPtr_;
    }
    void* fdsData = nullptr;
    size_t fdsLen = 0;
    void* stData = nullptr;
    size_t stLen = 0;
    napi_typedarray_type type;
    if (napi_get_arraybuffer_info(env, buffer_.Value(), &buf, &cap) != napi_ok ||
        napi_get_typedarray_info(env, fdsOut_.Value(), &type, &fdsLen, &fdsData, nullptr, nullptr) != napi_ok ||
        napi_get_typedarray_info(env, status_.Value(), &type, &stLen, &stData, nullptr, nullptr) != napi_ok ||
        cap == 0 || stLen < kRecvStatusLen || fdsLen < static_cast<size_t>(maxFds_))
      return nullptr;
    int32_t* s = static_cast<int32_t*>(stData);
    DrainRecv(fd_, static_cast<uint8_t*>(buf), cap, maxFds_, maxFds_ > 0 ? static_cast<int32_t*>(fdsData) : nullptr,
              fdsLen, s);
    return s;
  }

  // drain() -> bytes read into the setRecv buffer (status filled as on a
  // wake), or -1 when not in receive mode: a read now, without waiting for
  // the poll (the caller knows data may be there).
  Napi::Value Drain(const Napi::CallbackInfo& info) {
    int32_t* s = DrainNow(info.Env());
    return Napi::Number::New(info.Env(), s == nullptr ? -1 : s[kRecvNread]);
  }

  // sendDrain(bytes) -> bytes written by one sendmsg (no fds), or -1 when
  // nothing could be written (EAGAIN). Only when everything was written does
  // it drain as drain() does (status filled); otherwise the status array is
  // untouched. A send error throws like sendmsg() does (Error{code, errno,
  // syscall}); read errors land in the status array as on a wake.
  Napi::Value SendDrain(const Napi::CallbackInfo& info) {
    napi_env env = info.Env();
    void* p = nullptr;
    size_t len = 0;
    napi_typedarray_type type;
    if (info.Length() < 1 ||
        napi_get_typedarray_info(env, info[0], &type, &len, &p, nullptr, nullptr) != napi_ok ||
        type != napi_uint8_array) {
      ThrowTypeError(info.Env(), "Watcher.sendDrain", "bytes", "a Uint8Array");
      return Napi::Value();
    }
    if (handle_ == nullptr) {
      ThrowErrno(info.Env(), "sendmsg", EBADF);
      return Napi::Value();
    }
    if (len == 0) return Napi::Number::New(info.Env(), 0);
    ssize_t n;
    do n = send(fd_, p, len, MSG_DONTWAIT | MSG_NOSIGNAL);
    while (n < 0 && errno == EINTR);
    if (n < 0) {
      if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(info.Env(), -1);
      ThrowErrno(info.Env(), "sendmsg", errno);
      return Napi::Value();
    }
    if (static_cast<size_t>(n) == len) DrainNow(env);
    return Napi::Number::New(info.Env(), static_cast<double>(n));
  }

  static void OnPoll(uv_poll_t* h, int status, int events) {
    Watcher* w = static_cast<Watcher*>(h->data);
    if (w == nullptr || w->callback_.IsEmpty()) return;
    Napi::Env env = w->Env();
    Napi::HandleScope scope(env);
    int32_t nread = -1;
    if (w->recv_ && status == 0 && (events & UV_READABLE) != 0) {
      int32_t* s = w->DrainNow(env);
      if (s != nullptr) {
        nread = s[kRecvNread];
        // Spurious wake (nothing read, nothing happened): skip the JS call.
        if (nread == 0 && s[kRecvFlags] == 0 && s[kRecvErrno] == 0 && (events & UV_WRITABLE) == 0) return;
      }
    }
    napi_value args[3];
    napi_create_int32(env, status, &args[0]);
    napi_create_int32(env, events, &args[1]);
    napi_create_int32(env, nread, &args[2]);
    napi_value result;
    const napi_status rc =
        napi_make_callback(env, *w->context_, w->Value(), w->callback_.Value(), 3, args, &result);
    if (rc != napi_ok) {
      // The callback threw: there is no JS caller to receive it, so report it
      // like any event-loop callback does ('uncaughtException').
      bool pending = false;
      if (napi_is_exception_pending(env, &pending) == napi_ok && pending) {
        napi_value error;
        napi_get_and_clear_last_exception(env, &error);
        napi_fatal_exception(env, error);
      }
    }
  }

  uv_poll_t* handle_ = nullptr;
  int fd_ = -1;
  Napi::FunctionReference callback_;
  std::unique_ptr<Napi::AsyncContext> context_;
  bool pinned_ = false;
  bool hook_ = false;
  bool recv_ = false;
  int maxFds_ = 0;
  // setRecv's pointers, used as they are while buffer_ is still base_/len_
  // (shared_: fdsOut and status are views on its front; bytes go at recvAt_).
  bool shared_ = false;
  uint8_t* base_ = nullptr;
  size_t len_ = 0;
  size_t recvAt_ = 0;
  int32_t* fdsPtr_ = nullptr;
  size_t fdsLen_ = 0;
  int32_t* stPtr_ = nullptr;
  Napi::Reference<Napi::ArrayBuffer> buffer_;
  Napi::Reference<Napi::Int32Array> fdsOut_;
  Napi::Reference<Napi::Int32Array> status_;
};

}  // namespace

void InitWatcher(Napi::Env env, Napi::Object exports) { exports.Set("Watcher", Watcher::Define(env)); }

}  // namespace mdevsim
