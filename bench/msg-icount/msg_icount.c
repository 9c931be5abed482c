/* SPDX-License-Identifier: MIT */
/* A fixed number of parses, prints or forwards of one message file, for instruction counts under
 * valgrind --tool=callgrind (bench/run-msg-icount.sh): the count does not depend on the machine's
 * load, so it tells two versions of the message code apart where wall time on a shared machine
 * cannot. Usage: msg-icount parse|print|fwd FILE N. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sip/msg.h"

static char out[65536];

int main(int argc, char **argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: msg-icount parse|print|fwd FILE N\n");
        return 2;
    }
    const char *mode = argv[1];
    long n = atol(argv[3]);
    FILE *f = fopen(argv[2], "rb");
    if (!f) {
        perror(argv[2]);
        return 1;
    }
    static char buf[65536];
    size_t len = fread(buf, 1, sizeof(buf), f);
    fclose(f);
    sip_msg_t *kept = NULL;
    if (sip_msg_parse(&kept, buf, len, NULL) != 0) {
        fprintf(stderr, "msg-icount: %s does not parse\n", argv[2]);
        return 1;
    }
    for (long i = 0; i < n; i++) {
        sip_msg_t *m = NULL;
        if (strcmp(mode, "print") == 0) {
            /* What a relay does with what it received. */
            sip_msg_print(kept, out, sizeof(out));
            continue;
        }
        if (sip_msg_parse(&m, buf, len, NULL) != 0) return 1;
        if (strcmp(mode, "fwd") == 0) {
            /* A stateless proxy: its Via on top, Max-Forwards less one, print (RFC 3261 §16.6). */
            sip_msg_prepend_header(m, "Via", "SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bK.f0rw4rd");
            sip_msg_set_header(m, "Max-Forwards", "69");
            sip_msg_print(m, out, sizeof(out));
        }
        sip_msg_unref(m);
    }
    sip_msg_unref(kept);
    return 0;
}
