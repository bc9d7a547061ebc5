/*
 * The reads both batch readers share: accounting a finished read, the pread fallback, and on Linux an
 * io_uring of the calling thread with the blocking loop that keeps queue_depth reads in flight.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "read.h"

#ifdef HAVE_IO_URING
#include <sys/mman.h>
#include <sys/syscall.h>
#endif

int read_finished(Request *r, ssize_t result, int direct) {
  if (result == -EINTR || result == -EAGAIN) return 1;
  if (result < 0) {
    r->error = (int)-result;
    return 0;
  }
  r->done += (size_t)result;
  if (result == 0 || r->done >= r->length) return 0;
  /* O_DIRECT: a read that ends inside a sector is at end of file (the next one would be misaligned). */
  return !(direct && r->done % SECTOR_BYTES != 0);
}

size_t next_length(const Request *r) {
  size_t left = r->length - r->done;
  return left > MAX_SUBMIT_BYTES ? MAX_SUBMIT_BYTES : left;
}

void read_with_pread(int fd, Request *requests, size_t count, int direct) {
  for (size_t i = 0; i < count; i++) {
    Request *r = &requests[i];
    if (r->error != 0 || (direct && r->done % SECTOR_BYTES != 0)) continue;
    while (r->done < r->length) {
      ssize_t n = pread(fd, r->data + r->done, next_length(r), (off_t)(r->position + r->done));
      if (n < 0 && errno == EINTR) continue;
      if (!read_finished(r, n < 0 ? -(errno == EAGAIN ? EIO : errno) : n, direct)) break;
    }
  }
}

#ifdef HAVE_IO_URING
void ring_close(Ring *ring) {
  if (ring->sqe_map) munmap(ring->sqe_map, ring->sqe_map_bytes);
  if (ring->cq_map && ring->cq_map != ring->sq_map) munmap(ring->cq_map, ring->cq_map_bytes);
  if (ring->sq_map) munmap(ring->sq_map, ring->sq_map_bytes);
  if (ring->fd >= 0) close(ring->fd);
  free(ring);
}

Ring *ring_open(unsigned flags) {
  struct io_uring_params params;
  memset(&params, 0, sizeof params);
  params.flags = flags;
  int fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &params);
  if (fd < 0) {
    memset(&params, 0, sizeof params);
    fd = (int)syscall(__NR_io_uring_setup, RING_ENTRIES, &params);
  }
  if (fd < 0) return NULL;
  Ring *ring = calloc(1, sizeof *ring);
  if (!ring) {
    close(fd);
    return NULL;
  }
  ring->fd = fd;
  ring->entries = params.sq_entries;
  ring->sq_map_bytes = params.sq_off.array + params.sq_entries * sizeof(unsigned);
  ring->cq_map_bytes = params.cq_off.cqes + params.cq_entries * sizeof(struct io_uring_cqe);
  int single = (params.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) {
    if (ring->cq_map_bytes > ring->sq_map_bytes) ring->sq_map_bytes = ring->cq_map_bytes;
    ring->cq_map_bytes = ring->sq_map_bytes;
  }
  ring->sq_map = mmap(NULL, ring->sq_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQ_RING);
  if (ring->sq_map == MAP_FAILED) ring->sq_map = NULL;
  ring->cq_map = single ? ring->sq_map : mmap(NULL, ring->cq_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_CQ_RING);
  if (ring->cq_map == MAP_FAILED) ring->cq_map = NULL;
  ring->sqe_map_bytes = params.sq_entries * sizeof(struct io_uring_sqe);
  ring->sqe_map = mmap(NULL, ring->sqe_map_bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
  if (ring->sqe_map == MAP_FAILED) ring->sqe_map = NULL;
  if (!ring->sq_map || !ring->cq_map || !ring->sqe_map) {
    ring_close(ring);
    return NULL;
  }
  char *sq = ring->sq_map, *cq = ring->cq_map;
  ring->sq_head = (unsigned *)(sq + params.sq_off.head);
  ring->sq_tail = (unsigned *)(sq + params.sq_off.tail);
  ring->sq_mask = (unsigned *)(sq + params.sq_off.ring_mask);
  ring->sq_array = (unsigned *)(sq + params.sq_off.array);
  ring->cq_head = (unsigned *)(cq + params.cq_off.head);
  ring->cq_tail = (unsigned *)(cq + params.cq_off.tail);
  ring->cq_mask = (unsigned *)(cq + params.cq_off.ring_mask);
  ring->cqes = (struct io_uring_cqe *)(cq + params.cq_off.cqes);
  ring->sqes = ring->sqe_map;
  return ring;
}

void ring_prepare_read(Ring *ring, unsigned tail, int fd, Request *r, uint64_t user_data) {
  unsigned slot = tail & *ring->sq_mask;
  struct io_uring_sqe *sqe = &ring->sqes[slot];
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = IORING_OP_READ;
  sqe->fd = fd;
  sqe->off = r->position + r->done;
  sqe->addr = (uint64_t)(uintptr_t)(r->data + r->done);
  sqe->len = (uint32_t)next_length(r);
  sqe->user_data = user_data;
  ring->sq_array[slot] = slot;
}

int ring_enter(Ring *ring, unsigned to_submit, unsigned min_complete, unsigned flags) {
  for (;;) {
    long n = syscall(__NR_io_uring_enter, ring->fd, to_submit, min_complete, flags, NULL, 0);
    if (n >= 0) return (int)n;
    if (errno != EINTR) return -errno;
  }
}

int read_with_ring(Ring *ring, int fd, Request *requests, size_t count, unsigned queue_depth, int direct, size_t *pending) {
  size_t queued = count, first = 0; /* pending[first .. first + queued) modulo count */
  for (size_t i = 0; i < count; i++) pending[i] = i;
  unsigned in_flight = 0;
  int failed = 0;
  if (queue_depth > ring->entries) queue_depth = ring->entries;
  while (queued > 0 || in_flight > 0) {
    unsigned tail = *ring->sq_tail;
    while (queued > 0 && in_flight < queue_depth) {
      size_t index = pending[first];
      first = (first + 1) % count;
      queued--;
      ring_prepare_read(ring, tail++, fd, &requests[index], index);
      in_flight++;
    }
    __atomic_store_n(ring->sq_tail, tail, __ATOMIC_RELEASE);
    /* Entries not yet taken by the kernel (a failed enter may have taken some or none). */
    unsigned unsubmitted = tail - __atomic_load_n(ring->sq_head, __ATOMIC_ACQUIRE);
    int entered = ring_enter(ring, failed ? 0 : unsubmitted, 1, IORING_ENTER_GETEVENTS);
    if (entered < 0) {
      if (failed) {
        sched_yield(); /* draining after a failure: completions still land in the ring's memory */
      } else if (entered != -EAGAIN && entered != -EBUSY) {
        /* Reads in flight write into JavaScript memory: reap every one before giving up on the ring. The
           entries the kernel never took stay unread (pread finishes them). */
        failed = -entered;
        queued = 0;
        in_flight -= unsubmitted;
      }
    }
    unsigned head = *ring->cq_head;
    unsigned cq_tail = __atomic_load_n(ring->cq_tail, __ATOMIC_ACQUIRE);
    for (; head != cq_tail; head++) {
      struct io_uring_cqe *cqe = &ring->cqes[head & *ring->cq_mask];
      in_flight--;
      if (read_finished(&requests[cqe->user_data], cqe->res, direct) && !failed) {
        pending[(first + queued) % count] = cqe->user_data;
        queued++;
      }
    }
    __atomic_store_n(ring->cq_head, head, __ATOMIC_RELEASE);
  }
  return failed;
}
#endif
