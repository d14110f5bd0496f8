/*
 * The few pieces of the vfio-user wire format (QEMU docs/interop/vfio-user.rst)
 * that the benchmark programs need: the 16-byte header, the command numbers
 * and flags they use, and the region access and REGION_WRITE_MULTI layouts.
 * Everything is little-endian on the wire, as on x86-64: the structs are used
 * as they are.
 */
#ifndef IRQLAB_BENCH_VFIO_USER_H
#define IRQLAB_BENCH_VFIO_USER_H

#include <stdint.h>

struct vu_header {
	uint16_t id;
	uint16_t command;
	uint32_t size;   /* whole message, header included */
	uint32_t flags;  /* low nibble: type; NO_REPLY; ERROR */
	uint32_t error;
};

enum {
	VU_VERSION = 1,
	VU_REGION_READ = 9,
	VU_REGION_WRITE = 10,
	VU_REGION_WRITE_MULTI = 15,
};

#define VU_TYPE_MASK   0xfu
#define VU_TYPE_REPLY  0x1u
#define VU_NO_REPLY    0x10u
#define VU_ERROR       0x20u

/* REGION_READ request, REGION_WRITE request (+ data) and reply, REGION_READ reply (+ data). */
struct vu_region_access {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
};

#define VU_MULTI_DATA 8
#define VU_MULTI_MAX  200

struct vu_write_one {
	uint64_t offset;
	uint32_t region;
	uint32_t count;
	uint8_t data[VU_MULTI_DATA];
};

_Static_assert(sizeof(struct vu_header) == 16, "vfio-user header is 16 bytes");
_Static_assert(sizeof(struct vu_region_access) == 16, "region access is 16 bytes");
_Static_assert(sizeof(struct vu_write_one) == 24, "REGION_WRITE_MULTI entry is 24 bytes");

#define VU_REGION_CONFIG 7

#endif
