/*
 * hugePageBuffer(bytes) -> ArrayBuffer | undefined
 *   Zeroed plain memory of `bytes` bytes (rounded up to 2 MiB), 2 MiB-aligned and advised for
 *   transparent huge pages (MADV_HUGEPAGE: used when THP is in "madvise" or "always" mode). Undefined
 *   where external ArrayBuffers are not allowed (V8 sandbox builds) or the mapping fails; then the caller
 *   uses a plain ArrayBuffer.
 *
 * Why: a read's pages are pinned and handed to the device one by one, so a read of tens or hundreds of
 * KB into 2 MiB pages hands the device far fewer pieces than into 4 KiB pages and completes sooner on
 * virtual disks (README, Performance); reads of a few KiB gain nothing. The memory is returned to the
 * system (munmap) when the ArrayBuffer is collected.
 */
#define _GNU_SOURCE
#include <stdint.h>
#include <sys/mman.h>

#include "addon.h"

#define HUGE_PAGE_BYTES ((size_t)2 << 20)
/* Node 20 makes external ArrayBuffers through Buffer, at most 2^32 bytes; a larger one calls the
   finalizer (munmap) at once and fails, so it is refused here (a multiple of 2 MiB). */
#define MAX_BYTES ((size_t)1 << 32)

static void unmap(napi_env env, void *data, void *hint) {
  (void)env;
  munmap(data, (size_t)(uintptr_t)hint);
}

napi_value HugePageBuffer(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1], result;
  double requested;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 1 || napi_get_value_double(env, argv[0], &requested) != napi_ok ||
      !(requested >= 1 && requested <= (double)MAX_BYTES)) {
    napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", "hugePageBuffer takes a byte count from 1 to 2^32");
    return NULL;
  }
  napi_get_undefined(env, &result);
  size_t bytes = ((size_t)requested + HUGE_PAGE_BYTES - 1) & ~(HUGE_PAGE_BYTES - 1);
  /* Map one huge page more than needed and trim both ends, so the buffer starts on a 2 MiB boundary. */
  uint8_t *mapped = mmap(NULL, bytes + HUGE_PAGE_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapped == MAP_FAILED) return result;
  uint8_t *start = (uint8_t *)(((uintptr_t)mapped + HUGE_PAGE_BYTES - 1) & ~(uintptr_t)(HUGE_PAGE_BYTES - 1));
  if (start > mapped) munmap(mapped, (size_t)(start - mapped));
  size_t tail = (size_t)(mapped + bytes + HUGE_PAGE_BYTES - (start + bytes));
  if (tail > 0) munmap(start + bytes, tail);
#ifdef MADV_HUGEPAGE
  madvise(start, bytes, MADV_HUGEPAGE);
#endif
  if (napi_create_external_arraybuffer(env, start, bytes, unmap, (void *)(uintptr_t)bytes, &result) != napi_ok) {
    /* With an exception pending Node may have run the finalizer already: clear it and leave the memory
       to it; otherwise (no external buffers allowed) the mapping is still ours. */
    bool pending = false;
    napi_is_exception_pending(env, &pending);
    if (pending) {
      napi_value error;
      napi_get_and_clear_last_exception(env, &error);
    } else {
      munmap(start, bytes);
    }
    napi_get_undefined(env, &result);
  }
  return result;
}
