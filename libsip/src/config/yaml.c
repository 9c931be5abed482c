/* SPDX-License-Identifier: MIT */
/* Reading a configuration file: YAML through libyaml's document API, whose nodes carry their
 * marks (line and column), so that every error names where it is and which key. Scalars are
 * read by the type of the key they set, never by YAML's own guesses: `no` for a string is the
 * text "no", `on` for a boolean is true. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <yaml.h>

#include "config/config_int.h"
#include "core/mem.h"
#include "sip/error.h"

#define MAX_FILE (16u << 20) /* a configuration is a few kilobytes; this is a sanity bound */

typedef struct loader {
    yaml_document_t *doc;
    const char *name;
    sip__cfg_val_t *vals; /* the values read, one slot per key */
    unsigned *set;        /* which slots the file set: the line of the key, from 1 */
    sip_parse_error_t *err;
} loader_t;

static const char *node_kind(const yaml_node_t *n)
{
    switch (n->type) {
    case YAML_SEQUENCE_NODE: return "a list";
    case YAML_MAPPING_NODE: return "a mapping";
    default: return "a value";
    }
}

static int fail_at(loader_t *l, const yaml_node_t *n, const char *key, const char *why)
{
    sip__config_error(l->err, l->name, n ? (unsigned)n->start_mark.line + 1 : 0,
                      n ? (unsigned)n->start_mark.column + 1 : 0, key, "%s", why);
    return SIP_ECONFIG;
}

/* A plain scalar YAML reads as null: nothing written, "~" or "null". */
static int is_null(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)n->data.scalar.value;
    return !*s || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 || strcmp(s, "Null") == 0 ||
           strcmp(s, "NULL") == 0;
}

/* One value of key k from a scalar node into *out (malloc'd). */
static int scalar_value(loader_t *l, const sip__cfg_key_t *k, const yaml_node_t *n, char **out)
{
    const char *s = (const char *)n->data.scalar.value;
    if (strlen(s) != n->data.scalar.length)
        return fail_at(l, n, k->name, "a value may not hold control characters");
    if (is_null(n)) s = "";
    char why[128];
    int rc = sip__config_value(k, s, out, why, sizeof(why));
    if (rc == SIP_ECONFIG) return fail_at(l, n, k->name, why);
    return rc;
}

static int push(sip__cfg_val_t *v, char *s)
{
    char **nv = realloc(v->v, (v->n + 1) * sizeof(char *));
    if (!nv) {
        free(s);
        return SIP_ENOMEM;
    }
    v->v = nv;
    v->v[v->n++] = s;
    return 0;
}

static int key_value(loader_t *l, int idx, const yaml_node_t *kn, const yaml_node_t *vn)
{
    const sip__cfg_key_t *k = &sip__cfg_keys[idx];
    sip__cfg_val_t *v = &l->vals[idx];
    char why[96];
    /* The same key written both in its section and by its dotted name ("tls:" then "ca:", and
     * "tls.ca:") is a duplicate the per-mapping check cannot see. */
    if (l->set[idx]) {
        snprintf(why, sizeof(why), "set twice (first at line %u)", l->set[idx]);
        return fail_at(l, kn, k->name, why);
    }
    l->set[idx] = (unsigned)kn->start_mark.line + 1;
    if (k->type == SIP__CFG_LIST) {
        if (vn->type == YAML_MAPPING_NODE)
            return fail_at(l, vn, k->name, "wants a list of values, not a mapping");
        if (vn->type == YAML_SCALAR_NODE) {
            /* One value written without the dashes is a list of one; nothing is the empty
             * list. */
            if (is_null(vn)) return 0;
            char *s;
            int rc = scalar_value(l, k, vn, &s);
            return rc ? rc : push(v, s);
        }
        for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
             it++) {
            yaml_node_t *in = yaml_document_get_node(l->doc, *it);
            if (!in) continue;
            if (in->type != YAML_SCALAR_NODE) {
                snprintf(why, sizeof(why), "wants a list of values, not of %s", node_kind(in));
                return fail_at(l, in, k->name, why);
            }
            char *s;
            int rc = scalar_value(l, k, in, &s);
            if (!rc) rc = push(v, s);
            if (rc) return rc;
        }
        return 0;
    }
    if (vn->type != YAML_SCALAR_NODE) {
        snprintf(why, sizeof(why), "wants a single value, not %s", node_kind(vn));
        return fail_at(l, vn, k->name, why);
    }
    char *s;
    int rc = scalar_value(l, k, vn, &s);
    return rc ? rc : push(v, s);
}

static int walk(loader_t *l, const yaml_node_t *map, const char *prefix)
{
    for (yaml_node_pair_t *p = map->data.mapping.pairs.start; p < map->data.mapping.pairs.top;
         p++) {
        yaml_node_t *kn = yaml_document_get_node(l->doc, p->key);
        yaml_node_t *vn = yaml_document_get_node(l->doc, p->value);
        if (!kn || !vn) continue;
        if (kn->type != YAML_SCALAR_NODE) {
            char why[64];
            snprintf(why, sizeof(why), "a key is a name, not %s", node_kind(kn));
            return fail_at(l, kn, prefix, why);
        }
        const char *kt = (const char *)kn->data.scalar.value;
        char full[64];
        int fl =
            snprintf(full, sizeof(full), "%s%s%s", prefix ? prefix : "", prefix ? "." : "", kt);
        if (fl < 0 || (size_t)fl >= sizeof(full) || strlen(kt) != kn->data.scalar.length) {
            snprintf(full, sizeof(full), "%s%s%.20s...", prefix ? prefix : "", prefix ? "." : "",
                     kt);
            return fail_at(l, kn, full, "unknown key");
        }
        /* YAML leaves duplicate keys to the application (YAML 1.2 §3.2.1.1 says they are an
         * error): the second would silently win. */
        for (yaml_node_pair_t *q = map->data.mapping.pairs.start; q < p; q++) {
            yaml_node_t *qn = yaml_document_get_node(l->doc, q->key);
            if (qn && qn->type == YAML_SCALAR_NODE &&
                strcmp((const char *)qn->data.scalar.value, kt) == 0) {
                char why[64];
                snprintf(why, sizeof(why), "duplicate key (first at line %u)",
                         (unsigned)qn->start_mark.line + 1);
                return fail_at(l, kn, full, why);
            }
        }
        if (sip__config_is_section(full, strlen(full))) {
            if (vn->type == YAML_MAPPING_NODE) {
                int rc = walk(l, vn, full);
                if (rc) return rc;
                continue;
            }
            if (is_null(vn)) continue; /* an empty section */
            char why[80];
            snprintf(why, sizeof(why), "is a section: wants a mapping of its keys, not %s",
                     node_kind(vn));
            return fail_at(l, vn, full, why);
        }
        int idx = sip__config_find(full, strlen(full));
        if (idx < 0) return fail_at(l, kn, full, "unknown key");
        int rc = key_value(l, idx, kn, vn);
        if (rc) return rc;
    }
    return 0;
}

static void scratch_free(sip__cfg_val_t *vals)
{
    if (!vals) return;
    for (size_t i = 0; i < sip__cfg_nkeys; i++)
        sip__config_val_free(&vals[i]);
    free(vals);
}

static int parser_error(yaml_parser_t *p, const char *name, sip_parse_error_t *err)
{
    if (p->error == YAML_MEMORY_ERROR) return SIP_ENOMEM;
    const yaml_mark_t *m = &p->problem_mark;
    if (p->context)
        sip__config_error(err, name, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL, "%s %s",
                          p->problem ? p->problem : "malformed YAML", p->context);
    else
        sip__config_error(err, name, (unsigned)m->line + 1, (unsigned)m->column + 1, NULL, "%s",
                          p->problem ? p->problem : "malformed YAML");
    return SIP_ECONFIG;
}

int sip_config_load_text(sip_config_t *cfg, const char *text, size_t len, const char *name,
                         sip_parse_error_t *err)
{
    if (!cfg || (!text && len)) return SIP_EINVAL;
    if (err) memset(err, 0, sizeof(*err));
    if (!name) name = "<text>";
    yaml_parser_t parser;
    yaml_document_t doc;
    int have_doc = 0, rc = SIP_ENOMEM;
    loader_t l = {.doc = &doc, .name = name, .err = err};
    l.vals = calloc(sip__cfg_nkeys, sizeof(*l.vals));
    l.set = calloc(sip__cfg_nkeys, sizeof(*l.set));
    if (!l.vals || !l.set) goto out_noparser;
    if (!yaml_parser_initialize(&parser)) goto out_noparser;
    yaml_parser_set_input_string(&parser, (const unsigned char *)(text ? text : ""), len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = parser_error(&parser, name, err);
        goto out;
    }
    have_doc = 1;
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    rc = 0;
    if (root && root->type == YAML_MAPPING_NODE) {
        rc = walk(&l, root, NULL);
    } else if (root && !is_null(root)) {
        rc = fail_at(&l, root, NULL, "wants a mapping of keys (\"listen:\", \"domains:\"...)");
    }
    if (rc) goto out;
    /* One document per file: a second one would be ignored without a word. */
    yaml_document_t next;
    if (!yaml_parser_load(&parser, &next)) {
        rc = parser_error(&parser, name, err);
        goto out;
    }
    yaml_node_t *nroot = yaml_document_get_root_node(&next);
    if (nroot) {
        sip__config_error(err, name, (unsigned)next.start_mark.line + 1,
                          (unsigned)next.start_mark.column + 1, NULL,
                          "a configuration is one YAML document");
        rc = SIP_ECONFIG;
    }
    yaml_document_delete(&next);
    if (rc) goto out;
    /* Nothing failed: every key the file set replaces the value held. */
    for (size_t i = 0; i < sip__cfg_nkeys; i++) {
        if (!l.set[i]) continue;
        sip__config_val_free(&cfg->vals[i]);
        cfg->vals[i] = l.vals[i];
        l.vals[i] = (sip__cfg_val_t){0};
    }
out:
    if (have_doc) yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
out_noparser:
    scratch_free(l.vals);
    free(l.set);
    return rc;
}

int sip_config_load(sip_config_t *cfg, const char *path, sip_parse_error_t *err)
{
    if (!cfg || !path) return SIP_EINVAL;
    if (err) memset(err, 0, sizeof(*err));
    FILE *f = fopen(path, "rb");
    if (!f) {
        int e = -errno;
        sip__config_error(err, path, 0, 0, NULL, "cannot read: %s", strerror(-e));
        if (err) err->code = e;
        return e;
    }
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        sip__config_error(err, path, 0, 0, NULL, "cannot read: %s", strerror(EISDIR));
        if (err) err->code = -EISDIR;
        return -EISDIR;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    int rc = buf ? 0 : SIP_ENOMEM;
    while (!rc) {
        if (len == cap) {
            char *nb = cap < MAX_FILE ? realloc(buf, cap * 2) : NULL;
            if (!nb) {
                rc = cap < MAX_FILE ? SIP_ENOMEM : -EFBIG;
                break;
            }
            buf = nb;
            cap *= 2;
        }
        size_t n = fread(buf + len, 1, cap - len, f);
        len += n;
        if (n == 0) {
            if (ferror(f)) rc = -EIO;
            break;
        }
    }
    fclose(f);
    if (rc) {
        if (rc != SIP_ENOMEM)
            sip__config_error(err, path, 0, 0, NULL, "cannot read: %s", sip_strerror(rc));
        free(buf);
        return rc;
    }
    rc = sip_config_load_text(cfg, buf, len, path, err);
    free(buf);
    return rc;
}
