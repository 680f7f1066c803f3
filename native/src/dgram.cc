// One AF_UNIX datagram to a named address: what sd_notify(3) does. The
// service manager's $NOTIFY_SOCKET is a SOCK_DGRAM socket, either a path or a
// Linux abstract name; src/sys/sd-notify.ts decides what to send and when.
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstring>
#include <string>

#include "native.h"

namespace mdevsim {

namespace {

// sendDatagram(address, data, timeoutMs) -> bytes sent, or -1 when the
// receiver's queue stayed full for timeoutMs (EAGAIN; 0: do not wait).
// address: an AF_UNIX path, or '@' + an abstract name.
//
// The address length is exact, as systemd's SOCKADDR_UN_LEN computes it
// (src/basic/socket-util.h): an abstract name is every byte of sun_path up to
// that length, so sizeof(sockaddr_un) would name a different socket; a path
// counts its terminating NUL. A full queue makes the kernel wait for room, as
// it does for libsystemd's blocking send, but only for SO_SNDTIMEO, so a
// receiver that stopped reading cannot hold the event loop; MSG_NOSIGNAL
// keeps a vanished one from raising SIGPIPE. The kernel attaches our
// credentials (SCM_CREDENTIALS, pid = our thread group) when the receiver set
// SO_PASSCRED, which is how systemd tells the main process's messages from
// others (NotifyAccess=main).
Napi::Value SendDatagram(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string address;
  uint8_t* data = nullptr;
  size_t length = 0;
  int64_t timeoutMs = 0;
  if (!ArgString(info, 0, "sendDatagram", "address", &address) ||
      !ArgBytes(env, info[1], "sendDatagram", "data", &data, &length) ||
      !ArgInt(info, 2, "sendDatagram", "timeoutMs", 0, 60000, &timeoutMs))
    return Napi::Value();

  sockaddr_un addr;
  std::memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  // Both forms keep to 107 bytes, as systemd's sockaddr_un_set_path() does.
  if (address.size() >= sizeof addr.sun_path) {
    ThrowErrno(env, "sendto", ENAMETOOLONG, address.c_str());
    return Napi::Value();
  }
  std::memcpy(addr.sun_path, address.data(), address.size());
  socklen_t addrlen = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + address.size());
  if (address[0] == '@') {
    addr.sun_path[0] = '\0';
  } else {
    addrlen += 1;
  }

  const int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) {
    ThrowErrno(env, "socket", errno);
    return Napi::Value();
  }
  int flags = MSG_NOSIGNAL;
  if (timeoutMs == 0) {
    flags |= MSG_DONTWAIT;
  } else {
    const timeval tv{static_cast<time_t>(timeoutMs / 1000), static_cast<suseconds_t>((timeoutMs % 1000) * 1000)};
    if (setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv) != 0) {
      const int err = errno;
      close(fd);
      ThrowErrno(env, "setsockopt", err);
      return Napi::Value();
    }
  }
  ssize_t n;
  do n = sendto(fd, data, length, flags, reinterpret_cast<sockaddr*>(&addr), addrlen);
  while (n < 0 && errno == EINTR);
  const int err = errno;
  close(fd);
  if (n >= 0) return Napi::Number::New(env, static_cast<double>(n));
  if (err == EAGAIN || err == EWOULDBLOCK) return Napi::Number::New(env, -1);
  ThrowErrno(env, "sendto", err, address.c_str());
  return Napi::Value();
}

}  // namespace

void InitDgram(Napi::Env env, Napi::Object exports) {
  exports.Set("sendDatagram", Napi::Function::New(env, SendDatagram, "sendDatagram"));
}

}  // namespace mdevsim
