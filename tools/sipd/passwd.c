/* SPDX-License-Identifier: MIT */
/* sipd passwd: writes a user's MD5 and SHA-256 HA1 lines (RFC 7616 §3.4.2) into the users file
 * the server reads, the password from standard input with echo off on a terminal. */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <sip/sip.h>

#include "sipd.h"

#define MAX_PASSWORD 1024

/* The first line of standard input, without its line end; echo is off on a terminal. */
static int read_password(char *buf, size_t size)
{
    struct termios old, quiet;
    int tty = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &old) == 0;
    if (tty) {
        fputs("Password: ", stderr);
        fflush(stderr);
        quiet = old;
        quiet.c_lflag &= ~(tcflag_t)ECHO;
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
    }
    char *line = fgets(buf, (int)size, stdin);
    if (tty) {
        tcsetattr(STDIN_FILENO, TCSAFLUSH, &old);
        fputc('\n', stderr);
    }
    if (!line) return -1;
    size_t n = strlen(buf);
    if (n == size - 1 && buf[n - 1] != '\n' && !feof(stdin)) return -2; /* longer than buf */
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        buf[--n] = '\0';
    return 0;
}

int sipd_passwd(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"realm", required_argument, NULL, 'r'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *realm = DEFAULT_DOMAIN;
    int c;
    optind = 1;
    while ((c = getopt_long(argc, argv, "r:h", longopts, NULL)) != -1) {
        switch (c) {
        case 'r': realm = optarg; break;
        case 'h': sipd_usage(stdout); return EXIT_CLEAN;
        default: sipd_usage(stderr); return EXIT_USAGE;
        }
    }
    if (argc - optind != 2 || !*realm) {
        fprintf(stderr, "usage: sipd passwd FILE USER [--realm R]\n");
        return EXIT_USAGE;
    }
    const char *file = argv[optind], *user = argv[optind + 1];
    sip_userdb_t *db = NULL;
    int line = 0, rc;
    /* A missing file is a new table; an unreadable or malformed one is never overwritten. */
    if (access(file, F_OK) == 0) {
        rc = sip_userdb_create(&db, file, &line);
    } else {
        rc = sip_userdb_create(&db, NULL, NULL);
    }
    if (rc) {
        if (line > 0)
            fprintf(stderr, "sipd passwd: %s:%d: malformed line\n", file, line);
        else
            fprintf(stderr, "sipd passwd: cannot read %s: %s\n", file, sip_strerror(rc));
        return EXIT_RUNTIME;
    }
    static char pw[MAX_PASSWORD];
    rc = read_password(pw, sizeof(pw));
    if (rc || !pw[0]) {
        fprintf(stderr, "sipd passwd: %s\n",
                rc == -2 ? "password too long" : "no password on standard input");
        sip_userdb_unref(db);
        return EXIT_RUNTIME;
    }
    rc = sip_userdb_set_password(db, user, realm, pw);
    memset(pw, 0, sizeof(pw));
    if (rc == SIP_EINVAL) {
        fprintf(stderr, "sipd passwd: a user or realm may not be empty or hold ':' or control "
                        "characters\n");
        sip_userdb_unref(db);
        return EXIT_USAGE;
    }
    if (rc == 0) rc = sip_userdb_save(db, file);
    sip_userdb_unref(db);
    if (rc) {
        fprintf(stderr, "sipd passwd: cannot write %s: %s\n", file, sip_strerror(rc));
        return EXIT_RUNTIME;
    }
    return EXIT_CLEAN;
}
