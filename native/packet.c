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
 */
#include <errno.h>
#include <stdio.h>
#include <linux/if_packet.h>
#include <net/ethernet.h>
#include <node_api.h>
#include <string.h>
#include <sys/socket.h>

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

static napi_value init(napi_env env, napi_value exports) {
  napi_value fn;
  napi_create_function(env, "send", NAPI_AUTO_LENGTH, send_frame, NULL, &fn);
  napi_set_named_property(env, exports, "send", fn);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
