/*
 * floor: the fastest a vfio-user server can answer on this machine, for
 * `irqlab bench` to hold irqlab against.
 *
 * It serves one UNIX-socket client at a time and, per burst of requests, makes
 * the three system calls any server must make (wait for readiness, read,
 * write) and nothing else: no device, no validation beyond framing. It speaks
 * just enough vfio-user to answer what the benchmark client sends:
 *
 *   VERSION             a fixed reply (0.0, write_multiple granted)
 *   REGION_READ         the 16-byte access echoed + `count` zero bytes
 *   REGION_WRITE        NO_REPLY: swallowed; otherwise the access echoed
 *   REGION_WRITE_MULTI  NO_REPLY: swallowed; otherwise wr_cnt echoed
 *   anything else       NO_REPLY: swallowed; otherwise an ENOSYS error reply
 *
 * Messages are reassembled by their size field: a read may carry several
 * messages and end inside one. Replies to everything a read completed go out
 * in one write.
 *
 * With --poll-us N it first polls the way irqlab's poll mode does: after a
 * burst it tries the socket without blocking for up to N us, yielding the CPU
 * between tries (sched_yield), and only then waits in poll(2). That is the
 * best a polling server can do, in C, for `irqlab bench` to hold poll mode
 * against.
 *
 *   floor --socket PATH [--poll-us N]   prints "listening on PATH" when ready
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "vfio_user.h"

#define RX_SIZE (256 * 1024)
#define MAX_MSG ((1u << 20) + 4096)

static const char version_json[] =
	"{\"capabilities\":{\"max_msg_fds\":1,\"max_data_xfer_size\":1048576,"
	"\"max_dma_maps\":65535,\"pgsizes\":4096,\"write_multiple\":true}}";

static const char *socket_path;
static long poll_us;

static long long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000LL + t.tv_nsec;
}

/*
 * Poll mode: reads without blocking for up to poll_us, yielding the CPU
 * between tries. -1 with EAGAIN: nothing came in the window.
 */
static ssize_t spin_read(int fd, void *p, size_t len)
{
	long long end = now_ns() + poll_us * 1000;
	for (;;) {
		ssize_t n = recv(fd, p, len, MSG_DONTWAIT);
		if (n >= 0 || errno != EAGAIN || now_ns() >= end)
			return n;
		sched_yield();
	}
}

static void on_signal(int sig)
{
	(void)sig;
	if (socket_path)
		unlink(socket_path);
	_exit(0);
}

struct buf {
	uint8_t *p;
	size_t len, cap;
};

static void *grow(struct buf *b, size_t more)
{
	if (b->len + more > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + more)
			cap *= 2;
		uint8_t *p = realloc(b->p, cap);
		if (!p) {
			perror("floor: realloc");
			exit(1);
		}
		b->p = p;
		b->cap = cap;
	}
	void *at = b->p + b->len;
	b->len += more;
	return at;
}

/* Appends a reply header; returns where its `payload` bytes go. */
static uint8_t *reply(struct buf *out, const struct vu_header *req, size_t payload, uint32_t flags, uint32_t error)
{
	struct vu_header h = {
		.id = req->id,
		.command = req->command,
		.size = (uint32_t)(sizeof(h) + payload),
		.flags = VU_TYPE_REPLY | flags,
		.error = error,
	};
	uint8_t *at = grow(out, sizeof(h) + payload);
	memcpy(at, &h, sizeof(h));
	return at + sizeof(h);
}

static void error_reply(struct buf *out, const struct vu_header *req, uint32_t error)
{
	if (!(req->flags & VU_NO_REPLY))
		reply(out, req, 0, VU_ERROR, error);
}

/*
 * Appends the reply to one request (if it wants one) to `out`. Messages sit
 * back to back at any alignment: the header is a copy, the payload is read
 * with memcpy.
 */
static void answer(const struct vu_header *req, const uint8_t *payload, struct buf *out)
{
	size_t len = req->size - sizeof(*req);

	switch (req->command) {
	case VU_VERSION: {
		uint8_t *p = reply(out, req, 4 + sizeof(version_json), 0, 0);
		memset(p, 0, 4); /* major 0, minor 0 */
		memcpy(p + 4, version_json, sizeof(version_json)); /* NUL included */
		return;
	}
	case VU_REGION_READ: {
		struct vu_region_access a;
		if (len < sizeof(a) || (req->flags & VU_NO_REPLY)) {
			error_reply(out, req, EINVAL);
			return;
		}
		memcpy(&a, payload, sizeof(a));
		if (a.count > (1u << 20)) {
			error_reply(out, req, EINVAL);
			return;
		}
		uint8_t *p = reply(out, req, sizeof(a) + a.count, 0, 0);
		memcpy(p, &a, sizeof(a));
		memset(p + sizeof(a), 0, a.count);
		return;
	}
	case VU_REGION_WRITE:
		if (req->flags & VU_NO_REPLY)
			return;
		if (len < sizeof(struct vu_region_access)) {
			error_reply(out, req, EINVAL);
			return;
		}
		memcpy(reply(out, req, sizeof(struct vu_region_access), 0, 0), payload, sizeof(struct vu_region_access));
		return;
	case VU_REGION_WRITE_MULTI:
		if (req->flags & VU_NO_REPLY)
			return;
		if (len < 8) {
			error_reply(out, req, EINVAL);
			return;
		}
		memcpy(reply(out, req, 8, 0, 0), payload, 8);
		return;
	default:
		error_reply(out, req, ENOSYS);
	}
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
	while (n > 0) {
		ssize_t w = write(fd, p, n);
		if (w < 0) {
			if (errno == EINTR)
				continue;
			return -1;
		}
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

static void serve(int fd)
{
	struct buf in = { 0 }, out = { 0 };
	grow(&in, RX_SIZE);
	in.len = 0;

	for (;;) {
		if (in.cap - in.len < RX_SIZE / 4) {
			/* A message larger than what is free: make room for it. */
			grow(&in, RX_SIZE);
			in.len -= RX_SIZE;
		}
		ssize_t n = poll_us ? spin_read(fd, in.p + in.len, in.cap - in.len) : -1;
		if (!poll_us || (n < 0 && errno == EAGAIN)) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			if (poll(&pfd, 1, -1) < 0) {
				if (errno == EINTR)
					continue;
				perror("floor: poll");
				break;
			}
			n = read(fd, in.p + in.len, in.cap - in.len);
		}
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			if (errno != ECONNRESET)
				perror("floor: read");
			break;
		}
		if (n == 0)
			break;
		in.len += (size_t)n;

		size_t at = 0;
		out.len = 0;
		while (in.len - at >= sizeof(struct vu_header)) {
			struct vu_header h;
			memcpy(&h, in.p + at, sizeof(h));
			if (h.size < sizeof(h) || h.size > MAX_MSG) {
				fprintf(stderr, "floor: message size %u (command %u): closing\n", h.size, h.command);
				goto done;
			}
			if (in.len - at < h.size)
				break;
			answer(&h, in.p + at + sizeof(h), &out);
			at += h.size;
		}
		memmove(in.p, in.p + at, in.len - at);
		in.len -= at;

		if (out.len && write_all(fd, out.p, out.len) < 0) {
			if (errno != EPIPE && errno != ECONNRESET)
				perror("floor: write");
			break;
		}
	}
done:
	free(in.p);
	free(out.p);
}

int main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--socket") && i + 1 < argc)
			socket_path = argv[++i];
		else if (!strcmp(argv[i], "--poll-us") && i + 1 < argc)
			poll_us = atol(argv[++i]);
		else {
			fprintf(stderr, "usage: floor --socket PATH [--poll-us N]\n");
			return 2;
		}
	}
	if (!socket_path || poll_us < 0) {
		fprintf(stderr, "usage: floor --socket PATH [--poll-us N]\n");
		return 2;
	}

	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	if (strlen(socket_path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "floor: socket path too long: %s\n", socket_path);
		return 2;
	}
	strcpy(addr.sun_path, socket_path);

	signal(SIGPIPE, SIG_IGN);
	struct sigaction sa = { .sa_handler = on_signal };
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int ls = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0) {
		perror("floor: socket");
		return 1;
	}
	unlink(socket_path);
	if (bind(ls, (struct sockaddr *)&addr, sizeof(addr)) < 0 || listen(ls, 4) < 0) {
		perror("floor: bind/listen");
		return 1;
	}
	printf("listening on %s\n", socket_path);
	fflush(stdout);

	for (;;) {
		int fd = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			perror("floor: accept");
			return 1;
		}
		serve(fd);
		close(fd);
	}
}
