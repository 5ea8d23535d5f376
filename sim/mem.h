/*
 * mem.h - the simulator's allocator behind kv_mem (proto/kv_mem.h): small
 * blocks from size-class free lists carved out of large slabs, bigger ones
 * from libc.
 *
 * Why: the real cores allocate and free through kv_mem on every frame
 * (protobuf-c decode and free of each batch at each of 300 edges), and
 * libc's malloc/free were ~14 % of world300_push. A free list per size class
 * costs a few instructions and hands back the block freed last, which is
 * still in the cache.
 *
 * What it is not: thread-safe (the simulator is single-threaded), nor a
 * general allocator: memory of small blocks is never given back to the
 * system, only reused. Only the edgekv-sim binary installs it (main.c),
 * first thing, so that every kv_free() sees a block of its own kv_malloc();
 * libraries that allocate with libc (jansson) free with libc as before.
 * Under AddressSanitizer it installs nothing, so the sanitizer keeps seeing
 * every allocation. Block addresses differ from libc's, and nothing the
 * simulator hashes or orders depends on an address: trace hashes are the
 * same with either allocator.
 */
#ifndef SIM_MEM_H
#define SIM_MEM_H

/* Install the allocator with kv_mem_set(); call before anything allocates
 * through kv_mem. */
void sim_mem_install(void);

#endif
