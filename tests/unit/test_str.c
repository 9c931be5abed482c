/* SPDX-License-Identifier: MIT */
/* Unit tests of the core module: string views, parameter lists, error names. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "sip/sip.h"

static void str_compare_and_copy(void **state)
{
    (void)state;
    sip_str_t a = SIP_STR("Via"), b = sip_str_from_cstr("vIA");
    assert_false(sip_str_eq(a, b));
    assert_true(sip_str_caseeq(a, b));
    assert_true(sip_str_caseeq_cstr(a, "VIA"));
    assert_false(sip_str_caseeq_cstr(a, "Vias"));
    assert_true(sip_str_eq(SIP_STR_NULL, sip_str_from_cstr(NULL)));
    assert_true(sip_str_eq(SIP_STR_NULL, SIP_STR("")));
    char buf[3];
    assert_int_equal(sip_str_copy(SIP_STR("abcdef"), buf, sizeof(buf)), 6);
    assert_string_equal(buf, "ab");
    assert_int_equal(sip_str_copy(SIP_STR("x"), NULL, 4), SIP_EINVAL);
    assert_int_equal(sip_str_copy(SIP_STR("x"), NULL, 0), 1);
}

static void str_to_u32_bounds(void **state)
{
    (void)state;
    unsigned long v = 0;
    assert_int_equal(sip_str_to_u32(SIP_STR("4294967295"), 0xffffffffUL, &v), 0);
    assert_int_equal(v, 4294967295UL);
    assert_int_equal(sip_str_to_u32(SIP_STR("4294967296"), 0xffffffffUL, &v), SIP_ERANGE);
    assert_int_equal(sip_str_to_u32(SIP_STR("256"), 255, &v), SIP_ERANGE);
    assert_int_equal(sip_str_to_u32(SIP_STR("255"), 255, &v), 0);
    assert_int_equal(sip_str_to_u32(SIP_STR("-1"), 255, &v), SIP_EINVAL);
    assert_int_equal(sip_str_to_u32(SIP_STR(""), 255, &v), SIP_EINVAL);
    assert_int_equal(sip_str_to_u32(SIP_STR("1 "), 255, &v), SIP_EINVAL);
    assert_int_equal(sip_str_to_u32(SIP_STR("99999999999999999999999"), 0xffffffffUL, &v),
                     SIP_ERANGE);
}

static void str_params_walk_and_find(void **state)
{
    (void)state;
    sip_str_t params = SIP_STR("branch=z9hG4bK1 ; rport;received=192.0.2.1;x=\"a;b\";lr");
    sip_str_t it = params, n, v;
    static const char *names[] = {"branch", "rport", "received", "x", "lr"};
    static const char *values[] = {"z9hG4bK1", "", "192.0.2.1", "\"a;b\"", ""};
    for (int i = 0; i < 5; i++) {
        assert_true(sip_params_next(&it, &n, &v));
        assert_int_equal(n.len, strlen(names[i]));
        assert_memory_equal(n.ptr, names[i], n.len);
        assert_int_equal(v.len, strlen(values[i]));
        if (v.len) assert_memory_equal(v.ptr, values[i], v.len);
    }
    assert_false(sip_params_next(&it, &n, &v));
    assert_true(sip_params_get(params, "RECEIVED", &v));
    assert_true(sip_str_eq(v, SIP_STR("192.0.2.1")));
    assert_true(sip_params_get(params, "lr", NULL));
    assert_false(sip_params_get(params, "maddr", &v));
    assert_true(sip_str_eq(sip_str_unquote(SIP_STR("\"a;b\"")), SIP_STR("a;b")));
    assert_true(sip_str_eq(sip_str_unquote(SIP_STR("\"")), SIP_STR("\"")));
    /* URI headers use '&'. */
    assert_true(sip_params_get_sep(SIP_STR("a=1&Route=%3Csip:x%3E"), '&', "route", &v));
    assert_true(sip_str_eq(v, SIP_STR("%3Csip:x%3E")));
    /* Empty views (NULL pointer) are fine. */
    it = SIP_STR_NULL;
    assert_false(sip_params_next(&it, &n, &v));
    assert_false(sip_params_get(SIP_STR_NULL, "a", &v));
}

static void str_error_names(void **state)
{
    (void)state;
#define CHECK(name, value, desc)                                                                   \
    assert_string_equal(sip_err_name(value), "SIP_" #name);                                        \
    assert_string_equal(sip_strerror(value), desc);
    SIP_ERRNO_MAP(CHECK)
#undef CHECK
    assert_int_equal(SIP_ENOMEM, -ENOMEM);
    assert_string_equal(sip_err_name(12345), "SIP_EUNKNOWN");
    assert_string_equal(sip_strerror(12345), "unknown error");
    /* Other -errno values keep their system text. */
    assert_string_equal(sip_strerror(-EPIPE), strerror(EPIPE));
}

static void str_random_hex(void **state)
{
    (void)state;
    char a[40], b[40];
    assert_int_equal(sip_random_hex(64, a, sizeof(a)), 16);
    assert_int_equal(strlen(a), 16);
    assert_int_equal(strspn(a, "0123456789abcdef"), 16);
    assert_int_equal(sip_random_hex(64, b, sizeof(b)), 16);
    assert_string_not_equal(a, b); /* 2^-64 */
    assert_int_equal(sip_random_hex(128, a, sizeof(a)), 32);
    assert_int_equal(strlen(a), 32);
    /* snprintf semantics: cut to the buffer, full length returned. */
    assert_int_equal(sip_random_hex(64, a, 5), 16);
    assert_int_equal(strlen(a), 4);
    assert_int_equal(sip_random_hex(64, NULL, 0), 16);
    assert_int_equal(sip_random_hex(0, a, sizeof(a)), SIP_EINVAL);
    assert_int_equal(sip_random_hex(12, a, sizeof(a)), SIP_EINVAL);
    assert_int_equal(sip_random_hex(2048, a, sizeof(a)), SIP_EINVAL);
}

/* The random bytes come from a pool: a forked child must not repeat its parent's next ones. */
static void str_random_hex_fork(void **state)
{
    (void)state;
    char warm[17], parent[17], child[17] = "";
    assert_int_equal(sip_random_hex(64, warm, sizeof(warm)), 16); /* the pool is full now */
    int fd[2];
    assert_int_equal(pipe(fd), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        char c[17];
        int ok = sip_random_hex(64, c, sizeof(c)) == 16 && write(fd[1], c, 16) == 16;
        _exit(ok ? 0 : 1);
    }
    close(fd[1]);
    assert_int_equal(sip_random_hex(64, parent, sizeof(parent)), 16);
    assert_int_equal(read(fd[0], child, 16), 16);
    child[16] = '\0';
    close(fd[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_string_not_equal(parent, child);
    /* Many draws cross the pool's refills and stay well-formed. */
    for (int i = 0; i < 200; i++) {
        char t[33];
        assert_int_equal(sip_random_hex(128, t, sizeof(t)), 32);
        assert_int_equal(strspn(t, "0123456789abcdef"), 32);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(str_compare_and_copy),     cmocka_unit_test(str_to_u32_bounds),
        cmocka_unit_test(str_params_walk_and_find), cmocka_unit_test(str_error_names),
        cmocka_unit_test(str_random_hex),           cmocka_unit_test(str_random_hex_fork),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
