/*
 * C baseline for native-roundtrip.bench.ts: one sendmsg + recvmsg round trip
 * of a 16-byte message over an AF_UNIX stream socketpair between two
 * processes (parent = client, forked child = a do-nothing echo server).
 * Blocking sockets: the cheapest way C can do it.
 *
 *   pingpong [iterations] [warmup]
 *
 * Prints one JSON line: iterations, seconds, rate (round trips/s), p50_ns,
 * p99_ns (per round-trip latency as seen by the client).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MSG 16

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void send_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    struct iovec iov = {(void *)buf, len};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = sendmsg(fd, &msg, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("sendmsg");
    }
    buf += n;
    len -= (size_t)n;
  }
}

/* Returns 0 on EOF before anything arrived. */
static int recv_all(int fd, char *buf, size_t len) {
  size_t got = 0;
  while (got < len) {
    struct iovec iov = {buf + got, len - got};
    struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1};
    ssize_t n = recvmsg(fd, &msg, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      die("recvmsg");
    }
    if (n == 0) return 0;
    got += (size_t)n;
  }
  return 1;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int cmp_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  long iterations = argc > 1 ? atol(argv[1]) : 100000;
  long warmup = argc > 2 ? atol(argv[2]) : 10000;
  if (iterations <= 0 || warmup < 0) {
    fprintf(stderr, "usage: pingpong [iterations] [warmup]\n");
    return 2;
  }
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) die("socketpair");
  pid_t pid = fork();
  if (pid < 0) die("fork");
  char buf[MSG];
  if (pid == 0) { /* echo server */
    close(sv[0]);
    while (recv_all(sv[1], buf, MSG)) send_all(sv[1], buf, MSG);
    _exit(0);
  }
  close(sv[1]);
  memset(buf, 0x5a, sizeof buf);
  for (long i = 0; i < warmup; i++) {
    send_all(sv[0], buf, MSG);
    if (!recv_all(sv[0], buf, MSG)) die("early EOF");
  }
  uint64_t *samples = malloc(sizeof *samples * (size_t)iterations);
  if (samples == NULL) die("malloc");
  uint64_t start = now_ns();
  for (long i = 0; i < iterations; i++) {
    uint64_t t0 = now_ns();
    send_all(sv[0], buf, MSG);
    if (!recv_all(sv[0], buf, MSG)) die("early EOF");
    samples[i] = now_ns() - t0;
  }
  double seconds = (double)(now_ns() - start) / 1e9;
  close(sv[0]);
  waitpid(pid, NULL, 0);
  qsort(samples, (size_t)iterations, sizeof *samples, cmp_u64);
  uint64_t p50 = samples[(size_t)((iterations * 50 + 99) / 100) - 1];
  uint64_t p99 = samples[(size_t)((iterations * 99 + 99) / 100) - 1];
  printf("{\"impl\":\"c\",\"iterations\":%ld,\"seconds\":%.6f,\"rate\":%.1f,\"p50_ns\":%llu,\"p99_ns\":%llu}\n",
         iterations, seconds, (double)iterations / seconds, (unsigned long long)p50, (unsigned long long)p99);
  free(samples);
  return 0;
}
