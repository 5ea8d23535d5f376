/*
 * src_addr_shim.c - an LD_PRELOAD shim for tests/bench/relay_scale.sh: a
 * process started with EDGEKV_SRC_ADDR=127.0.0.N makes its outgoing IPv4
 * connections to loopback from that address, as if it ran on a host of its
 * own. The origin admits at most KV_REPL_CONNS_PER_ADDR_MAX replication
 * connections from one address (proto/kv_limits.h), so forty edges on one
 * loopback address would be refused; real edges sit on hosts of their own.
 * Every 127.0.0.0/8 address is local on Linux, so binding one needs no
 * setup. The node carries no hook for this: the shim wraps libc's
 * connect(2) and binds the socket first (port 0: the kernel picks one).
 * Not a test of anything; it only makes the topology possible on one host.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

typedef int (*connect_fn)(int, const struct sockaddr *, socklen_t);

int connect(int fd, const struct sockaddr *addr, socklen_t len)
{
    static connect_fn real;
    if (!real)
        real = (connect_fn)dlsym(RTLD_NEXT, "connect");
    const char *src = getenv("EDGEKV_SRC_ADDR");
    if (src && addr && addr->sa_family == AF_INET && len >= sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *to = (const struct sockaddr_in *)addr;
        struct sockaddr_in from;
        memset(&from, 0, sizeof from);
        from.sin_family = AF_INET;
        if ((ntohl(to->sin_addr.s_addr) >> 24) == 127 &&
            inet_pton(AF_INET, src, &from.sin_addr) == 1)
            (void)bind(fd, (const struct sockaddr *)&from, sizeof from); /* else: as without */
    }
    return real(fd, addr, len);
}
