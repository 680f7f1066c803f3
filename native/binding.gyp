{
  "targets": [
    {
      "target_name": "mdevsim_native",
      "sources": [
        "src/addon.cc",
        "src/errors.cc",
        "src/fd.cc",
        "src/memfd.cc",
        "src/mmap.cc",
        "src/scm.cc",
        "src/dgram.cc",
        "src/eventfd.cc",
        "src/watcher.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Werror"]
    }
  ]
}
