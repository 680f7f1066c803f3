/*
 * vfio-user load generator for vfio-user.bench.ts: the same client drives
 * `mdevsim serve` and c/vfu-null-server.c, so only the server differs.
 *
 *   vfu-load SOCKET --mode MODE [--depth D] [--count N] [--warmup W]
 *            [--display] [--strict] [--send per-request|batch]
 *
 * Connects, negotiates VERSION (proposing {"mdevsim_display": true} with
 * --display, implied by plane-dmabuf), then keeps D operations in flight
 * (D = 1: strictly sequential) until W warm-up + N measured operations are
 * done. One operation per MODE:
 *
 *   config        REGION_READ region 7 (config), offset 0, count 4
 *   dispi         REGION_READ region 2 (MMIO BAR), offset 0x500 (dispi ID), count 2
 *   regionwrite   REGION_WRITE region 2, offset 0x50a (dispi BANK), count 2, value 0
 *   regioninfo    DEVICE_GET_REGION_INFO region 7, argsz 32 (reply carries no fd)
 *   regioninfo-fd DEVICE_GET_REGION_INFO region 0 (VRAM), argsz 32 (reply carries
 *                 the memfd; the client closes it)
 *   plane-dmabuf  QUERY_GFX_PLANE (0x4d01, DMABUF, PRIMARY) -> GET_GFX_DMABUF
 *                 (0x4d02) -> mmap + munmap exactly [offset, offset+size) of the
 *                 fd, close it -> RELEASE_GFX_DMABUF (0x4d03): three round trips.
 *                 A 640x480x32 mode is set first through dispi REGION_WRITEs.
 *
 * Every request goes out in its own write (as QEMU sends each message with
 * one writev) unless --send batch, which coalesces the requests issued while
 * handling one read into one write. Replies are read with recvmsg into a
 * large buffer and every whole reply in it is handled; fds are attributed to
 * the message holding the last byte of the read they came with.
 *
 * --strict (for mdevsim) checks reply sizes, payloads and fds. Without it the
 * client accepts the null server's header-only replies: no plane payload, no
 * fds (nothing is mapped then). Any error reply or malformed reply exits 1.
 *
 * Prints one JSON line: ops, round trips, seconds, rate (ops/s), rt_rate
 * (round trips/s), p50_ns / p99_ns (per operation: from sending its first
 * request to receiving its last reply, so queueing time counts for D > 1),
 * fds_per_op and replies_per_read (how many replies one recvmsg returned on
 * average: > 1 means the server batched them).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define HDR 16
#define CMD_VERSION 1
#define CMD_GET_REGION_INFO 5
#define CMD_REGION_READ 9
#define CMD_REGION_WRITE 10
#define CMD_QUERY_GFX_PLANE 0x4d01
#define CMD_GET_GFX_DMABUF 0x4d02
#define CMD_RELEASE_GFX_DMABUF 0x4d03
#define F_TYPE_MASK 0xfu
#define F_TYPE_REPLY 1u
#define F_ERROR 0x20u
#define MAX_DEPTH 1024
#define RBUF (4u << 20)
#define MAX_FDS 16

enum mode { M_CONFIG, M_DISPI, M_REGIONINFO, M_REGIONINFO_FD, M_PLANE, M_REGIONWRITE };
#define NMODES 6
static const char *const MODE_NAMES[] = {"config", "dispi", "regioninfo", "regioninfo-fd", "plane-dmabuf", "regionwrite"};

struct hdr {
  uint16_t id;
  uint16_t command;
  uint32_t size;
  uint32_t flags;
  uint32_t error;
};

struct slot {
  uint64_t op_t0; /* when the operation's first request was sent */
  int stage;      /* plane-dmabuf: 0 query, 1 get dmabuf, 2 release */
  uint32_t dmabuf_id;
  uint32_t handle;
  uint16_t command; /* of the request in flight */
};

static int sock = -1;
static enum mode mode;
static int strict;
static int batch_send;
static long page_size;

static struct slot slots[MAX_DEPTH];
static int16_t id_slot[65536];
static uint16_t next_id = 1;

/* Outgoing requests waiting for one write (--send batch). */
static uint8_t obuf[MAX_DEPTH * 128];
static size_t olen;

/* Receive buffer: stream position of rbuf[0] is rbase. */
static uint8_t *rbuf;
static size_t rstart, rend;
static uint64_t rbase;
struct pending_fds {
  uint64_t at;
  int n;
  int fds[MAX_FDS];
};
static struct pending_fds pfds[64];
static int npfds;

static uint64_t reads, replies, fds_received;

static void fail(const char *fmt, const char *detail, long value) {
  fprintf(stderr, "vfu-load: ");
  fprintf(stderr, fmt, detail, value);
  fprintf(stderr, "\n");
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void write_all(const uint8_t *buf, size_t len) {
  while (len > 0) {
    ssize_t n = send(sock, buf, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fail("send: %s (%ld)", strerror(errno), errno);
    }
    buf += n;
    len -= (size_t)n;
  }
}

static void flush_out(void) {
  if (olen > 0) write_all(obuf, olen);
  olen = 0;
}

/* Queue (batch) or send (per-request) one message. */
static void send_msg(uint16_t id, uint16_t command, const void *payload, uint32_t plen) {
  uint8_t msg[HDR + 128];
  struct hdr h = {id, command, HDR + plen, 0, 0};
  memcpy(msg, &h, HDR);
  memcpy(msg + HDR, payload, plen);
  if (batch_send) {
    if (olen + HDR + plen > sizeof obuf) flush_out();
    memcpy(obuf + olen, msg, HDR + plen);
    olen += HDR + plen;
  } else {
    write_all(msg, HDR + plen);
  }
}

static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, 4); }
static void put64(uint8_t *p, uint64_t v) { memcpy(p, &v, 8); }
static uint32_t get32(const uint8_t *p) {
  uint32_t v;
  memcpy(&v, p, 4);
  return v;
}
static uint64_t get64(const uint8_t *p) {
  uint64_t v;
  memcpy(&v, p, 8);
  return v;
}

/* Send the request for the slot's current stage. */
static void issue(int s, uint64_t t) {
  struct slot *sl = &slots[s];
  uint8_t p[64];
  uint32_t plen;
  uint16_t cmd;
  memset(p, 0, sizeof p);
  switch (mode) {
  case M_CONFIG:
    cmd = CMD_REGION_READ;
    put64(p, 0), put32(p + 8, 7), put32(p + 12, 4), plen = 16;
    break;
  case M_DISPI:
    cmd = CMD_REGION_READ;
    put64(p, 0x500), put32(p + 8, 2), put32(p + 12, 2), plen = 16;
    break;
  case M_REGIONWRITE:
    cmd = CMD_REGION_WRITE;
    put64(p, 0x50a), put32(p + 8, 2), put32(p + 12, 2), plen = 18; /* data: u16 0 */
    break;
  case M_REGIONINFO:
  case M_REGIONINFO_FD:
    /* vfio_region_info: argsz, flags, index, cap_offset, size u64, offset u64 */
    cmd = CMD_GET_REGION_INFO;
    put32(p, 32), put32(p + 8, mode == M_REGIONINFO ? 7 : 0), plen = 32;
    break;
  case M_PLANE:
  default:
    if (sl->stage == 0) {
      /* vfio_device_gfx_plane_info: argsz 64, flags DMABUF (2), drm_plane_type PRIMARY (1) */
      cmd = CMD_QUERY_GFX_PLANE;
      put32(p, 64), put32(p + 4, 2), put32(p + 8, 1), plen = 64;
    } else if (sl->stage == 1) {
      cmd = CMD_GET_GFX_DMABUF;
      put32(p, 56), put32(p + 4, sl->dmabuf_id), plen = 8;
    } else {
      cmd = CMD_RELEASE_GFX_DMABUF;
      put32(p, 8), put32(p + 4, sl->handle), plen = 8;
    }
    break;
  }
  if (sl->stage == 0) sl->op_t0 = t;
  uint16_t id = next_id++;
  if (id_slot[id] >= 0) fail("message id %s%ld reused while in flight", "", id);
  id_slot[id] = (int16_t)s;
  sl->command = cmd;
  send_msg(id, cmd, p, plen);
}

static void close_fds(const int *fds, int n) {
  for (int i = 0; i < n; i++) close(fds[i]);
}

/* Handle one reply for slot s. Returns 1 when the slot's operation is complete. */
static int on_reply(int s, const struct hdr *h, const uint8_t *pl, uint32_t plen, const int *fds, int nfds) {
  struct slot *sl = &slots[s];
  if ((h->flags & F_TYPE_MASK) != F_TYPE_REPLY) fail("reply %s with type %ld", "", h->flags & F_TYPE_MASK);
  if (h->flags & F_ERROR) fail("error reply to command %s%ld", "", (long)h->command * 1000 + h->error);
  if (h->command != sl->command) fail("reply command %s%ld does not match the request", "", h->command);
  fds_received += (uint64_t)nfds;
  switch (mode) {
  case M_CONFIG:
  case M_DISPI: {
    uint32_t want = mode == M_CONFIG ? 4 : 2;
    if (plen != 16 + want) fail("REGION_READ reply payload %s%ld bytes", "", plen);
    if (nfds) fail("REGION_READ reply with %s%ld fds", "", nfds);
    return 1;
  }
  case M_REGIONWRITE:
    if (plen != 16) fail("REGION_WRITE reply payload %s%ld bytes", "", plen);
    if (nfds) fail("REGION_WRITE reply with %s%ld fds", "", nfds);
    return 1;
  case M_REGIONINFO:
  case M_REGIONINFO_FD:
    if (strict) {
      if (plen < 32) fail("GET_REGION_INFO reply payload %s%ld bytes", "", plen);
      if (mode == M_REGIONINFO && nfds != 0) fail("region 7 info came with %s%ld fds", "", nfds);
      if (mode == M_REGIONINFO_FD && nfds != 1) fail("region 0 info came with %s%ld fds, want 1", "", nfds);
    }
    close_fds(fds, nfds);
    return 1;
  case M_PLANE:
  default:
    if (sl->stage == 0) {
      if (nfds) fail("QUERY_GFX_PLANE reply with %s%ld fds", "", nfds);
      if (plen >= 64) {
        uint32_t width = get32(pl + 24), height = get32(pl + 28);
        if (strict && (width != 640 || height != 480)) fail("plane is %s%ld (width*10000+height), want 640x480", "", (long)width * 10000 + height);
        sl->dmabuf_id = get32(pl + 56);
      } else if (strict) {
        fail("QUERY_GFX_PLANE reply payload %s%ld bytes", "", plen);
      } else {
        sl->dmabuf_id = 0;
      }
      sl->stage = 1;
      return 0;
    }
    if (sl->stage == 1) {
      sl->handle = 0;
      if (strict && (plen != 56 || nfds != 1)) fail("GET_GFX_DMABUF reply: payload %s%ld (bytes*100+fds)", "", (long)plen * 100 + nfds);
      if (nfds > 1) fail("GET_GFX_DMABUF reply with %s%ld fds", "", nfds);
      if (plen >= 56) sl->handle = get32(pl + 8);
      if (nfds == 1) {
        uint64_t off = plen >= 56 ? get64(pl + 16) : 0, size = plen >= 56 ? get64(pl + 24) : 0;
        uint64_t base = off & ~(uint64_t)(page_size - 1);
        size_t len = (size_t)(size + (off - base));
        if (size == 0) fail("dmabuf of %s%ld bytes", "", 0);
        void *m = mmap(NULL, len, PROT_READ, MAP_SHARED, fds[0], (off_t)base);
        if (m == MAP_FAILED) fail("mmap: %s (%ld)", strerror(errno), errno);
        if (munmap(m, len) != 0) fail("munmap: %s (%ld)", strerror(errno), errno);
        close(fds[0]);
      }
      sl->stage = 2;
      return 0;
    }
    if (nfds) fail("RELEASE_GFX_DMABUF reply with %s%ld fds", "", nfds);
    sl->stage = 0;
    return 1;
  }
}

/* Read once (blocking); returns the bytes read. fds are queued by stream position. */
static void read_some(void) {
  if (rstart == rend) rstart = rend = 0;
  if (RBUF - rend < 65536) {
    memmove(rbuf, rbuf + rstart, rend - rstart);
    rbase += rstart;
    rend -= rstart;
    rstart = 0;
  }
  union {
    char buf[CMSG_SPACE(sizeof(int) * MAX_FDS)];
    struct cmsghdr align;
  } control;
  struct iovec iov = {rbuf + rend, RBUF - rend};
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = control.buf, .msg_controllen = sizeof control.buf};
  ssize_t n;
  do n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  while (n < 0 && errno == EINTR);
  if (n < 0) fail("recvmsg: %s (%ld)", strerror(errno), errno);
  if (n == 0) fail("server closed the connection%s (%ld)", "", 0);
  if (msg.msg_flags & MSG_CTRUNC) fail("fds truncated%s (%ld)", "", 0);
  reads++;
  rend += (size_t)n;
  for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    if (npfds == 64) fail("too many pending fd batches%s (%ld)", "", 64);
    struct pending_fds *p = &pfds[npfds++];
    p->n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
    memcpy(p->fds, CMSG_DATA(c), sizeof(int) * (size_t)p->n);
    p->at = rbase + rend - 1; /* belongs to the message holding the read's last byte */
  }
}

/* Take the next whole reply, if any: header copied to *h, payload pointer, fds collected. */
static int next_reply(struct hdr *h, const uint8_t **payload, int *fds, int *nfds) {
  if (rend - rstart < HDR) return 0;
  memcpy(h, rbuf + rstart, HDR);
  if (h->size < HDR || h->size > RBUF - 65536) fail("reply size %s%ld", "", h->size);
  if (rend - rstart < h->size) return 0;
  uint64_t pos = rbase + rstart;
  *nfds = 0;
  while (npfds > 0 && pfds[0].at < pos + h->size) {
    if (pfds[0].at < pos || *nfds + pfds[0].n > MAX_FDS) fail("misattributed fds%s (%ld)", "", 0);
    memcpy(fds + *nfds, pfds[0].fds, sizeof(int) * (size_t)pfds[0].n);
    *nfds += pfds[0].n;
    memmove(pfds, pfds + 1, sizeof pfds[0] * (size_t)(npfds - 1));
    npfds--;
  }
  *payload = rbuf + rstart + HDR;
  rstart += h->size;
  replies++;
  return 1;
}

/* One synchronous request outside the measured loop (VERSION, mode set). */
static void simple_request(uint16_t command, const void *payload, uint32_t plen, uint8_t *reply, uint32_t *rlen) {
  int saved = batch_send;
  batch_send = 0;
  uint16_t id = next_id++;
  send_msg(id, command, payload, plen);
  batch_send = saved;
  struct hdr h;
  const uint8_t *pl;
  int fds[MAX_FDS], nfds;
  while (!next_reply(&h, &pl, fds, &nfds)) read_some();
  close_fds(fds, nfds);
  if (h.id != id || h.command != command || (h.flags & F_TYPE_MASK) != F_TYPE_REPLY) fail("bad reply to setup command %s%ld", "", command);
  if (h.flags & F_ERROR) fail("setup command failed: command*1000+errno = %s%ld", "", (long)command * 1000 + h.error);
  uint32_t n = h.size - HDR;
  if (reply != NULL) {
    if (n > *rlen) n = *rlen;
    memcpy(reply, pl, n);
    *rlen = n;
  }
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

static void usage(void) {
  fprintf(stderr,
          "usage: vfu-load SOCKET --mode config|dispi|regionwrite|regioninfo|regioninfo-fd|plane-dmabuf\n"
          "                [--depth D] [--count N] [--warmup W] [--display] [--strict] [--send per-request|batch]\n");
  exit(2);
}

int main(int argc, char **argv) {
  const char *path = NULL;
  long depth = 1, count = 100000, warmup = -1;
  int display = 0, have_mode = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    const char *v = i + 1 < argc ? argv[i + 1] : NULL;
    if (strcmp(a, "--mode") == 0 && v) {
      int found = 0;
      for (int m = 0; m < NMODES; m++)
        if (strcmp(v, MODE_NAMES[m]) == 0) mode = (enum mode)m, found = 1;
      if (!found) usage();
      have_mode = 1, i++;
    } else if (strcmp(a, "--depth") == 0 && v) {
      depth = atol(v), i++;
    } else if (strcmp(a, "--count") == 0 && v) {
      count = atol(v), i++;
    } else if (strcmp(a, "--warmup") == 0 && v) {
      warmup = atol(v), i++;
    } else if (strcmp(a, "--send") == 0 && v) {
      if (strcmp(v, "batch") == 0) batch_send = 1;
      else if (strcmp(v, "per-request") == 0) batch_send = 0;
      else usage();
      i++;
    } else if (strcmp(a, "--display") == 0) {
      display = 1;
    } else if (strcmp(a, "--strict") == 0) {
      strict = 1;
    } else if (a[0] != '-' && path == NULL) {
      path = a;
    } else {
      usage();
    }
  }
  if (path == NULL || !have_mode || depth < 1 || depth > MAX_DEPTH || count < 1) usage();
  if (warmup < 0) warmup = count / 5 < 20000 ? count / 5 : 20000;
  if (mode == M_PLANE) display = 1;
  page_size = sysconf(_SC_PAGESIZE);
  memset(id_slot, 0xff, sizeof id_slot);
  rbuf = malloc(RBUF);
  uint64_t *lat = malloc(sizeof *lat * (size_t)count);
  if (rbuf == NULL || lat == NULL) fail("malloc%s (%ld)", "", 0);

  struct sockaddr_un addr = {.sun_family = AF_UNIX};
  if (strlen(path) >= sizeof addr.sun_path) fail("socket path too long%s (%ld)", "", 0);
  strcpy(addr.sun_path, path);
  sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof addr) != 0) fail("connect: %s (%ld)", strerror(errno), errno);

  /* VERSION: major 0, minor 0, optional JSON. */
  uint8_t vp[128] = {0};
  uint32_t vlen = 4;
  if (display) {
    const char *json = "{\"capabilities\":{\"mdevsim_display\":true}}";
    memcpy(vp + 4, json, strlen(json) + 1);
    vlen += (uint32_t)strlen(json) + 1;
  }
  uint8_t vr[256];
  uint32_t vrlen = sizeof vr - 1;
  simple_request(CMD_VERSION, vp, vlen, vr, &vrlen);
  vr[vrlen] = 0;
  if (vrlen < 4 || vr[0] != 0 || vr[1] != 0) fail("VERSION reply major is not 0%s (%ld)", "", 0);
  if (strict && display && (vrlen <= 4 || strstr((const char *)vr + 4, "\"mdevsim_display\":true") == NULL))
    fail("server did not agree to the display extension%s (%ld)", "", 0);

  if (mode == M_PLANE) {
    /* 640x480x32 through the dispi registers (region 2, 0x500 + 2 * index). */
    static const uint16_t regs[][2] = {{4, 0}, {3, 32}, {1, 640}, {2, 480}, {6, 640}, {8, 0}, {9, 0}, {4, 0x41}};
    for (size_t i = 0; i < sizeof regs / sizeof regs[0]; i++) {
      uint8_t w[18];
      put64(w, 0x500 + 2u * regs[i][0]), put32(w + 8, 2), put32(w + 12, 2);
      memcpy(w + 16, &regs[i][1], 2);
      simple_request(CMD_REGION_WRITE, w, sizeof w, NULL, NULL);
    }
  }

  const long total = warmup + count;
  long started = 0, completed = 0;
  uint64_t round_trips = 0, t_start = 0, t_end = 0, rt_at_start = 0;
  uint64_t reads_at_start = 0, replies_at_start = 0, fds_at_start = 0;
  uint64_t t = now_ns();
  if (warmup == 0) t_start = t;
  for (int s = 0; s < depth && started < total; s++, started++) issue(s, t);
  flush_out();
  while (completed < total) {
    read_some();
    struct hdr h;
    const uint8_t *pl;
    int fds[MAX_FDS], nfds;
    while (next_reply(&h, &pl, fds, &nfds)) {
      int s = id_slot[h.id];
      if (s < 0) fail("reply id %s%ld matches no request", "", h.id);
      id_slot[h.id] = -1;
      round_trips++;
      int done = on_reply(s, &h, pl, h.size - HDR, fds, nfds);
      t = now_ns();
      if (done) {
        if (completed >= warmup) lat[completed - warmup] = t - slots[s].op_t0;
        completed++;
        if (completed == warmup) {
          t_start = t;
          rt_at_start = round_trips;
          reads_at_start = reads;
          replies_at_start = replies;
          fds_at_start = fds_received;
        }
        if (completed == total) t_end = t;
        if (started < total) {
          started++;
          issue(s, t);
        }
      } else {
        issue(s, t);
      }
    }
    flush_out();
  }
  if (npfds != 0) fail("fds left over%s (%ld)", "", npfds);
  close(sock);
  double seconds = (double)(t_end - t_start) / 1e9;
  qsort(lat, (size_t)count, sizeof *lat, cmp_u64);
  uint64_t p50 = lat[(size_t)((count * 50 + 99) / 100) - 1];
  uint64_t p99 = lat[(size_t)((count * 99 + 99) / 100) - 1];
  uint64_t rts = round_trips - rt_at_start;
  uint64_t nreads = reads - reads_at_start;
  printf("{\"mode\":\"%s\",\"depth\":%ld,\"send\":\"%s\",\"ops\":%ld,\"round_trips\":%llu,\"seconds\":%.6f,"
         "\"rate\":%.1f,\"rt_rate\":%.1f,\"p50_ns\":%llu,\"p99_ns\":%llu,\"fds_per_op\":%.3f,\"replies_per_read\":%.3f}\n",
         MODE_NAMES[mode], depth, batch_send ? "batch" : "per-request", count, (unsigned long long)rts, seconds,
         (double)count / seconds, (double)rts / seconds, (unsigned long long)p50, (unsigned long long)p99,
         (double)(fds_received - fds_at_start) / (double)count,
         nreads ? (double)(replies - replies_at_start) / (double)nreads : 0.0);
  free(lat);
  free(rbuf);
  return 0;
}
