{
  "targets": [
    {
      "target_name": "vxroute",
      "sources": [
        "src/addon.cc",
        "src/checksum.cc",
        "src/event.cc",
        "src/exec.cc",
        "src/gso_coalesce.cc",
        "src/internet_checksum.cc",
        "src/keep_from_children.cc",
        "src/partial_checksum.cc",
        "src/received_whole.cc",
        "src/ring_completion.cc",
        "src/tun.cc",
        "src/tso_split.cc",
        "src/tun_offload.cc",
        "src/tun_ring.cc",
        "src/tunnel_gso_frame.cc",
        "src/tunnel_gso_send.cc",
        "src/udp.cc",
        "src/udp_gro.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": ["-std=c++17", "-O2", "-Wall", "-Wextra"]
    }
  ]
}
