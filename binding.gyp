{
  "targets": [
    {
      "target_name": "vmrouter_packet",
      "sources": ["native/packet.c"],
      "cflags": ["-Wall", "-Wextra", "-O2", "-fstack-protector-strong", "-D_FORTIFY_SOURCE=2"]
    }
  ]
}
