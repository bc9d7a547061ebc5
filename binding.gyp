{
  "variables": {
    "has_libjpeg": "<!(node scripts/has-libjpeg.js)"
  },
  "targets": [
    {
      "target_name": "lance_loader_native",
      "sources": ["native/batch_read.c", "native/ring.c", "native/async_read.c", "native/gather.c", "native/memory.c", "native/list_rows.c", "native/map_read.c"],
      "cflags_c": ["-std=gnu11", "-O2", "-Wall", "-Wextra"],
      "conditions": [
        [
          "has_libjpeg=='true'",
          {
            "sources": ["native/jpeg.c"],
            "defines": ["LANCE_LOADER_JPEG"],
            "libraries": ["-ljpeg"]
          }
        ]
      ]
    }
  ]
}
