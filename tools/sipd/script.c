/* SPDX-License-Identifier: MIT */
/* The routing-script entry points of sipd (script.h): a ".py" file goes to the Python host
 * (script_py.c), a ".lua" file to the Lua host (script_lua.c). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "script_int.h"

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n > m && strcmp(s + n - m, suffix) == 0;
}

int sipd_script_exe_dir(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    char *slash;

    if (n <= 0) return -errno;
    buf[n] = '\0';
    slash = strrchr(buf, '/');
    if (slash == NULL) return SIP_EINVAL;
    *slash = '\0';
    return 0;
}

void sipd_script_layer_dir(const char *env_name, const char *build_dir, const char *install_rel,
                           char *buf, size_t size)
{
    const char *env = getenv(env_name);
    char exe[PATH_MAX - 256];

    if (env != NULL && *env) {
        snprintf(buf, size, "%s", env);
        return;
    }
    if (sipd_script_exe_dir(exe, sizeof(exe)) == 0) {
        if (strcmp(exe, SIPD_BUILD_BINDIR) == 0) {
            snprintf(buf, size, "%s", build_dir);
            return;
        }
        snprintf(buf, size, "%s/%s", exe, install_rel);
        return;
    }
    snprintf(buf, size, "%s", build_dir);
}

int sipd_script_open(sipd_script_t **out, sip_server_t *srv, const char *path, char *err,
                     size_t errlen)
{
    *out = NULL;
    if (srv == NULL || path == NULL) {
        snprintf(err, errlen, "no server or no script");
        return SIP_EINVAL;
    }
    if (ends_with(path, ".py")) return sipd_script_py_open(out, srv, path, err, errlen);
    if (ends_with(path, ".lua")) return sipd_script_lua_open(out, srv, path, err, errlen);
    snprintf(err, errlen, "%s: a routing script ends in .py or .lua", path);
    return SIP_EINVAL;
}

int sipd_script_reload(sipd_script_t *s, const char *path, char *err, size_t errlen)
{
    if (s == NULL || path == NULL) {
        snprintf(err, errlen, "no script loaded");
        return SIP_EINVAL;
    }
    if (!ends_with(path, s->ops->name[0] == 'p' ? ".py" : ".lua")) {
        /* The interpreter is chosen when sipd starts: a reload keeps the language. */
        snprintf(err, errlen, "%s: the running script is %s; a reload keeps its language", path,
                 s->ops->name);
        return SIP_EINVAL;
    }
    return s->ops->reload(s, path, err, errlen);
}

int sipd_script_run(sipd_script_t *s)
{
    return s->ops->run(s);
}

void sipd_script_close(sipd_script_t *s)
{
    if (s != NULL) s->ops->close(s);
}
