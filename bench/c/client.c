/*
 * client: the load generator of `irqlab bench`. It speaks vfio-user to a
 * server on a UNIX socket (VERSION first, as QEMU does), drives one load,
 * and prints one JSON object on stdout. The same binary runs against the
 * floor (bench/c/floor.c) and against irqlab, so the two differ only in the
 * server.
 *
 *   client --socket PATH [--verify] [--warmup N] [--batch K] MODE ARGS
 *
 *   rtt N              N REGION_READs of 4 bytes at BAR0+0 (ID), one at a time
 *   pipelined N DEPTH  the same with DEPTH requests in flight
 *   posted N           N posted (NO_REPLY) 4-byte REGION_WRITEs to BAR0+0x24
 *                      (DOORBELL, a write-only counter), then one REGION_READ
 *                      of BAR0+0x28 (DB_COUNT): the rate is taken from the
 *                      first write to that read's reply, when all were absorbed
 *   multi N            the same N writes as posted REGION_WRITE_MULTI messages
 *                      of up to 200 entries (write_multiple must be granted)
 *   eventfd N          no server: N write(2)s to an eventfd (the C floor of an
 *                      interrupt trigger)
 *
 * --batch K: posted mode sends K messages per write(2) instead of one (QEMU
 * sends one per sendmsg), so that the server, not the client, sets the pace.
 * --verify: the server is irqlab; check that DB_COUNT grew by exactly N.
 * Before BAR accesses the client enables memory decoding and bus mastering
 * (config write of 0x0006 to the command register), as a guest would.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vfio_user.h"

#define BAR0 0
#define REG_ID 0x000
#define REG_DOORBELL 0x024
#define REG_DB_COUNT 0x028
#define PCI_COMMAND 0x04

static int sock = -1;
static uint16_t next_id;

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("client: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static inline uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* ---- sending ------------------------------------------------------------ */

static void send_all(const void *buf, size_t n)
{
	const uint8_t *p = buf;
	while (n > 0) {
		ssize_t w = write(sock, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			die("write: %s", strerror(errno));
		}
		p += w;
		n -= (size_t)w;
	}
}

/* Writes a header at `at` (any alignment) and returns the message id used. */
static uint16_t put_header(uint8_t *at, uint16_t command, uint32_t size, uint32_t flags)
{
	struct vu_header h = { .id = next_id++, .command = command, .size = size, .flags = flags };
	memcpy(at, &h, sizeof(h));
	return h.id;
}

/* A REGION_READ request: 32 bytes at `at`. */
static uint16_t put_read(uint8_t *at, uint32_t region, uint64_t offset, uint32_t count)
{
	struct vu_region_access a = { .offset = offset, .region = region, .count = count };
	uint16_t id = put_header(at, VU_REGION_READ, 32, 0);
	memcpy(at + 16, &a, sizeof(a));
	return id;
}

/* A 4-byte REGION_WRITE request: 36 bytes at `at`. */
static uint16_t put_write32(uint8_t *at, uint32_t region, uint64_t offset, uint32_t value, uint32_t flags)
{
	struct vu_region_access a = { .offset = offset, .region = region, .count = 4 };
	uint16_t id = put_header(at, VU_REGION_WRITE, 36, flags);
	memcpy(at + 16, &a, sizeof(a));
	memcpy(at + 32, &value, 4);
	return id;
}

/* ---- receiving: reassembly by message size ----------------------------- */

static uint8_t *rx;
static size_t rx_cap = 256 * 1024, rx_head, rx_tail;

/* One read(2) of whatever is there (blocking). */
static void rx_fill(void)
{
	if (rx_head == rx_tail) {
		rx_head = rx_tail = 0;
	} else if (rx_cap - rx_tail < 4096) {
		memmove(rx, rx + rx_head, rx_tail - rx_head);
		rx_tail -= rx_head;
		rx_head = 0;
	}
	if (rx_tail == rx_cap) {
		rx_cap *= 2;
		if (!(rx = realloc(rx, rx_cap)))
			die("out of memory");
	}
	for (;;) {
		ssize_t n = read(sock, rx + rx_tail, rx_cap - rx_tail);
		if (n > 0) {
			rx_tail += (size_t)n;
			return;
		}
		if (n == 0)
			die("server closed the connection");
		if (errno != EINTR)
			die("read: %s", strerror(errno));
	}
}

struct msg {
	struct vu_header h;
	const uint8_t *payload; /* valid until the next rx_fill() */
	size_t len;
};

/* The next complete buffered message, without reading; false if none. */
static bool rx_next(struct msg *m)
{
	if (rx_tail - rx_head < sizeof(m->h))
		return false;
	memcpy(&m->h, rx + rx_head, sizeof(m->h));
	if (m->h.size < sizeof(m->h) || m->h.size > (1u << 21))
		die("reply with message size %u", m->h.size);
	if (rx_tail - rx_head < m->h.size)
		return false;
	m->payload = rx + rx_head + sizeof(m->h);
	m->len = m->h.size - sizeof(m->h);
	rx_head += m->h.size;
	return true;
}

static void recv_msg(struct msg *m)
{
	while (!rx_next(m))
		rx_fill();
}

/* Checks that `m` is the successful reply to request `id` of `command`. */
static void check_reply(const struct msg *m, uint16_t id, uint16_t command)
{
	if ((m->h.flags & VU_TYPE_MASK) != VU_TYPE_REPLY)
		die("expected a reply, got command %u (flags 0x%x)", m->h.command, m->h.flags);
	if (m->h.id != id || m->h.command != command)
		die("reply #%u to command %u, expected #%u to command %u", m->h.id, m->h.command, id, command);
	if (m->h.flags & VU_ERROR)
		die("command %u #%u failed with errno %u", command, id, m->h.error);
}

/* ---- operations ---------------------------------------------------------- */

static uint32_t read32(uint32_t region, uint64_t offset)
{
	uint8_t req[32];
	struct msg m;
	uint16_t id = put_read(req, region, offset, 4);
	send_all(req, sizeof(req));
	recv_msg(&m);
	check_reply(&m, id, VU_REGION_READ);
	if (m.len != 16 + 4)
		die("REGION_READ reply of %zu payload bytes, expected 20", m.len);
	uint32_t v;
	memcpy(&v, m.payload + 16, 4);
	return v;
}

static void config_write16(uint64_t offset, uint16_t value)
{
	uint8_t req[34];
	struct vu_region_access a = { .offset = offset, .region = VU_REGION_CONFIG, .count = 2 };
	struct msg m;
	uint16_t id = put_header(req, VU_REGION_WRITE, sizeof(req), 0);
	memcpy(req + 16, &a, sizeof(a));
	memcpy(req + 32, &value, 2);
	send_all(req, sizeof(req));
	recv_msg(&m);
	check_reply(&m, id, VU_REGION_WRITE);
}

/* Is `"key": true` in the reply's JSON? (Enough of JSON for one boolean.) */
static bool json_true(const char *json, size_t len, const char *key)
{
	size_t klen = strlen(key);
	for (size_t i = 0; i + klen + 2 <= len; i++) {
		if (json[i] != '"' || memcmp(json + i + 1, key, klen) || json[i + 1 + klen] != '"')
			continue;
		size_t j = i + klen + 2;
		while (j < len && (json[j] == ' ' || json[j] == '\t' || json[j] == '\n' || json[j] == '\r' || json[j] == ':'))
			j++;
		return len - j >= 4 && !memcmp(json + j, "true", 4);
	}
	return false;
}

static bool write_multiple;

static void negotiate(void)
{
	static const char json[] =
		"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"
		"\"max_dma_maps\":65535,\"pgsizes\":4096,\"write_multiple\":true}}";
	uint8_t req[16 + 4 + sizeof(json)];
	struct msg m;
	uint16_t id = put_header(req, VU_VERSION, sizeof(req), 0);
	memset(req + 16, 0, 4); /* major 0, minor 0 */
	memcpy(req + 20, json, sizeof(json));
	send_all(req, sizeof(req));
	recv_msg(&m);
	check_reply(&m, id, VU_VERSION);
	if (m.len < 4)
		die("VERSION reply of %zu bytes", m.len);
	uint16_t major;
	memcpy(&major, m.payload, 2);
	if (major != 0)
		die("server speaks major %u", major);
	write_multiple = json_true((const char *)m.payload + 4, m.len - 4, "write_multiple");
}

static void connect_to(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(path) >= sizeof(addr.sun_path))
		die("socket path too long: %s", path);
	strcpy(addr.sun_path, path);
	sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sock < 0 || connect(sock, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("connect %s: %s", path, strerror(errno));
	if (!(rx = malloc(rx_cap)))
		die("out of memory");
}

/* ---- statistics ---------------------------------------------------------- */

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* Prints "lat_us":{...} from per-operation latencies in ns (sorts them). */
static void print_latency(uint64_t *ns, size_t n)
{
	qsort(ns, n, sizeof(*ns), cmp_u64);
	double sum = 0;
	for (size_t i = 0; i < n; i++)
		sum += (double)ns[i];
	double median = n % 2 ? (double)ns[n / 2] : ((double)ns[n / 2 - 1] + (double)ns[n / 2]) / 2;
	size_t p99 = (size_t)((double)n * 0.99 + 0.999999);
	if (p99 < 1)
		p99 = 1;
	printf("\"lat_us\":{\"median\":%.3f,\"p99\":%.3f,\"mean\":%.3f,\"min\":%.3f,\"max\":%.3f}",
	       median / 1e3, (double)ns[p99 - 1] / 1e3, sum / (double)n / 1e3, (double)ns[0] / 1e3, (double)ns[n - 1] / 1e3);
}

/* ---- modes --------------------------------------------------------------- */

/*
 * Opens the JSON object. t0_ns/t1_ns bound the timed part on CLOCK_MONOTONIC,
 * the clock of V8's profiler, so a server profile can be cut to that window.
 */
static void begin_json(const char *mode, uint64_t t0, uint64_t t1)
{
	printf("{\"mode\":\"%s\",\"t0_ns\":%" PRIu64 ",\"t1_ns\":%" PRIu64 ",", mode, t0, t1);
}

static void run_rtt(size_t n, size_t warmup)
{
	for (size_t i = 0; i < warmup; i++)
		read32(BAR0, REG_ID);
	uint64_t *lat = malloc(n * sizeof(*lat));
	if (!lat)
		die("out of memory");
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++) {
		uint64_t s = now_ns();
		read32(BAR0, REG_ID);
		lat[i] = now_ns() - s;
	}
	uint64_t t1 = now_ns();
	double total = (double)(t1 - t0) / 1e9;
	begin_json("rtt", t0, t1);
	printf("\"n\":%zu,\"total_s\":%.6f,\"ops_per_s\":%.1f,\"us_per_op\":%.3f,", n, total, (double)n / total, total * 1e6 / (double)n);
	print_latency(lat, n);
	printf("}\n");
	free(lat);
}

static void run_pipelined(size_t n, size_t depth, size_t warmup)
{
	if (depth < 1 || depth > 4096)
		die("DEPTH must be 1..4096");
	for (size_t i = 0; i < warmup; i++)
		read32(BAR0, REG_ID);
	uint64_t *lat = malloc(n * sizeof(*lat));
	uint8_t *out = malloc(depth * 32);
	static uint64_t sent_at[65536];
	static uint16_t expect[65536];
	if (!lat || !out)
		die("out of memory");
	size_t sent = 0, done = 0, inflight = 0;
	uint16_t oldest = next_id; /* replies come back in order */
	uint64_t t0 = now_ns();
	while (done < n) {
		size_t k = 0;
		while (inflight + k < depth && sent + k < n) {
			uint16_t id = put_read(out + k * 32, BAR0, REG_ID, 4);
			expect[id] = 1;
			k++;
		}
		if (k) {
			uint64_t t = now_ns();
			for (size_t i = 0; i < k; i++)
				sent_at[(uint16_t)(next_id - k + i)] = t;
			send_all(out, k * 32);
			sent += k;
			inflight += k;
		}
		rx_fill();
		uint64_t t = now_ns();
		struct msg m;
		while (rx_next(&m)) {
			check_reply(&m, oldest, VU_REGION_READ);
			if (!expect[m.h.id])
				die("unexpected reply #%u", m.h.id);
			expect[m.h.id] = 0;
			lat[done++] = t - sent_at[m.h.id];
			oldest++;
			inflight--;
		}
	}
	uint64_t t1 = now_ns();
	double total = (double)(t1 - t0) / 1e9;
	begin_json("pipelined", t0, t1);
	printf("\"n\":%zu,\"depth\":%zu,\"total_s\":%.6f,\"ops_per_s\":%.1f,\"us_per_op\":%.3f,",
	       n, depth, total, (double)n / total, total * 1e6 / (double)n);
	print_latency(lat, n);
	printf("}\n");
	free(lat);
	free(out);
}

static size_t batch = 1;

/* n posted 4-byte doorbell writes, `batch` messages per write(2). */
static void posted_writes(size_t n)
{
	static uint8_t req[36 * 1024];
	for (size_t done = 0; done < n;) {
		size_t k = n - done < batch ? n - done : batch;
		for (size_t i = 0; i < k; i++)
			put_write32(req + i * 36, BAR0, REG_DOORBELL, (uint32_t)(done + i), VU_NO_REPLY);
		send_all(req, k * 36);
		done += k;
	}
}

/* n doorbell writes as posted REGION_WRITE_MULTI messages of up to 200 entries. */
static size_t multi_writes(size_t n)
{
	static uint8_t req[16 + 8 + VU_MULTI_MAX * sizeof(struct vu_write_one)];
	size_t messages = 0;
	for (size_t done = 0; done < n; messages++) {
		size_t k = n - done < VU_MULTI_MAX ? n - done : VU_MULTI_MAX;
		uint64_t cnt = k;
		uint32_t size = (uint32_t)(16 + 8 + k * sizeof(struct vu_write_one));
		put_header(req, VU_REGION_WRITE_MULTI, size, VU_NO_REPLY);
		memcpy(req + 16, &cnt, 8);
		for (size_t i = 0; i < k; i++) {
			struct vu_write_one w = { .offset = REG_DOORBELL, .region = BAR0, .count = 4 };
			uint32_t v = (uint32_t)(done + i);
			memcpy(w.data, &v, 4);
			memcpy(req + 24 + i * sizeof(w), &w, sizeof(w));
		}
		send_all(req, size);
		done += k;
	}
	return messages;
}

static void run_writes(bool multi, size_t n, size_t warmup, bool verify)
{
	if (multi && !write_multiple)
		die("the server did not grant write_multiple: REGION_WRITE_MULTI may not be used");
	if (warmup) {
		if (multi)
			multi_writes(warmup);
		else
			posted_writes(warmup);
	}
	uint32_t before = read32(BAR0, REG_DB_COUNT);
	uint64_t t0 = now_ns();
	size_t messages = multi ? multi_writes(n) : (posted_writes(n), n);
	uint32_t after = read32(BAR0, REG_DB_COUNT);
	uint64_t t1 = now_ns();
	double total = (double)(t1 - t0) / 1e9;
	uint32_t delta = after - before;
	begin_json(multi ? "multi" : "posted", t0, t1);
	printf("\"n\":%zu,\"batch\":%zu,\"messages\":%zu,\"total_s\":%.6f,\"writes_per_s\":%.1f,\"us_per_write\":%.3f,"
	       "\"db_count_before\":%" PRIu32 ",\"db_count_after\":%" PRIu32 ",\"verified\":%s}\n",
	       n, multi ? (size_t)1 : batch, messages, total, (double)n / total, total * 1e6 / (double)n, before, after,
	       !verify ? "null" : delta == (uint32_t)n ? "true" : "false");
	if (verify && delta != (uint32_t)n) {
		fprintf(stderr, "client: DB_COUNT grew by %" PRIu32 ", expected %zu: writes were lost\n", delta, n);
		exit(3);
	}
}

static void run_eventfd(size_t n)
{
	int fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (fd < 0)
		die("eventfd: %s", strerror(errno));
	const uint64_t one = 1;
	for (size_t i = 0; i < n / 10; i++)
		if (write(fd, &one, 8) != 8)
			die("write(eventfd): %s", strerror(errno));
	uint64_t t0 = now_ns();
	for (size_t i = 0; i < n; i++)
		if (write(fd, &one, 8) != 8)
			die("write(eventfd): %s", strerror(errno));
	uint64_t t1 = now_ns();
	double total = (double)(t1 - t0) / 1e9;
	uint64_t count;
	if (read(fd, &count, 8) != 8 || count != n + n / 10)
		die("eventfd counter is %" PRIu64 ", expected %zu", count, n + n / 10);
	begin_json("eventfd", t0, t1);
	printf("\"n\":%zu,\"total_s\":%.6f,\"signals_per_s\":%.1f,\"us_per_signal\":%.4f}\n",
	       n, total, (double)n / total, total * 1e6 / (double)n);
	close(fd);
}

static size_t count_arg(const char *s, const char *what, unsigned long long min)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end || *s == '-' || v < min || v > 100000000ull)
		die("%s must be a count %llu..100000000, got \"%s\"", what, min, s);
	return (size_t)v;
}

int main(int argc, char **argv)
{
	const char *path = NULL;
	bool verify = false;
	long warmup = -1;
	int i = 1;
	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			path = argv[++i];
		else if (!strcmp(argv[i], "--verify"))
			verify = true;
		else if (!strcmp(argv[i], "--batch") && i + 1 < argc) {
			batch = count_arg(argv[++i], "--batch", 1);
			if (batch > 1024)
				die("--batch is at most 1024");
		} else if (!strcmp(argv[i], "--warmup") && i + 1 < argc)
			warmup = (long)count_arg(argv[++i], "--warmup", 0);
		else
			die("unknown option %s", argv[i]);
	}
	if (i >= argc)
		die("usage: client --socket PATH [--verify] [--warmup N] [--batch K] rtt N | pipelined N DEPTH | posted N | multi N | eventfd N");
	const char *mode = argv[i++];
	int left = argc - i;
	if (!strcmp(mode, "eventfd") && left == 1) {
		run_eventfd(count_arg(argv[i], "N", 1));
		return 0;
	}
	if (!path)
		die("--socket PATH is required for %s", mode);
	connect_to(path);
	negotiate();
	config_write16(PCI_COMMAND, 0x0006); /* memory decoding + bus mastering */
	if (!strcmp(mode, "rtt") && left == 1) {
		size_t n = count_arg(argv[i], "N", 1);
		run_rtt(n, warmup >= 0 ? (size_t)warmup : n / 10);
	} else if (!strcmp(mode, "pipelined") && left == 2) {
		size_t n = count_arg(argv[i], "N", 1);
		run_pipelined(n, count_arg(argv[i + 1], "DEPTH", 1), warmup >= 0 ? (size_t)warmup : n / 10);
	} else if ((!strcmp(mode, "posted") || !strcmp(mode, "multi")) && left == 1) {
		size_t n = count_arg(argv[i], "N", 1);
		run_writes(mode[0] == 'm', n, warmup >= 0 ? (size_t)warmup : n / 10, verify);
	} else {
		die("bad mode or arguments: %s", mode);
	}
	close(sock);
	return 0;
}
