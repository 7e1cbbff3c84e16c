{
  "targets": [
    {
      "target_name": "ditto_gst",
      "sources": ["addon.c", "dispatch.c", "values.c", "pipeline.c", "webrtc.c", "pads.c", "incoming.c", "ice.c"],
      "cflags": [
        "-std=gnu11",
        "-Wall",
        "-Wno-unused-parameter",
        "-Wno-missing-field-initializers",
        "<!@(pkg-config --cflags gstreamer-1.0 gstreamer-webrtc-1.0 gstreamer-sdp-1.0 gstreamer-app-1.0)"
      ],
      "defines": ["GST_USE_UNSTABLE_API"],
      "libraries": [
        "<!@(pkg-config --libs gstreamer-1.0 gstreamer-webrtc-1.0 gstreamer-sdp-1.0 gstreamer-app-1.0)",
        "-ldl"
      ]
    }
  ]
}
