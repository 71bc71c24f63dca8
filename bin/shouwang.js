#!/usr/bin/env -S GLIBC_TUNABLES=glibc.malloc.mmap_threshold=131072 node --max-semi-space-size=1 --heap-growing-percent=20 --v8-pool-size=1
// The `shouwang` command. The CLI is compiled to dist/ by `npm run build` (run by `npm start` and
// `npm test`).
//
// The first line starts node with the settings that keep the long-running gateway small; they
// can only be given when the process starts (the footprint bench measures them: 500 Modbus TCP
// devices polled every second, RSS about 110 MB with them and 135-140 MB without):
//  - glibc.malloc.mmap_threshold: fixes glibc's threshold for serving allocations with mmap at
//    its default, 128 KiB. glibc otherwise raises it to the size of the largest block freed so
//    far, up to 32 MiB: one MQTT login (scrypt needs 16 MiB) or one large InfluxDB batch, and
//    from then on every socket read buffer comes from the heap arenas, which fragment and are
//    never given back (about 25 MB here). Ignored where the C library is not glibc.
//  - --max-semi-space-size=1: V8's young generation stays at 2 x 1 MB instead of growing to
//    2 x 16 MB. The gateway's garbage (one transaction's objects) dies young either way.
//  - --heap-growing-percent=20: the old generation may grow by 20 % of the live heap between
//    major collections, not up to 4x; they are more frequent and short (a 40 MB heap).
//  - --v8-pool-size=1: one V8 background thread instead of four; each thread also has its own
//    malloc arena.
import '../dist/gateway/src/main.js';
