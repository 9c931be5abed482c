/* SPDX-License-Identifier: MIT */
/* The two routing-script hosts behind script.h: script.c picks one by the file's extension. */
#ifndef SIPD_SCRIPT_INT_H
#define SIPD_SCRIPT_INT_H

#include <stddef.h>

#include "script.h"

/* What a host does; script.c calls it through its struct. */
typedef struct sipd_script_ops {
    const char *name; /* "python", "lua" */
    int (*reload)(sipd_script_t *s, const char *path, char *err, size_t errlen);
    int (*run)(sipd_script_t *s);
    void (*close)(sipd_script_t *s);
} sipd_script_ops_t;

/* The part every host's struct begins with. */
struct sipd_script {
    const sipd_script_ops_t *ops;
    sip_server_t *srv; /* a reference */
};

/* Each host's sipd_script_open(); SIP_ENOTSUP when sipd was built without it. */
int sipd_script_py_open(sipd_script_t **out, sip_server_t *srv, const char *path, char *err,
                        size_t errlen);
int sipd_script_lua_open(sipd_script_t **out, sip_server_t *srv, const char *path, char *err,
                         size_t errlen);

/* The folder of the running executable, and whether it is the build tree's (tests) or an
 * installed one (then the bindings are found relative to it, wherever the prefix is). */
int sipd_script_exe_dir(char *buf, size_t size);

/* Where a host's binding layer is: $env_name when set and not empty, else build_dir when this
 * sipd is the build tree's, else install_rel relative to the executable's folder (so a DESTDIR
 * or another prefix works as well as the configured one), else build_dir. Fills buf. */
void sipd_script_layer_dir(const char *env_name, const char *build_dir, const char *install_rel,
                           char *buf, size_t size);

#endif
