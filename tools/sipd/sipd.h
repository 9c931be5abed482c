/* SPDX-License-Identifier: MIT */
/* What the files of sipd share: exit statuses, the embedded defaults the help text names, and
 * the `sipd passwd` command (passwd.c). */
#ifndef SIPD_SIPD_H
#define SIPD_SIPD_H

#include <stdio.h>

#ifndef SIPD_VERSION
#define SIPD_VERSION "0"
#endif

#define DEFAULT_DOMAIN "localhost"
#define DEFAULT_PORT "5060"

/* Exit statuses (documented in --help and docs/SIPD.md). */
enum { EXIT_CLEAN = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

/* The help text (main.c). */
void sipd_usage(FILE *f);
/* `sipd passwd FILE USER [--realm R]`: argv[0] is "passwd". Returns an exit status. */
int sipd_passwd(int argc, char **argv);

#endif
