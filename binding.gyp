# Builds build/Release/maaslab_libvirt.node, the thin N-API layer over libvirt.
# The TypeScript wrapper in src/libvirt/ holds all logic; see src/libvirt/binding.ts.
{
  "targets": [
    {
      "target_name": "maaslab_libvirt",
      "sources": [
        "src/libvirt/native/addon.cc",
        "src/libvirt/native/connection.cc",
        "src/libvirt/native/domain.cc",
        "src/libvirt/native/network.cc",
        "src/libvirt/native/storage.cc",
        "src/libvirt/native/events.cc",
        "src/libvirt/native/lane.cc",
        "src/libvirt/native/stream-pump.cc"
      ],
      "dependencies": [
        "<!(node -p \"require('node-addon-api').targets\"):node_addon_api_except"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-Wno-unused-parameter", "<!@(pkg-config --cflags libvirt)"],
      "libraries": ["<!@(pkg-config --libs libvirt)"],
      "defines": ["NAPI_VERSION=8", "NODE_API_SWALLOW_UNTHROWABLE_EXCEPTIONS"]
    }
  ]
}
