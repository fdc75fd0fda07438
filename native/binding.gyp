{
  "targets": [
    {
      "target_name": "floodgate_native",
      "sources": ["src/addon.c", "src/engine.c", "src/agg.c", "src/parse.c"],
      "cflags": ["-O2", "-Wall", "-Wextra", "-std=gnu11"],
      "cflags!": ["-fno-exceptions"],
      "libraries": ["-lpcap", "-lpthread"],
      "defines": ["NAPI_VERSION=8"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O2", "-Wall", "-Wextra", "-std=gnu11"] }
    }
  ]
}
