/* SPDX-License-Identifier: MIT */
/* libFuzzer harness for the guard's addresses and networks (sip_guard_allow() and the source
 * addresses of sip_guard_check()): a network that parses prints and parses back to itself,
 * contains its own address, has no host bits set; the public calls agree with the parser; and
 * a guard fed with what parses keeps answering. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "guard/guard_int.h"
#include "sip/sip.h"

static void fail(const char *what, const uint8_t *data, size_t size)
{
    fprintf(stderr, "fuzz_guard: %s for \"%.*s\"\n", what, (int)size, (const char *)data);
    abort();
}

static sip_loop_t *loop;
static sip_guard_t *guard;
static unsigned uses;

static void fresh_guard(void)
{
    sip_guard_unref(guard);
    guard = NULL;
    if (!loop && sip_loop_create(&loop) != 0) abort();
    sip_guard_opts_t o;
    sip_guard_opts_init(&o);
    o.rate_max = 3;
    o.max_sources = 64;
    if (sip_guard_create(&guard, loop, &o) != 0) abort();
    uses = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!guard || ++uses > 1000) fresh_guard();
    /* The parser takes a length; the public calls a C string (cut at the first NUL). */
    char *s = malloc(size + 1);
    if (!s) abort();
    memcpy(s, data, size);
    s[size] = '\0';

    sip__gnet_t net;
    int rc = sip__gnet_parse((const char *)data, size, &net);
    if (rc == 0) {
        if (net.bits > 128) fail("prefix over 128 bits", data, size);
        if (!sip__gnet_contains(&net, &net.addr)) fail("does not contain itself", data, size);
        for (unsigned i = net.bits; i < 128; i++)
            if (net.addr.b[i / 8] & (0x80u >> (i % 8))) fail("host bits set", data, size);
        /* Printed and parsed back: the same network. An IPv4 (mapped) address prints as
         * IPv4, its prefix counted from bit 96. */
        char ip[64], text[80];
        sip__gaddr_str(&net.addr, ip, sizeof(ip));
        int v4 = strchr(ip, ':') == NULL;
        if (v4 && net.bits < 96) fail("IPv4 network shorter than the mapped prefix", data, size);
        snprintf(text, sizeof(text), "%s/%u", ip, v4 ? net.bits - 96 : net.bits);
        sip__gnet_t back;
        if (sip__gnet_parse(text, strlen(text), &back) != 0)
            fail("printed network does not parse", data, size);
        if (back.bits != net.bits || memcmp(back.addr.b, net.addr.b, 16) != 0)
            fail("round trip changed the network", data, size);
        /* The public call agrees (when no NUL cut the string short). */
        if (strlen(s) == size && sip_guard_allow(guard, s) != 0)
            fail("sip_guard_allow refused what parses", data, size);
        /* An allowed address is never blocked. */
        if (sip_guard_block(guard, ip, 1000) != 0) fail("block of a valid address", data, size);
        if (sip_guard_is_blocked(guard, ip) != 0 && strlen(s) == size)
            fail("an allowed address is blocked", data, size);
    } else if (strlen(s) == size && sip_guard_allow(guard, s) != SIP_EINVAL) {
        fail("sip_guard_allow took what does not parse", data, size);
    }

    /* As a source address (the string the public call sees): the checks agree with the
     * address parser. */
    sip__gaddr_t a;
    int is_addr = sip__gaddr_parse(s, &a) == 0;
    int c = sip_guard_check(guard, s);
    if (is_addr ? (c != 0 && c != SIP_EBLOCKED) : c != SIP_EINVAL)
        fail("sip_guard_check disagrees with the parser", data, size);
    if (is_addr) {
        char ip[64];
        sip__gaddr_str(&a, ip, sizeof(ip));
        sip__gaddr_t b;
        if (sip__gaddr_parse(ip, &b) != 0 || memcmp(a.b, b.b, 16) != 0)
            fail("address round trip", data, size);
    }
    if (sip_guard_blocked_count(guard) > 64) fail("more blocked than max_sources", data, size);
    free(s);
    return 0;
}
