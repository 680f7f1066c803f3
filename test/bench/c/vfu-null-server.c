/*
 * A do-nothing vfio-user server: the C baseline for vfio-user.bench.ts.
 *
 *   vfu-null-server SOCKET_PATH
 *
 * Listens on SOCKET_PATH (a stale file is replaced), prints one JSON line
 * {"event":"ready"} when it accepts connections, then serves one client at a
 * time until SIGTERM/SIGINT (the socket file is removed on the way out).
 *
 * This is the floor of vfio-user.bench.ts (issue 13): per message it does
 * what the simplest blocking server does: a recv loop for the 16-byte
 * header, a recv loop for the payload, and ONE send of the whole reply. No
 * batching, no polling, no fds:
 *
 *   VERSION      -> header + {major 0, minor 0} (4 bytes, no JSON)
 *   REGION_READ  -> header + the 16-byte request struct echoed + count zero bytes
 *   REGION_WRITE -> header + the 16-byte request struct echoed (the spec's reply)
 *   anything else-> header only (reply type, same id and command, error 0)
 *
 * A request flagged NO_REPLY gets no reply. A malformed header (size < 16 or
 * above 1 MiB + 32) or a REGION_READ count above 1 MiB ends the connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#define HDR 16
#define MAX_XFER (1u << 20)
#define MAX_MSG (HDR + 16 + MAX_XFER)

#define CMD_VERSION 1
#define CMD_REGION_READ 9
#define CMD_REGION_WRITE 10
#define F_TYPE_MASK 0xfu
#define F_TYPE_REPLY 1u
#define F_NO_REPLY 0x10u

struct hdr {
  uint16_t id;
  uint16_t command;
  uint32_t size;
  uint32_t flags;
  uint32_t error;
};

static const char *sock_path;
static volatile sig_atomic_t stopping;

static void on_signal(int sig) {
  (void)sig;
  stopping = 1;
}

static void die(const char *what) {
  perror(what);
  if (sock_path != NULL) unlink(sock_path);
  exit(1);
}

/* 1 = got len bytes, 0 = EOF/error/signal (connection over). */
static int read_full(int fd, uint8_t *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = recv(fd, buf + got, len - got, 0);
    if (n < 0) {
      if (errno == EINTR && !stopping) continue;
      return 0;
    }
    if (n == 0) return 0;
    got += (size_t)n;
  }
  return 1;
}

static int write_full(int fd, const uint8_t *buf, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR && !stopping) continue;
      return 0;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 1;
}

static void serve(int conn, uint8_t *in, uint8_t *out) {
  for (;;) {
    if (!read_full(conn, in, HDR)) return;
    struct hdr h;
    memcpy(&h, in, HDR);
    if (h.size < HDR || h.size > MAX_MSG) return;
    if (h.size > HDR && !read_full(conn, in + HDR, h.size - HDR)) return;
    if (h.flags & F_NO_REPLY) continue;
    size_t len = HDR;
    if (h.command == CMD_VERSION) {
      memset(out + HDR, 0, 4); /* major 0, minor 0 */
      len += 4;
    } else if (h.command == CMD_REGION_READ && h.size >= HDR + 16) {
      uint32_t count;
      memcpy(&count, in + HDR + 12, 4);
      if (count > MAX_XFER) return;
      memcpy(out + HDR, in + HDR, 16);
      memset(out + HDR + 16, 0, count);
      len += 16 + count;
    } else if (h.command == CMD_REGION_WRITE && h.size >= HDR + 16) {
      memcpy(out + HDR, in + HDR, 16);
      len += 16;
    }
    struct hdr r = {h.id, h.command, (uint32_t)len, F_TYPE_REPLY, 0};
    memcpy(out, &r, HDR);
    if (!write_full(conn, out, len)) return;
  }
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: vfu-null-server SOCKET_PATH\n");
    return 2;
  }
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal; /* no SA_RESTART: accept/read return EINTR */
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);

  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(argv[1]) >= sizeof addr.sun_path) {
    fprintf(stderr, "vfu-null-server: socket path too long\n");
    return 2;
  }
  strcpy(addr.sun_path, argv[1]);
  int lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (lfd < 0) die("socket");
  unlink(argv[1]);
  if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) != 0) die("bind");
  sock_path = argv[1];
  if (listen(lfd, 4) != 0) die("listen");

  uint8_t *in = malloc(MAX_MSG);
  uint8_t *out = malloc(MAX_MSG);
  if (in == NULL || out == NULL) die("malloc");
  printf("{\"event\":\"ready\",\"socket\":\"%s\"}\n", argv[1]);
  fflush(stdout);

  long clients = 0;
  while (!stopping) {
    int conn = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
    if (conn < 0) {
      if (errno == EINTR) continue;
      die("accept4");
    }
    clients++;
    serve(conn, in, out);
    close(conn);
  }
  close(lfd);
  unlink(sock_path);
  fprintf(stderr, "vfu-null-server: served %ld client(s)\n", clients);
  free(in);
  free(out);
  return 0;
}
