// AF_UNIX stream sockets and fd passing (SCM_RIGHTS).
//
// Every socket is created SOCK_NONBLOCK | SOCK_CLOEXEC, and sendmsg/recvmsg
// also pass MSG_DONTWAIT, so an adopted blocking fd can never block the event
// loop. EINTR is retried here; EAGAIN is a return value (-1), not an error.
// Anything else throws Error{code, errno, syscall}.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <vector>

#include "native.h"

namespace mdevsim {

namespace {

// Linux limit on fds per SCM_RIGHTS message (include/net/scm.h SCM_MAX_FD).
constexpr int kScmMaxFd = 253;
// Linux UIO_MAXIOV.
constexpr size_t kIovMax = 1024;

bool FillSockaddr(Napi::Env env, const char* syscall, const std::string& path, sockaddr_un* addr) {
  std::memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  if (path.size() >= sizeof addr->sun_path) {
    ThrowErrno(env, syscall, ENAMETOOLONG, path.c_str());
    return false;
  }
  std::memcpy(addr->sun_path, path.data(), path.size());
  return true;
}

// socket() -> fd of a non-blocking, close-on-exec AF_UNIX stream socket.
Napi::Value Socket(const Napi::CallbackInfo& info) {
  const int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(info.Env(), "socket", errno);
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), fd);
}

// socketpair() -> [fd, fd], both non-blocking and close-on-exec.
Napi::Value Socketpair(const Napi::CallbackInfo& info) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) != 0) {
    ThrowErrno(info.Env(), "socketpair", errno);
    return Napi::Value();
  }
  Napi::Array out = Napi::Array::New(info.Env(), 2);
  out.Set(0u, Napi::Number::New(info.Env(), sv[0]));
  out.Set(1u, Napi::Number::New(info.Env(), sv[1]));
  return out;
}

// bind(fd, path)
Napi::Value Bind(const Napi::CallbackInfo& info) {
  int fd = 0;
  std::string path;
  if (!ArgFd(info, 0, "bind", &fd) || !ArgString(info, 1, "bind", "path", &path)) return Napi::Value();
  sockaddr_un addr;
  if (!FillSockaddr(info.Env(), "bind", path, &addr)) return Napi::Value();
  if (bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0)
    ThrowErrno(info.Env(), "bind", errno, path.c_str());
  return info.Env().Undefined();
}

// listen(fd, backlog)
Napi::Value Listen(const Napi::CallbackInfo& info) {
  int fd = 0;
  int64_t backlog = 0;
  if (!ArgFd(info, 0, "listen", &fd) || !ArgInt(info, 1, "listen", "backlog", 0, INT32_MAX, &backlog))
    return Napi::Value();
  if (listen(fd, static_cast<int>(backlog)) != 0) ThrowErrno(info.Env(), "listen", errno);
  return info.Env().Undefined();
}

// connect(fd, path) -> 0 when connected, -1 when it would block (EAGAIN: the
// listener's backlog is full; AF_UNIX has no EINPROGRESS) or was interrupted.
// The caller retries; a retry on a connected socket fails with EISCONN.
Napi::Value Connect(const Napi::CallbackInfo& info) {
  int fd = 0;
  std::string path;
  if (!ArgFd(info, 0, "connect", &fd) || !ArgString(info, 1, "connect", "path", &path))
    return Napi::Value();
  sockaddr_un addr;
  if (!FillSockaddr(info.Env(), "connect", path, &addr)) return Napi::Value();
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
    return Napi::Number::New(info.Env(), 0);
  if (errno == EAGAIN || errno == EINTR) return Napi::Number::New(info.Env(), -1);
  ThrowErrno(info.Env(), "connect", errno, path.c_str());
  return Napi::Value();
}

// accept(fd) -> new non-blocking, close-on-exec fd, or -1 when none is pending.
Napi::Value Accept(const Napi::CallbackInfo& info) {
  int fd = 0;
  if (!ArgFd(info, 0, "accept", &fd)) return Napi::Value();
  int conn;
  do conn = accept4(fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  while (conn < 0 && errno == EINTR);
  if (conn >= 0) return Napi::Number::New(info.Env(), conn);
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(info.Env(), -1);
  ThrowErrno(info.Env(), "accept4", errno);
  return Napi::Value();
}

// sendmsg(fd, data, fds) -> bytes written, or -1 when nothing could be written
// (EAGAIN). data: Uint8Array or array of Uint8Array (one iovec each, at most
// 1024); fds: array or Int32Array of fds (at most 253) or null/undefined. The
// fds ride with the first byte written; the kernel takes its own references,
// so the caller still owns (and may close) them afterwards. A short count
// means only a prefix was written, fds included.
Napi::Value Sendmsg(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  int fd = 0;
  if (!ArgFd(info, 0, "sendmsg", &fd)) return Napi::Value();

  iovec small[16];
  std::vector<iovec> large;
  iovec* iov = small;
  size_t iovcnt = 0;
  size_t total = 0;
  Napi::Value data = info[1];
  if (data.IsArray()) {
    Napi::Array arr = data.As<Napi::Array>();
    const uint32_t n = arr.Length();
    if (n > kIovMax) {
      ThrowRangeError(env, "sendmsg", "data", "must hold at most 1024 buffers");
      return Napi::Value();
    }
    if (n > 16) {
      large.resize(n);
      iov = large.data();
    }
    for (uint32_t i = 0; i < n; i++) {
      uint8_t* p = nullptr;
      size_t len = 0;
      if (!ArgBytes(env, arr.Get(i), "sendmsg", "data[i]", &p, &len)) return Napi::Value();
      if (len == 0) continue;
      iov[iovcnt].iov_base = p;
      iov[iovcnt].iov_len = len;
      iovcnt++;
      total += len;
    }
  } else {
    uint8_t* p = nullptr;
    size_t len = 0;
    if (!ArgBytes(env, data, "sendmsg", "data", &p, &len)) return Napi::Value();
    if (len > 0) {
      iov[0].iov_base = p;
      iov[0].iov_len = len;
      iovcnt = 1;
      total = len;
    }
  }

  // Control buffer sized for the Linux maximum, aligned for cmsghdr.
  union {
    char buf[CMSG_SPACE(sizeof(int) * kScmMaxFd)];
    cmsghdr align;
  } control;
  int nfds = 0;
  int fdList[kScmMaxFd];
  Napi::Value fdsArg = info[2];
  if (!fdsArg.IsUndefined() && !fdsArg.IsNull()) {
    if (fdsArg.IsArray()) {
      Napi::Array arr = fdsArg.As<Napi::Array>();
      if (arr.Length() > static_cast<uint32_t>(kScmMaxFd)) {
        ThrowRangeError(env, "sendmsg", "fds", "must hold at most 253 fds (SCM_MAX_FD)");
        return Napi::Value();
      }
      for (uint32_t i = 0; i < arr.Length(); i++) {
        Napi::Value v = arr.Get(i);
        if (!v.IsNumber()) {
          ThrowTypeError(env, "sendmsg", "fds", "an array of fds (integers)");
          return Napi::Value();
        }
        const double d = v.As<Napi::Number>().DoubleValue();
        if (!(d >= 0 && d <= INT32_MAX) || d != std::trunc(d)) {
          ThrowRangeError(env, "sendmsg", "fds", "must hold non-negative integer fds");
          return Napi::Value();
        }
        fdList[nfds++] = static_cast<int>(d);
      }
    } else if (fdsArg.IsTypedArray() && fdsArg.As<Napi::TypedArray>().TypedArrayType() == napi_int32_array) {
      Napi::Int32Array arr = fdsArg.As<Napi::Int32Array>();
      if (arr.ElementLength() > static_cast<size_t>(kScmMaxFd)) {
        ThrowRangeError(env, "sendmsg", "fds", "must hold at most 253 fds (SCM_MAX_FD)");
        return Napi::Value();
      }
      for (size_t i = 0; i < arr.ElementLength(); i++) {
        if (arr[i] < 0) {
          ThrowRangeError(env, "sendmsg", "fds", "must hold non-negative integer fds");
          return Napi::Value();
        }
        fdList[nfds++] = arr[i];
      }
    } else {
      ThrowTypeError(env, "sendmsg", "fds", "an array or Int32Array of fds, null or undefined");
      return Napi::Value();
    }
    if (nfds > 0 && total == 0) {
      // A stream socket sends no ancillary data without at least one byte.
      ThrowRangeError(env, "sendmsg", "data", "must not be empty when fds are sent");
      return Napi::Value();
    }
  }
  if (total == 0) return Napi::Number::New(env, 0);

  msghdr msg{};
  msg.msg_iov = iov;
  msg.msg_iovlen = iovcnt;
  if (nfds > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
    cmsghdr* c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
    std::memcpy(CMSG_DATA(c), fdList, sizeof(int) * nfds);
  }
  ssize_t n;
  do n = sendmsg(fd, &msg, MSG_DONTWAIT | MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  if (n >= 0) return Napi::Number::New(env, static_cast<double>(n));
  if (errno == EAGAIN || errno == EWOULDBLOCK) return Napi::Number::New(env, -1);
  ThrowErrno(env, "sendmsg", errno);
  return Napi::Value();
}

// recvmsg(fd, buffer, offset, maxFds, fdsOut, status) -> bytes stored at
// buffer[offset...]. Drains (see DrainRecv); never throws for syscall errors:
// they land in status[RECV_ERRNO] after any bytes that came before them.
Napi::Value Recvmsg(const Napi::CallbackInfo& info) {
  int fd = 0;
  Napi::ArrayBuffer buffer;
  int64_t offset = 0;
  int64_t maxFds = 0;
  int32_t* fdsOut = nullptr;
  size_t fdsCap = 0;
  int32_t* status = nullptr;
  size_t statusLen = 0;
  if (!ArgFd(info, 0, "recvmsg", &fd) || !ArgArrayBuffer(info, 1, "recvmsg", "buffer", &buffer) ||
      !ArgInt(info, 2, "recvmsg", "offset", 0, 9007199254740991LL, &offset) ||
      !ArgInt(info, 3, "recvmsg", "maxFds", 0, kScmMaxFd, &maxFds) ||
      !ArgInt32Array(info, 4, "recvmsg", "fdsOut", &fdsOut, &fdsCap) ||
      !ArgInt32Array(info, 5, "recvmsg", "status", &status, &statusLen))
    return Napi::Value();
  const size_t cap = buffer.ByteLength();
  if (static_cast<size_t>(offset) >= cap) {
    ThrowRangeError(info.Env(), "recvmsg", "offset", "must be below buffer.byteLength");
    return Napi::Value();
  }
  if (fdsCap < static_cast<size_t>(maxFds)) {
    ThrowRangeError(info.Env(), "recvmsg", "fdsOut", "must have room for maxFds fds");
    return Napi::Value();
  }
  if (statusLen < kRecvStatusLen) {
    ThrowRangeError(info.Env(), "recvmsg", "status", "must have RECV_STATUS_LEN elements");
    return Napi::Value();
  }
  uint8_t* base = static_cast<uint8_t*>(buffer.Data()) + offset;
  DrainRecv(fd, base, cap - static_cast<size_t>(offset), static_cast<int>(maxFds), fdsOut, fdsCap, status);
  return Napi::Number::New(info.Env(), status[kRecvNread]);
}

// socketError(fd) -> pending socket error (getsockopt SO_ERROR, which also
// clears it), 0 if none. libuv reports EPOLLERR as UV_EBADF whatever the
// cause; this recovers the real errno (typically ECONNRESET).
Napi::Value SocketError(const Napi::CallbackInfo& info) {
  int fd = 0;
  if (!ArgFd(info, 0, "socketError", &fd)) return Napi::Value();
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0) {
    ThrowErrno(info.Env(), "getsockopt", errno);
    return Napi::Value();
  }
  return Napi::Number::New(info.Env(), err);
}

}  // namespace

void DrainRecv(int fd, uint8_t* buf, size_t cap, int maxFds, int32_t* fdsOut, size_t fdsCap,
               int32_t* status) {
  // Large reads are capped so counts fit the Int32Array status.
  if (cap > 0x40000000) cap = 0x40000000;
  union {
    char buf[CMSG_SPACE(sizeof(int) * kScmMaxFd)];
    cmsghdr align;
  } control;
  size_t total = 0;
  int32_t nfds = 0;
  int32_t fdsAt = 0;
  int32_t flags = 0;
  int32_t err = 0;
  while (total < cap) {
    iovec iov{buf + total, cap - total};
    msghdr msg{};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (maxFds > 0) {
      msg.msg_control = control.buf;
      // CMSG_LEN, not CMSG_SPACE: the kernel fits (controllen - header) / 4
      // fds, and CMSG_SPACE's padding would admit one more than maxFds.
      msg.msg_controllen = CMSG_LEN(sizeof(int) * static_cast<size_t>(maxFds));
    }
    const ssize_t n = recvmsg(fd, &msg, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) err = errno;
      break;
    }
    if (n == 0) {
      flags |= kRecvFlagEof;
      break;
    }
    bool gotAncillary = false;
    if (msg.msg_controllen > 0) {
      for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        const size_t count = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        const unsigned char* data = CMSG_DATA(c);
        for (size_t i = 0; i < count; i++) {
          int received;
          std::memcpy(&received, data + i * sizeof(int), sizeof(int));
          if (static_cast<size_t>(nfds) < fdsCap) {
            fdsOut[nfds++] = received;
          } else {  // cannot hand it over: release it and report truncation
            close(received);
            flags |= kRecvFlagCtrunc;
          }
        }
        gotAncillary = true;
      }
    }
    if (msg.msg_flags & MSG_CTRUNC) {
      flags |= kRecvFlagCtrunc;
      gotAncillary = true;
    }
    if (gotAncillary) {
      // The kernel ends a stream read right after the skb that carried the
      // fds (it may glue earlier fd-less skbs in front of it), so the last
      // byte read belongs to the sendmsg that carried them, which started in
      // [total, total + n). Stop here: each call reports at most one batch,
      // and the chunk's last byte stays in the fd-carrying message.
      fdsAt = static_cast<int32_t>(total);
      total += static_cast<size_t>(n);
      break;
    }
    total += static_cast<size_t>(n);
    // A short read means the queue was empty a moment ago: stop instead of
    // paying for one more recvmsg that returns EAGAIN. The poll is
    // level-triggered, so data that arrives meanwhile wakes us again.
    if (static_cast<size_t>(n) < iov.iov_len) break;
  }
  if (total == cap) flags |= kRecvFlagFull;
  status[kRecvNread] = static_cast<int32_t>(total);
  status[kRecvNfds] = nfds;
  status[kRecvFdsAt] = fdsAt;
  status[kRecvFlags] = flags;
  status[kRecvErrno] = err;
}

void InitScm(Napi::Env env, Napi::Object exports) {
  exports.Set("socket", Napi::Function::New(env, Socket, "socket"));
  exports.Set("socketpair", Napi::Function::New(env, Socketpair, "socketpair"));
  exports.Set("bind", Napi::Function::New(env, Bind, "bind"));
  exports.Set("listen", Napi::Function::New(env, Listen, "listen"));
  exports.Set("connect", Napi::Function::New(env, Connect, "connect"));
  exports.Set("accept", Napi::Function::New(env, Accept, "accept"));
  exports.Set("sendmsg", Napi::Function::New(env, Sendmsg, "sendmsg"));
  exports.Set("recvmsg", Napi::Function::New(env, Recvmsg, "recvmsg"));
  exports.Set("socketError", Napi::Function::New(env, SocketError, "socketError"));
}

}  // namespace mdevsim
