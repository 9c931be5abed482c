/* SPDX-License-Identifier: MIT */
/* The user table: HA1 hashes per user, realm and algorithm (RFC 7616 §3.4.2), read from and
 * written to a text file, answering the digest server's lookups. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "auth/auth_int.h"
#include "core/live_int.h"
#include "core/mem.h"
#include "sip/error.h"
#include "sip/registrar.h"

/* The algorithms a table keeps: the two every client knows (RFC 7616 §3.4.2; RFC 8760 names
 * SHA-256 as the one to offer first, MD5 stays for the clients that know nothing else). */
enum { ALG_MD5 = 0, ALG_SHA256, ALG_N };
static const int alg_of[ALG_N] = {SIP_AUTH_MD5, SIP_AUTH_SHA256};

typedef struct user_ent {
    struct user_ent *next;          /* the hash chain */
    struct user_ent *older, *newer; /* insertion order: the file keeps its order on save */
    uint32_t hash;
    char *user, *realm;                 /* one allocation: user, NUL, realm, NUL */
    char ha1[ALG_N][SIP__AUTH_HEX_MAX]; /* "" when the algorithm has none */
} user_ent_t;

struct sip_userdb {
    int refs;
    size_t count, mask;
    user_ent_t **buckets;
    user_ent_t *oldest, *newest;
    sip__auth_hasher_t hasher;
    int has_hasher;
};

/* FNV-1a over user ":" realm: the key of a user. */
static uint32_t key_hash(sip_str_t user, sip_str_t realm)
{
    uint32_t h = 2166136261u;
    for (size_t i = 0; i < user.len; i++)
        h = (h ^ (unsigned char)user.ptr[i]) * 16777619u;
    h = (h ^ ':') * 16777619u;
    for (size_t i = 0; i < realm.len; i++)
        h = (h ^ (unsigned char)realm.ptr[i]) * 16777619u;
    return h;
}

static int alg_slot(int algorithm)
{
    int base = sip__auth_alg_valid(algorithm) ? sip__auth_alg_base(algorithm) : 0;
    for (int i = 0; i < ALG_N; i++)
        if (alg_of[i] == base) return i;
    return -1;
}

static user_ent_t *find(const sip_userdb_t *db, sip_str_t user, sip_str_t realm)
{
    if (!db->count) return NULL;
    uint32_t h = key_hash(user, realm);
    for (user_ent_t *e = db->buckets[h & db->mask]; e; e = e->next)
        if (e->hash == h && sip_str_eq(sip_str_from_cstr(e->user), user) &&
            sip_str_eq(sip_str_from_cstr(e->realm), realm))
            return e;
    return NULL;
}

static int grow(sip_userdb_t *db)
{
    size_t n = (db->mask + 1) * 2;
    user_ent_t **b = calloc(n, sizeof(*b));
    if (!b) return SIP_ENOMEM;
    for (size_t i = 0; i <= db->mask; i++) {
        user_ent_t *e = db->buckets[i], *next;
        for (; e; e = next) {
            next = e->next;
            e->next = b[e->hash & (n - 1)];
            b[e->hash & (n - 1)] = e;
        }
    }
    free(db->buckets);
    db->buckets = b;
    db->mask = n - 1;
    return 0;
}

/* Finds or adds a user's entry. */
static int get_or_add(sip_userdb_t *db, sip_str_t user, sip_str_t realm, user_ent_t **out)
{
    if ((*out = find(db, user, realm))) return 0;
    if (db->count + 1 > db->mask + 1 && grow(db) < 0) return SIP_ENOMEM;
    user_ent_t *e = calloc(1, sizeof(*e));
    char *names = malloc(user.len + realm.len + 2);
    if (!e || !names) {
        free(e);
        free(names);
        return SIP_ENOMEM;
    }
    memcpy(names, user.ptr, user.len);
    names[user.len] = '\0';
    memcpy(names + user.len + 1, realm.ptr, realm.len);
    names[user.len + 1 + realm.len] = '\0';
    e->user = names;
    e->realm = names + user.len + 1;
    e->hash = key_hash(user, realm);
    e->next = db->buckets[e->hash & db->mask];
    db->buckets[e->hash & db->mask] = e;
    e->older = db->newest;
    if (db->newest)
        db->newest->newer = e;
    else
        db->oldest = e;
    db->newest = e;
    db->count++;
    *out = e;
    return 0;
}

static void ent_free(user_ent_t *e)
{
    OPENSSL_cleanse(e->ha1, sizeof(e->ha1));
    free(e->user);
    free(e);
}

static void unlink_ent(sip_userdb_t *db, user_ent_t *e)
{
    user_ent_t **pp = &db->buckets[e->hash & db->mask];
    while (*pp != e)
        pp = &(*pp)->next;
    *pp = e->next;
    if (e->older)
        e->older->newer = e->newer;
    else
        db->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        db->newest = e->older;
    db->count--;
}

/* A user or realm a line of the file can hold: not empty, no ':' (the separator), no control
 * character (which keeps CR and LF out, and makes the name quotable in a challenge). */
static int name_ok(sip_str_t s)
{
    if (!s.len) return 0;
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        if (c < 0x20 || c == 0x7f || c == ':') return 0;
    }
    return 1;
}

static int hex_ok(sip_str_t s, size_t want)
{
    if (s.len != want) return 0;
    for (size_t i = 0; i < s.len; i++) {
        char c = s.ptr[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return 0;
    }
    return 1;
}

static void report(const char *path, int line, const char *what)
{
    /* The table belongs to no loop: its reasons go where a loop's default logger writes. */
    if (line > 0)
        fprintf(stderr, "libsip error userdb: %s:%d: %s\n", path, line, what);
    else
        fprintf(stderr, "libsip error userdb: %s: %s\n", path, what);
}

/* One line "user:realm:algorithm:ha1" (comments and blank lines already skipped). */
static int parse_line(sip_userdb_t *db, sip_str_t s, const char **why)
{
    sip_str_t f[4];
    size_t n = 0, start = 0;
    for (size_t i = 0; i <= s.len; i++) {
        if (i < s.len && s.ptr[i] != ':') continue;
        if (n == 4) {
            *why = "more than 4 fields (user:realm:algorithm:ha1)";
            return SIP_EPARSE;
        }
        f[n++] = (sip_str_t){s.ptr + start, i - start};
        start = i + 1;
    }
    if (n != 4) {
        *why = "fewer than 4 fields (user:realm:algorithm:ha1)";
        return SIP_EPARSE;
    }
    if (!name_ok(f[0])) {
        *why = "empty user or a control character in it";
        return SIP_EPARSE;
    }
    if (!name_ok(f[1])) {
        *why = "empty realm or a control character in it";
        return SIP_EPARSE;
    }
    int slot = alg_slot(sip__auth_alg_from_str(f[2]));
    if (slot < 0 || sip__auth_alg_from_str(f[2]) != alg_of[slot]) {
        *why = "unknown algorithm (MD5 or SHA-256)";
        return SIP_EPARSE;
    }
    if (!hex_ok(f[3], sip__auth_hex_len(alg_of[slot]))) {
        *why = slot == ALG_MD5 ? "the HA1 is not 32 hex digits" : "the HA1 is not 64 hex digits";
        return SIP_EPARSE;
    }
    user_ent_t *e;
    if (get_or_add(db, f[0], f[1], &e) < 0) return SIP_ENOMEM;
    if (e->ha1[slot][0]) {
        *why = "a second HA1 for the same user, realm and algorithm";
        return SIP_EPARSE;
    }
    for (size_t i = 0; i < f[3].len; i++) {
        char c = f[3].ptr[i];
        e->ha1[slot][i] = c >= 'A' && c <= 'F' ? (char)(c - 'A' + 'a') : c;
    }
    e->ha1[slot][f[3].len] = '\0';
    return 0;
}

static int load(sip_userdb_t *db, const char *path, int *err_line)
{
    FILE *fp = fopen(path, "rb");
    if (!fp) {
        report(path, 0, strerror(errno));
        return SIP_EIO;
    }
    char *buf = NULL;
    size_t len = 0, cap = 0;
    int rc = 0;
    for (;;) {
        if (cap - len < 4096) {
            char *nb = realloc(buf, cap ? cap * 2 : 8192);
            if (!nb) {
                rc = SIP_ENOMEM;
                break;
            }
            buf = nb;
            cap = cap ? cap * 2 : 8192;
        }
        size_t got = fread(buf + len, 1, cap - len, fp);
        len += got;
        if (got == 0) {
            if (ferror(fp)) {
                report(path, 0, "read error");
                rc = SIP_EIO;
            }
            break;
        }
    }
    fclose(fp);
    int line = 0;
    for (size_t pos = 0; rc == 0 && pos < len;) {
        size_t end = pos;
        while (end < len && buf[end] != '\n')
            end++;
        line++;
        sip_str_t s = {buf + pos, end - pos};
        pos = end + 1;
        /* Blanks around a line are not part of a field (a file edited by hand). */
        while (s.len &&
               (s.ptr[s.len - 1] == '\r' || s.ptr[s.len - 1] == ' ' || s.ptr[s.len - 1] == '\t'))
            s.len--;
        while (s.len && (*s.ptr == ' ' || *s.ptr == '\t')) {
            s.ptr++;
            s.len--;
        }
        if (!s.len || *s.ptr == '#') continue;
        const char *why = NULL;
        rc = parse_line(db, s, &why);
        if (rc == SIP_EPARSE) {
            report(path, line, why);
            if (err_line) *err_line = line;
        }
    }
    if (buf) OPENSSL_cleanse(buf, len);
    free(buf);
    return rc;
}

int sip_userdb_create(sip_userdb_t **out, const char *path, int *err_line)
{
    if (err_line) *err_line = 0;
    if (!out) return SIP_EINVAL;
    *out = NULL;
    sip_userdb_t *db = calloc(1, sizeof(*db));
    if (!db) return SIP_ENOMEM;
    db->refs = 1;
    db->mask = 15;
    sip__live_inc(SIP_LIVE_USERDB);
    int rc = SIP_ENOMEM;
    if (!(db->buckets = calloc(db->mask + 1, sizeof(*db->buckets)))) goto fail;
    if ((rc = sip__auth_hasher_init(&db->hasher)) < 0) goto fail;
    db->has_hasher = 1;
    if (path && (rc = load(db, path, err_line)) < 0) goto fail;
    *out = db;
    return 0;
fail:
    sip_userdb_unref(db);
    return rc;
}

sip_userdb_t *sip_userdb_ref(sip_userdb_t *db)
{
    if (db) db->refs++;
    return db;
}

void sip_userdb_unref(sip_userdb_t *db)
{
    if (!db || --db->refs > 0) return;
    user_ent_t *e = db->oldest, *next;
    for (; e; e = next) {
        next = e->newer;
        ent_free(e);
    }
    free(db->buckets);
    if (db->has_hasher) sip__auth_hasher_free(&db->hasher);
    free(db);
    sip__live_dec(SIP_LIVE_USERDB);
}

int sip_userdb_set_password(sip_userdb_t *db, const char *user, const char *realm,
                            const char *password)
{
    if (!db || !user || !realm || !password) return SIP_EINVAL;
    sip_str_t u = sip_str_from_cstr(user), r = sip_str_from_cstr(realm);
    /* A user beginning with '#' would read back as a comment. */
    if (!name_ok(u) || !name_ok(r) || *user == '#') return SIP_EINVAL;
    char ha1[ALG_N][SIP__AUTH_HEX_MAX];
    int rc = 0;
    for (int i = 0; i < ALG_N && rc >= 0; i++)
        rc = sip__auth_ha1(&db->hasher, alg_of[i], u, r, sip_str_from_cstr(password), ha1[i]);
    user_ent_t *e = NULL;
    if (rc >= 0) rc = get_or_add(db, u, r, &e);
    if (rc >= 0) memcpy(e->ha1, ha1, sizeof(ha1));
    OPENSSL_cleanse(ha1, sizeof(ha1));
    return rc < 0 ? rc : 0;
}

int sip_userdb_remove(sip_userdb_t *db, const char *user, const char *realm)
{
    if (!db || !user || !realm) return SIP_EINVAL;
    user_ent_t *e = find(db, sip_str_from_cstr(user), sip_str_from_cstr(realm));
    if (!e) return SIP_ENOENT;
    unlink_ent(db, e);
    ent_free(e);
    return 0;
}

const char *sip_userdb_get_ha1(const sip_userdb_t *db, const char *user, const char *realm,
                               int algorithm)
{
    int slot = alg_slot(algorithm);
    if (!db || !user || !realm || slot < 0) return NULL;
    user_ent_t *e = find(db, sip_str_from_cstr(user), sip_str_from_cstr(realm));
    return e && e->ha1[slot][0] ? e->ha1[slot] : NULL;
}

size_t sip_userdb_count(const sip_userdb_t *db)
{
    return db ? db->count : 0;
}

int sip_userdb_save(const sip_userdb_t *db, const char *path)
{
    if (!db || !path || !*path) return SIP_EINVAL;
    size_t n = strlen(path);
    char *tmp = malloc(n + 8);
    if (!tmp) return SIP_ENOMEM;
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".XXXXXX", 8);
    /* mkstemp makes the file 0600: the hashes are as good as passwords for this realm
     * (RFC 7616 §5.2), so nobody else may read even the half-written file. */
    int fd = mkstemp(tmp);
    if (fd < 0) {
        report(path, 0, strerror(errno));
        free(tmp);
        return SIP_EIO;
    }
    FILE *fp = fdopen(fd, "wb");
    int ok = fp != NULL && fchmod(fd, 0600) == 0;
    if (fp && ok)
        ok = fputs("# user:realm:algorithm:ha1 (RFC 7616 §3.4.2: H(user:realm:password))\n", fp) >=
             0;
    for (user_ent_t *e = db->oldest; ok && e; e = e->newer)
        for (int i = 0; ok && i < ALG_N; i++)
            if (e->ha1[i][0])
                ok = fprintf(fp, "%s:%s:%s:%s\n", e->user, e->realm,
                             sip_auth_algorithm_name(alg_of[i]), e->ha1[i]) > 0;
    /* Durable before it replaces the old file: a crash leaves one or the other, whole. */
    if (ok) ok = fflush(fp) == 0 && fsync(fd) == 0;
    if (fp) {
        if (fclose(fp) != 0) ok = 0;
    } else {
        close(fd);
    }
    if (ok) ok = rename(tmp, path) == 0;
    if (!ok) {
        report(path, 0, strerror(errno));
        unlink(tmp);
        free(tmp);
        return SIP_EIO;
    }
    free(tmp);
    /* The rename itself is durable once the directory is. */
    char *dir = sip__strdup(path), *slash = dir ? strrchr(dir, '/') : NULL;
    if (dir) {
        if (slash == dir)
            slash[1] = '\0';
        else if (slash)
            *slash = '\0';
        int dfd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY);
        if (dfd >= 0) {
            (void)fsync(dfd);
            close(dfd);
        }
        free(dir);
    }
    return 0;
}

int sip_userdb_answer(const sip_userdb_t *db, sip_auth_query_t *q)
{
    if (!db || !q) return SIP_EINVAL;
    sip_str_t user = sip_auth_query_get_user(q), realm = sip_auth_query_get_realm(q);
    int slot = alg_slot(sip_auth_query_get_algorithm(q));
    user_ent_t *e = slot >= 0 ? find(db, user, realm) : NULL;
    if (e && e->ha1[slot][0]) return sip_auth_query_answer_ha1(q, e->ha1[slot]);
    /* An unknown user, or one without a hash of this algorithm, is answered as a wrong
     * password would be, with the same work, so the verdict tells nobody which it was. */
    return sip__auth_query_answer_unknown_ha1(q);
}
