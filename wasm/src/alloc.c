/*
 * Bump allocator over the wasm linear memory, starting at __heap_base.
 *
 * Why a bump allocator: every operation has a known, bounded working set (tables, accumulators),
 * so a stack discipline (mark on entry, release on exit) is all we need; no free lists, no
 * fragmentation, O(1). JS uses the same arena for its input/output buffers: it calls reset(), then
 * alloc() for each buffer, then the operation, which allocates its scratch above those buffers and
 * releases it before returning.
 *
 * Secret hygiene: the constant-time paths release with wipe=1, which zeroes every byte allocated
 * since their mark (the high-water mark is tracked, so nothing used is missed).
 */
#include "mpc_math.h"

extern unsigned char __heap_base;

static uptr top;  /* next free byte */
static uptr hwm;  /* highest byte handed out since the last release/reset */

static uptr heap_start(void) { return ((uptr)&__heap_base + 15u) & ~(uptr)15u; }

static int ensure(uptr end) {
  uptr have = (uptr)__builtin_wasm_memory_size(0) * 65536u;
  if (end <= have) return 1;
  uptr pages = (end - have + 65535u) / 65536u;
  return __builtin_wasm_memory_grow(0, pages) != (uptr)-1;
}

static void *bump(u32 bytes) {
  if (top == 0) top = hwm = heap_start();
  uptr p = (top + 15u) & ~(uptr)15u;
  uptr end = p + (((uptr)bytes + 15u) & ~(uptr)15u);
  if (end < p || end > 0xFFFF0000u || !ensure(end)) return 0;
  top = end;
  if (end > hwm) {
    /* Fresh memory from memory.grow is zero; memory below hwm may hold old data. */
    hwm = end;
  }
  __builtin_memset((void *)p, 0, end - p);
  return (void *)p;
}

void *scratch_alloc(u32 bytes) { return bump(bytes); }

uptr scratch_mark(void) {
  if (top == 0) top = hwm = heap_start();
  return top;
}

void scratch_release(uptr mark, int wipe) {
  if (wipe && hwm > mark) __builtin_memset((void *)mark, 0, hwm - mark);
  top = mark;
  if (wipe || hwm < mark) hwm = mark;
}

/* JS-facing: allocate an I/O buffer (zeroed, 16-byte aligned); 0 when memory cannot grow. */
EXPORT(alloc) void *mpc_alloc(u32 bytes) { return bump(bytes); }

/* JS-facing: forget every allocation (buffers are reused by the next call). Zeroes nothing; the
 * operations that handle secrets wipe their own scratch, and JS wipes the buffers it filled. */
EXPORT(reset) void mpc_reset(void) {
  top = heap_start();
  if (hwm < top) hwm = top;
}

/* JS-facing: zero everything ever handed out (used by dispose()). */
EXPORT(wipe_all) void mpc_wipe_all(void) {
  uptr s = heap_start();
  if (hwm > s) __builtin_memset((void *)s, 0, hwm - s);
  top = hwm = s;
}
