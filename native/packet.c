/*
 * vmrouter_packet: send one Ethernet frame out of an interface through an AF_PACKET socket.
 *
 * Why a packet socket: the gratuitous ARP and unsolicited NA that announce a VM carry the VM's
 * address as sender, which is not an address of the node, so neither `arping` (it binds to the source
 * address) nor an ICMPv6 raw socket (the kernel picks the source) can send them. Frames are built in
 * TypeScript (src/ndp/frames.ts); this file only hands them to the kernel.
 *
 * One socket serves the whole process: closing a packet socket waits for an RCU grace period
 * (packet_release -> synchronize_net), ~10 ms, which per frame made announcing 1000 VMs take seconds.
 *
 * listen(): one receiving socket for every interface of the namespace, with a classic BPF filter
 * (built in TypeScript, src/ndp/filter.ts) so the kernel hands over only the few frames the
 * responder answers. Frames this process sends are not looped back (PACKET_IGNORE_OUTGOING).
 * Readiness comes from libuv (uv_poll) on Node's own loop; each frame is passed to the callback as
 * (ifindex, pkttype, frame, checksumTrusted, receivedMs). The kernel keeps answering everything it answers anyway: this socket
 * only gets copies, so nothing is lost while the daemon is down (fail-open by construction).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <linux/filter.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <node_api.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_throw_error(env, NULL, msg);
  return NULL;
}

/* send(ifindex: number, frame: Buffer): undefined */
static napi_value send_frame(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc != 2) {
    napi_throw_type_error(env, NULL, "send(ifindex, frame)");
    return NULL;
  }
  int32_t ifindex = 0;
  if (napi_get_value_int32(env, argv[0], &ifindex) != napi_ok || ifindex <= 0) {
    napi_throw_type_error(env, NULL, "ifindex must be a positive integer");
    return NULL;
  }
  bool is_buffer = false;
  napi_is_buffer(env, argv[1], &is_buffer);
  if (!is_buffer) {
    napi_throw_type_error(env, NULL, "frame must be a Buffer");
    return NULL;
  }
  void *data = NULL;
  size_t len = 0;
  napi_get_buffer_info(env, argv[1], &data, &len);
  if (len < ETH_HLEN || len > 1514) {
    napi_throw_range_error(env, NULL, "frame must be 14 to 1514 bytes");
    return NULL;
  }

  /* protocol 0: this socket only sends, it never queues received frames */
  static int fd = -1;
  if (fd < 0) fd = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);

  struct sockaddr_ll to;
  memset(&to, 0, sizeof to);
  to.sll_family = AF_PACKET;
  to.sll_ifindex = ifindex;
  to.sll_halen = ETH_ALEN;
  memcpy(to.sll_addr, data, ETH_ALEN);
  memcpy(&to.sll_protocol, (const char *)data + 12, 2);

  ssize_t sent = sendto(fd, data, len, 0, (struct sockaddr *)&to, sizeof to);
  if (sent < 0) return throw_errno(env, "sendto", errno);
  if ((size_t)sent != len) {
    napi_throw_error(env, NULL, "sendto: short write");
    return NULL;
  }
  return NULL;
}

/* ---- receiving ---- */

#define MAX_FRAME 2048

typedef struct {
  napi_env env;
  napi_ref callback;
  napi_async_context async;
  uv_poll_t poll;
  int fd;
  int active;
} receiver_t;

static receiver_t *receiver = NULL;

static void on_readable(uv_poll_t *handle, int status, int events) {
  (void)events;
  receiver_t *r = (receiver_t *)handle->data;
  if (status < 0 || !r->active) return;
  napi_env env = r->env;
  unsigned char buf[MAX_FRAME];
  /* drain what is queued now, but yield to the loop after a bounded burst */
  for (int burst = 0; burst < 256 && r->active; burst++) {
    struct sockaddr_ll from;
    struct iovec iov = { .iov_base = buf, .iov_len = sizeof buf };
    union {
      struct cmsghdr align;
      char space[CMSG_SPACE(sizeof(struct tpacket_auxdata)) + CMSG_SPACE(sizeof(struct timespec))];
    } control;
    struct msghdr msg = { .msg_name = &from, .msg_namelen = sizeof from, .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control, .msg_controllen = sizeof control };
    ssize_t n = recvmsg(r->fd, &msg, MSG_DONTWAIT | MSG_TRUNC);
    if (n < 0) break;
    if ((size_t)n > sizeof buf) continue; /* jumbo frame: never one of ours */
    /* The sender's stack may leave the L4 checksum to the NIC (CHECKSUM_PARTIAL: veth, virtio TAPs);
       then the field is not final, and the kernel says so (or that it verified it). */
    int checksum_trusted = 0;
    /* when the kernel received it (CLOCK_REALTIME, ms): RFC timing counts from there, not from when
       this process got round to reading it */
    double received_ms = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level == SOL_PACKET && c->cmsg_type == PACKET_AUXDATA) {
        struct tpacket_auxdata aux;
        memcpy(&aux, CMSG_DATA(c), sizeof aux);
        checksum_trusted = (aux.tp_status & (TP_STATUS_CSUMNOTREADY | TP_STATUS_CSUM_VALID)) != 0;
      } else if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_TIMESTAMPNS) {
        struct timespec ts;
        memcpy(&ts, CMSG_DATA(c), sizeof ts);
        received_ms = (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
      }
    }
    napi_handle_scope scope;
    napi_open_handle_scope(env, &scope);
    napi_value cb, global, args[5], result;
    napi_get_reference_value(env, r->callback, &cb);
    napi_get_global(env, &global);
    napi_create_int32(env, from.sll_ifindex, &args[0]);
    napi_create_int32(env, from.sll_pkttype, &args[1]);
    void *data;
    napi_create_buffer_copy(env, (size_t)n, buf, &data, &args[2]);
    napi_get_boolean(env, checksum_trusted, &args[3]);
    napi_create_double(env, received_ms, &args[4]);
    napi_make_callback(env, r->async, global, cb, 5, args, &result);
    napi_close_handle_scope(env, scope);
  }
}

/* listen(filter: Buffer (struct sock_filter[]), callback(ifindex, pkttype, frame)): undefined */
static napi_value listen_frames(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (receiver) {
    napi_throw_error(env, NULL, "already listening");
    return NULL;
  }
  void *code = NULL;
  size_t len = 0;
  bool is_buffer = false;
  napi_is_buffer(env, argv[0], &is_buffer);
  if (argc != 2 || !is_buffer) {
    napi_throw_type_error(env, NULL, "listen(filter: Buffer, callback)");
    return NULL;
  }
  napi_get_buffer_info(env, argv[0], &code, &len);
  if (len == 0 || len % sizeof(struct sock_filter) != 0 || len / sizeof(struct sock_filter) > BPF_MAXINSNS) {
    napi_throw_range_error(env, NULL, "filter must be 1 to 4096 BPF instructions");
    return NULL;
  }
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, htons(ETH_P_ALL));
  if (fd < 0) return throw_errno(env, "socket(AF_PACKET)", errno);
  struct sock_fprog prog = { .len = (unsigned short)(len / sizeof(struct sock_filter)), .filter = (struct sock_filter *)code };
  int one = 1, rcvbuf = 8 << 20;
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_PACKET, PACKET_AUXDATA, &one, sizeof one) < 0 ||
      setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one) < 0) {
    int err = errno;
    close(fd);
    return throw_errno(env, "setsockopt", err);
  }
  /* a burst of 1000 VMs booting at once must not overflow the default queue */
  setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf);

  receiver_t *r = calloc(1, sizeof *r);
  r->env = env;
  r->fd = fd;
  r->active = 1;
  napi_create_reference(env, argv[1], 1, &r->callback);
  napi_value name;
  napi_create_string_utf8(env, "vmrouter_packet", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &r->async);
  uv_loop_t *loop;
  napi_get_uv_event_loop(env, &loop);
  uv_poll_init(loop, &r->poll, fd);
  r->poll.data = r;
  uv_poll_start(&r->poll, UV_READABLE, on_readable);
  receiver = r;
  return NULL;
}

static void on_closed(uv_handle_t *handle) {
  receiver_t *r = (receiver_t *)handle->data;
  close(r->fd);
  free(r);
}

/* stop(): undefined — stops listening; the loop may then exit */
static napi_value stop_listening(napi_env env, napi_callback_info info) {
  (void)info;
  if (!receiver) return NULL;
  receiver_t *r = receiver;
  receiver = NULL;
  r->active = 0;
  uv_poll_stop(&r->poll);
  napi_delete_reference(env, r->callback);
  napi_async_destroy(env, r->async);
  uv_close((uv_handle_t *)&r->poll, on_closed);
  return NULL;
}

/* stats(): { received, dropped } since the last call (PACKET_STATISTICS) */
static napi_value receive_stats(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out, v;
  napi_create_object(env, &out);
  struct tpacket_stats st = { 0, 0 };
  socklen_t len = sizeof st;
  if (receiver) getsockopt(receiver->fd, SOL_PACKET, PACKET_STATISTICS, &st, &len);
  napi_create_uint32(env, st.tp_packets, &v);
  napi_set_named_property(env, out, "received", v);
  napi_create_uint32(env, st.tp_drops, &v);
  napi_set_named_property(env, out, "dropped", v);
  return out;
}

#ifndef SO_NETNS_COOKIE
#define SO_NETNS_COOKIE 71
#endif

/*
 * netnsCookie(): string | null — the network namespace's cookie (SO_NETNS_COOKIE, Linux 5.14): a
 * 64-bit number the kernel never gives to another namespace, unlike the nsfs inode, which is reused
 * once a namespace is gone. The ledger records it, so a namespace deleted and re-created under the
 * same name does not inherit the records of the old one. null on kernels without it.
 */
static napi_value netns_cookie(napi_env env, napi_callback_info info) {
  (void)info;
  napi_value out;
  uint64_t cookie = 0;
  socklen_t len = sizeof cookie;
  int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, "socket", errno);
  int r = getsockopt(fd, SOL_SOCKET, SO_NETNS_COOKIE, &cookie, &len);
  int err = errno;
  close(fd);
  if (r < 0) {
    if (err == ENOPROTOOPT) {
      napi_get_null(env, &out);
      return out;
    }
    return throw_errno(env, "getsockopt SO_NETNS_COOKIE", err);
  }
  char text[24];
  snprintf(text, sizeof text, "%llu", (unsigned long long)cookie);
  napi_create_string_utf8(env, text, NAPI_AUTO_LENGTH, &out);
  return out;
}

static napi_value init(napi_env env, napi_value exports) {
  const struct { const char *name; napi_callback fn; } fns[] = {
    { "send", send_frame }, { "listen", listen_frames }, { "stop", stop_listening }, { "stats", receive_stats }, { "netnsCookie", netns_cookie },
  };
  for (size_t i = 0; i < sizeof fns / sizeof fns[0]; i++) {
    napi_value fn;
    napi_create_function(env, fns[i].name, NAPI_AUTO_LENGTH, fns[i].fn, NULL, &fn);
    napi_set_named_property(env, exports, fns[i].name, fn);
  }
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
