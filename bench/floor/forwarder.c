/*
 * The floor: the least a forwarder of RTP can do on this machine. It receives RTP on one
 * UDP socket (127.0.0.1) and sends every packet to N receivers, in one of four modes:
 *
 *   sendto         one recvfrom per packet, one sendto per copy (mediasoup's syscall
 *                  pattern: libuv reads a datagram per recvmsg, the worker sends a copy
 *                  per consumer transport)
 *   sendmmsg       recvmmsg for what is queued, then one sendmmsg for all the copies of
 *                  the packets it returned (at most 1024 copies per call)
 *   sendto-gcm     as sendto, each copy sealed with AES-128-GCM (OpenSSL EVP)
 *   sendmmsg-gcm   as sendmmsg, each copy sealed likewise
 *
 * Per copy it writes the copy's own SSRC into the 12-byte header (the original's XOR
 * (copy + 1) << 21: the receivers count loss per SSRC, as mediasoup's consumers each have
 * their own; a 4-byte store). With GCM, per copy: a fresh 12-byte IV (a salt XOR a 64-bit
 * counter), the copy's 12-byte header as AAD, everything after it encrypted, the 16-byte
 * tag appended: the per-copy work of an SRTP AEAD_AES_128_GCM sender. The key schedule is
 * set up once. No parsing beyond the 12-byte header, no allocation per packet.
 *
 *   forwarder PORT DEST... [@FILE...]     DEST: 127.0.0.1:PORT; FILE: one DEST a line
 *
 * PORT 0 binds any free port. It prints "ready port=P dests=N crypto=yes|no ..." and then
 * answers lines on stdin, one line each:
 *   mode NAME   -> "ok NAME" (or "err ...": unknown mode, or GCM built without OpenSSL)
 *   stats       -> "stats rx=.. copies=.. errors=.. recv_calls=.. send_calls=.. wakeups=..
 *                   user_us=.. sys_us=.. vcsw=.. ivcsw=.." (counters since start; CPU time
 *                   and context switches, voluntary / involuntary: getrusage RUSAGE_SELF)
 *   quit / EOF  -> the stats line, then exit
 * SIGUSR1 prints the stats line; SIGTERM / SIGINT print it and exit.
 *
 * Build: gcc -O2 -Wall -Wextra -o forwarder forwarder.c -lcrypto
 *        (or -DFLOOR_NO_CRYPTO without OpenSSL's headers: the GCM modes then answer err)
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#ifndef FLOOR_NO_CRYPTO
#include <openssl/crypto.h>
#include <openssl/evp.h>
#endif

#define MAX_DESTS 2047 /* (copy + 1) << 21 must fit the SSRC's 32 bits */
#define MAX_PACKET 1500
#define HEADER_BYTES 12
#define TAG_BYTES 16
#define RECV_BATCH 64
#define SEND_BATCH 1024 /* UIO_MAXIOV: the kernel's cap on one sendmmsg */

enum mode { MODE_SENDTO, MODE_SENDMMSG, MODE_SENDTO_GCM, MODE_SENDMMSG_GCM };
static const char *const MODE_NAMES[] = {"sendto", "sendmmsg", "sendto-gcm", "sendmmsg-gcm"};

static struct sockaddr_in dests[MAX_DESTS];
static int dest_count;
static int sock = -1;
static enum mode mode = MODE_SENDTO;

/* Counters since start. */
static unsigned long long rx, copies, errors, recv_calls, send_calls, wakeups;

/* Receive buffers: one for recvfrom, RECV_BATCH for recvmmsg. */
static unsigned char packets[RECV_BATCH][MAX_PACKET];
static struct mmsghdr recv_msgs[RECV_BATCH];
static struct iovec recv_iovs[RECV_BATCH];

/* Send batch: per message a header copy (or a whole sealed copy) and the shared body. */
static struct mmsghdr send_msgs[SEND_BATCH];
static struct iovec send_iovs[SEND_BATCH][2];
static unsigned char send_headers[SEND_BATCH][HEADER_BYTES];
#ifndef FLOOR_NO_CRYPTO
static unsigned char sealed[SEND_BATCH][MAX_PACKET + TAG_BYTES];
#endif
static int send_used;

static volatile sig_atomic_t want_stats, want_exit;

#ifndef FLOOR_NO_CRYPTO
/* Fixed test key and salt (the receivers do not decrypt; bench/lib/floor.ts knows them). */
static const unsigned char KEY[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
                                      0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
static const unsigned char SALT[12] = {0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5,
                                       0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab};
static EVP_CIPHER_CTX *gcm;
static uint64_t iv_counter;
#endif

static void die(const char *what) {
  perror(what);
  exit(1);
}

static void print_stats(void) {
  struct rusage usage;
  getrusage(RUSAGE_SELF, &usage);
  unsigned long long user =
      (unsigned long long)usage.ru_utime.tv_sec * 1000000ULL + (unsigned long long)usage.ru_utime.tv_usec;
  unsigned long long sys =
      (unsigned long long)usage.ru_stime.tv_sec * 1000000ULL + (unsigned long long)usage.ru_stime.tv_usec;
  printf("stats rx=%llu copies=%llu errors=%llu recv_calls=%llu send_calls=%llu wakeups=%llu "
         "user_us=%llu sys_us=%llu vcsw=%ld ivcsw=%ld\n",
         rx, copies, errors, recv_calls, send_calls, wakeups, user, sys, usage.ru_nvcsw,
         usage.ru_nivcsw);
  fflush(stdout);
}

static void on_signal(int signal_number) {
  if (signal_number == SIGUSR1)
    want_stats = 1;
  else
    want_exit = 1;
}

static int parse_dest(const char *text) {
  char host[64];
  const char *colon = strrchr(text, ':');
  if (!colon || (size_t)(colon - text) >= sizeof host) return -1;
  memcpy(host, text, (size_t)(colon - text));
  host[colon - text] = '\0';
  char *end;
  long port = strtol(colon + 1, &end, 10);
  if (*end != '\0' || port <= 0 || port > 65535) return -1;
  if (dest_count >= MAX_DESTS) return -1;
  struct sockaddr_in *d = &dests[dest_count];
  d->sin_family = AF_INET;
  d->sin_port = htons((uint16_t)port);
  if (inet_pton(AF_INET, host, &d->sin_addr) != 1) return -1;
  dest_count++;
  return 0;
}

static void read_dest_file(const char *path) {
  FILE *file = fopen(path, "r");
  if (!file) die(path);
  char line[128];
  while (fgets(line, sizeof line, file)) {
    line[strcspn(line, "\r\n \t")] = '\0';
    if (line[0] == '\0' || line[0] == '#') continue;
    if (parse_dest(line) < 0) {
      fprintf(stderr, "bad destination in %s: %s\n", path, line);
      exit(2);
    }
  }
  fclose(file);
}

static inline uint32_t copy_ssrc(uint32_t ssrc, int copy) {
  return ssrc ^ ((uint32_t)(copy + 1) << 21);
}

/* Writes the copy's SSRC (network order) into a 12-byte header. */
static inline void set_ssrc(unsigned char *header, uint32_t ssrc) {
  uint32_t be = htonl(ssrc);
  memcpy(header + 8, &be, 4);
}

static inline uint32_t get_ssrc(const unsigned char *packet) {
  uint32_t be;
  memcpy(&be, packet + 8, 4);
  return ntohl(be);
}

#ifndef FLOOR_NO_CRYPTO
static void crypto_init(void) {
  gcm = EVP_CIPHER_CTX_new();
  if (!gcm || EVP_EncryptInit_ex(gcm, EVP_aes_128_gcm(), NULL, NULL, NULL) != 1 ||
      EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_SET_IVLEN, 12, NULL) != 1 ||
      EVP_EncryptInit_ex(gcm, NULL, NULL, KEY, NULL) != 1) {
    fprintf(stderr, "OpenSSL AES-128-GCM setup failed\n");
    exit(1);
  }
}

/* out = header (AAD) || AES-128-GCM(body) || tag; returns the sealed length or -1. */
static int seal(unsigned char *out, const unsigned char *header, const unsigned char *body,
                int body_len) {
  unsigned char iv[12];
  memcpy(iv, SALT, 12);
  uint64_t counter = iv_counter++;
  for (int i = 0; i < 8; i++) iv[11 - i] ^= (unsigned char)(counter >> (8 * i));
  memcpy(out, header, HEADER_BYTES);
  int len = 0, final_len = 0;
  if (EVP_EncryptInit_ex(gcm, NULL, NULL, NULL, iv) != 1 ||
      EVP_EncryptUpdate(gcm, NULL, &len, out, HEADER_BYTES) != 1 ||
      EVP_EncryptUpdate(gcm, out + HEADER_BYTES, &len, body, body_len) != 1 ||
      EVP_EncryptFinal_ex(gcm, out + HEADER_BYTES + len, &final_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(gcm, EVP_CTRL_GCM_GET_TAG, TAG_BYTES,
                          out + HEADER_BYTES + len + final_len) != 1)
    return -1;
  return HEADER_BYTES + len + final_len + TAG_BYTES;
}
#endif

/* sendto: a syscall per copy. */
static void forward_sendto(unsigned char *packet, int len) {
  uint32_t ssrc = get_ssrc(packet);
  for (int i = 0; i < dest_count; i++) {
    const unsigned char *data = packet;
    int data_len = len;
    if (mode == MODE_SENDTO_GCM) {
#ifndef FLOOR_NO_CRYPTO
      unsigned char header[HEADER_BYTES];
      memcpy(header, packet, HEADER_BYTES);
      set_ssrc(header, copy_ssrc(ssrc, i));
      data_len = seal(sealed[0], header, packet + HEADER_BYTES, len - HEADER_BYTES);
      if (data_len < 0) {
        errors++;
        continue;
      }
      data = sealed[0];
#endif
    } else {
      set_ssrc(packet, copy_ssrc(ssrc, i));
    }
    send_calls++;
    if (sendto(sock, data, (size_t)data_len, MSG_DONTWAIT, (const struct sockaddr *)&dests[i],
               sizeof dests[i]) == data_len)
      copies++;
    else
      errors++;
  }
}

static void flush_batch(void) {
  int done = 0;
  while (done < send_used) {
    send_calls++;
    int n = sendmmsg(sock, send_msgs + done, (unsigned int)(send_used - done), MSG_DONTWAIT);
    if (n <= 0) {
      /* The message at `done` failed: count it and go on with the rest. */
      errors++;
      done++;
      continue;
    }
    copies += (unsigned long long)n;
    done += n;
  }
  send_used = 0;
}

/* sendmmsg: the copies of a received batch go out in one call (per SEND_BATCH). */
static void queue_copies(const unsigned char *packet, int len) {
  uint32_t ssrc = get_ssrc(packet);
  for (int i = 0; i < dest_count; i++) {
    if (send_used == SEND_BATCH) flush_batch();
    int slot = send_used;
    struct msghdr *msg = &send_msgs[slot].msg_hdr;
    memcpy(send_headers[slot], packet, HEADER_BYTES);
    set_ssrc(send_headers[slot], copy_ssrc(ssrc, i));
    if (mode == MODE_SENDMMSG_GCM) {
#ifndef FLOOR_NO_CRYPTO
      int sealed_len =
          seal(sealed[slot], send_headers[slot], packet + HEADER_BYTES, len - HEADER_BYTES);
      if (sealed_len < 0) {
        errors++;
        continue;
      }
      send_iovs[slot][0].iov_base = sealed[slot];
      send_iovs[slot][0].iov_len = (size_t)sealed_len;
      msg->msg_iovlen = 1;
#endif
    } else {
      send_iovs[slot][0].iov_base = send_headers[slot];
      send_iovs[slot][0].iov_len = HEADER_BYTES;
      send_iovs[slot][1].iov_base = (void *)(packet + HEADER_BYTES);
      send_iovs[slot][1].iov_len = (size_t)(len - HEADER_BYTES);
      msg->msg_iovlen = 2;
    }
    msg->msg_iov = send_iovs[slot];
    msg->msg_name = &dests[i];
    msg->msg_namelen = sizeof dests[i];
    send_used++;
  }
}

/* Drains the socket: forwards everything queued on it. */
static void on_readable(void) {
  if (mode == MODE_SENDTO || mode == MODE_SENDTO_GCM) {
    for (;;) {
      recv_calls++;
      ssize_t len = recvfrom(sock, packets[0], MAX_PACKET, MSG_DONTWAIT, NULL, NULL);
      if (len < 0) return; /* EAGAIN: drained */
      rx++;
      if (len < HEADER_BYTES) continue;
      forward_sendto(packets[0], (int)len);
    }
  }
  for (;;) {
    recv_calls++;
    int n = recvmmsg(sock, recv_msgs, RECV_BATCH, MSG_DONTWAIT, NULL);
    if (n <= 0) return;
    rx += (unsigned long long)n;
    for (int k = 0; k < n; k++) {
      int len = (int)recv_msgs[k].msg_len;
      if (len < HEADER_BYTES) continue;
      queue_copies(packets[k], len);
    }
    flush_batch();
    if (n < RECV_BATCH) return; /* the queue was emptied */
  }
}

/* One command line from stdin; returns 1 to exit. */
static int on_command(char *line) {
  line[strcspn(line, "\r\n")] = '\0';
  if (strcmp(line, "stats") == 0) {
    print_stats();
  } else if (strcmp(line, "quit") == 0) {
    return 1;
  } else if (strncmp(line, "mode ", 5) == 0) {
    const char *name = line + 5;
    int found = -1;
    for (int m = 0; m < 4; m++)
      if (strcmp(name, MODE_NAMES[m]) == 0) found = m;
    if (found < 0) {
      printf("err unknown mode %s\n", name);
#ifdef FLOOR_NO_CRYPTO
    } else if (found == MODE_SENDTO_GCM || found == MODE_SENDMMSG_GCM) {
      printf("err %s needs OpenSSL (built without it)\n", name);
#endif
    } else {
      mode = (enum mode)found;
      printf("ok %s\n", MODE_NAMES[found]);
    }
    fflush(stdout);
  } else if (line[0] != '\0') {
    printf("err unknown command %s\n", line);
    fflush(stdout);
  }
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s PORT DEST... [@FILE...]  (DEST: 127.0.0.1:PORT)\n", argv[0]);
    return 2;
  }
  char *end;
  long port = strtol(argv[1], &end, 10);
  if (*end != '\0' || port < 0 || port > 65535) {
    fprintf(stderr, "bad port %s\n", argv[1]);
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    if (argv[i][0] == '@') {
      read_dest_file(argv[i] + 1);
    } else if (parse_dest(argv[i]) < 0) {
      fprintf(stderr, "bad destination %s (at most %d)\n", argv[i], MAX_DESTS);
      return 2;
    }
  }
  if (dest_count == 0) {
    fprintf(stderr, "no destinations\n");
    return 2;
  }

  sock = socket(AF_INET, SOCK_DGRAM, 0);
  if (sock < 0) die("socket");
  int buffer = 1 << 20;
  setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &buffer, sizeof buffer);
  setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &buffer, sizeof buffer);
  struct sockaddr_in local = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
  local.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (bind(sock, (struct sockaddr *)&local, sizeof local) < 0) die("bind");
  socklen_t local_len = sizeof local;
  getsockname(sock, (struct sockaddr *)&local, &local_len);

  for (int k = 0; k < RECV_BATCH; k++) {
    recv_iovs[k].iov_base = packets[k];
    recv_iovs[k].iov_len = MAX_PACKET;
    recv_msgs[k].msg_hdr.msg_iov = &recv_iovs[k];
    recv_msgs[k].msg_hdr.msg_iovlen = 1;
  }

  struct sigaction action;
  memset(&action, 0, sizeof action);
  action.sa_handler = on_signal; /* no SA_RESTART: poll returns EINTR */
  sigaction(SIGUSR1, &action, NULL);
  sigaction(SIGTERM, &action, NULL);
  sigaction(SIGINT, &action, NULL);
  signal(SIGPIPE, SIG_IGN);

#ifndef FLOOR_NO_CRYPTO
  crypto_init();
  printf("ready port=%u dests=%d crypto=yes openssl=%s\n", ntohs(local.sin_port), dest_count,
         OpenSSL_version(OPENSSL_VERSION));
#else
  printf("ready port=%u dests=%d crypto=no\n", ntohs(local.sin_port), dest_count);
#endif
  fflush(stdout);

  char line[256];
  size_t line_used = 0;
  struct pollfd fds[2] = {{.fd = sock, .events = POLLIN}, {.fd = STDIN_FILENO, .events = POLLIN}};
  while (!want_exit) {
    if (want_stats) {
      want_stats = 0;
      print_stats();
    }
    int ready = poll(fds, 2, -1);
    if (ready < 0) {
      if (errno == EINTR) continue;
      die("poll");
    }
    wakeups++;
    if (fds[0].revents & POLLIN) on_readable();
    if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = read(STDIN_FILENO, line + line_used, sizeof line - 1 - line_used);
      if (n <= 0) break; /* EOF: the driver went away */
      line_used += (size_t)n;
      line[line_used] = '\0';
      char *start = line;
      char *newline;
      int quit = 0;
      while (!quit && (newline = strchr(start, '\n'))) {
        *newline = '\0';
        quit = on_command(start);
        start = newline + 1;
      }
      if (quit) break;
      line_used = strlen(start);
      memmove(line, start, line_used);
      if (line_used == sizeof line - 1) line_used = 0; /* an overlong line: dropped */
    }
  }
  print_stats();
#ifndef FLOOR_NO_CRYPTO
  EVP_CIPHER_CTX_free(gcm);
#endif
  return 0;
}
