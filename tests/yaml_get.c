/*
 * yaml_get.c: a test helper that reads multi-document YAML (Kubernetes manifests) with
 * the project's own strict reader (util/fu_yaml.h), so that shell tests can check that
 * deploy/ manifests parse and agree with the tool's flags without python or kubectl.
 *
 *   tests/yaml_get FILE              parses every document; prints the count
 *   tests/yaml_get FILE DOC PATH     prints the scalar at PATH of document DOC (from 0);
 *                                    PATH is keys and sequence indexes joined by dots
 *                                    (spec.template.spec.containers.0.image)
 *
 * Documents are split at lines that are exactly "---" and each is loaded with its
 * line offset kept (padded with empty lines), so errors name the file's own line.
 * Rejected: libyaml's multi-document stream API directly (fu_yaml already wraps the
 * document API with positioned errors; duplicating that here would drift). Exit
 * status: 0 found; 1 no scalar at PATH (or no document DOC); 2 the file does not read
 * or parse.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fu_yaml.h"

/* The whole file, NUL-terminated and malloc'd; NULL (errno set) when it cannot. */
static char *read_all(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0, cap = 0, got;
    if (!f)
        return NULL;
    do {
        if (n + 4096 + 1 > cap) {
            char *b = realloc(buf, cap = 2 * cap + 4096 + 1);
            if (!b)
                return free(buf), fclose(f), NULL;
            buf = b;
        }
        n += got = fread(buf + n, 1, 4096, f);
    } while (got > 0);
    bool bad = ferror(f);
    fclose(f);
    if (bad)
        return free(buf), errno = EIO, NULL;
    buf[n] = '\0';
    return buf;
}

/* Document k of text as its own string, padded to keep line numbers; NULL if none. */
static char *document(const char *text, int k)
{
    const char *p = text, *start = text;
    int doc = 0, line = 0, start_line = 0;
    if (strncmp(p, "---\n", 4) == 0)   /* a leading marker opens document 0 */
        p += 4, start = p, line = start_line = 1;
    for (;; line++) {
        const char *e = strchr(p, '\n');
        bool marker = (e ? (size_t)(e - p) : strlen(p)) == 3 && strncmp(p, "---", 3) == 0;
        if (marker || !e) {
            const char *end = marker ? p : p + strlen(p);
            if (doc == k) {
                size_t n = (size_t)(end - start);
                char *d = malloc((size_t)start_line + n + 1);
                if (!d)
                    return NULL;
                memset(d, '\n', (size_t)start_line);
                memcpy(d + start_line, start, n);
                d[start_line + n] = '\0';
                return d;
            }
            if (!e)
                return NULL;
            doc++;
            start = e + 1;
            start_line = line + 1;
        }
        p = e + 1;
    }
}

/* The node at a dotted path below n. */
static fu_ynode walk(fu_ynode n, char *path)
{
    char *save = NULL;
    for (char *t = strtok_r(path, ".", &save); t && fu_ynode_ok(n);
         t = strtok_r(NULL, ".", &save)) {
        char *end;
        long i = strtol(t, &end, 10);
        if (fu_ynode_is_seq(n) && *end == '\0' && i >= 0 && (size_t)i < fu_ynode_len(n))
            n = fu_yseq_item(n, (size_t)i);
        else
            n = fu_ymap_get(n, t);
    }
    return n;
}

int main(int argc, char **argv)
{
    if (argc != 2 && argc != 4)
        return fprintf(stderr, "usage: yaml_get FILE [DOC PATH]\n"), 2;
    char *text = read_all(argv[1]), *err = NULL;
    if (!text)
        return fprintf(stderr, "yaml_get: %s: %s\n", argv[1], strerror(errno)), 2;
    int want = argc == 4 ? atoi(argv[2]) : -1, rc = 1, k;
    for (k = 0; want < 0 || k <= want; k++) {
        char *d = document(text, k);
        fu_yaml *doc = NULL;
        if (!d)
            break;
        if (fu_yaml_load_string(argv[1], d, strlen(d), &doc, &err) != 0) {
            fprintf(stderr, "yaml_get: %s\n", err ? err : "out of memory");
            free(err);
            free(d);
            free(text);
            return 2;
        }
        if (k == want) {
            fu_ynode n = walk(fu_yaml_root(doc), argv[3]);
            const char *s = fu_ynode_str(n);
            if (s)
                printf("%s\n", s), rc = 0;
            else
                fprintf(stderr, "yaml_get: %s: no scalar at %s in document %d\n", argv[1],
                        argv[3], want);
        }
        fu_yaml_free(doc);
        free(d);
    }
    free(text);
    if (want < 0)
        return printf("%d\n", k), 0;
    if (k <= want)
        fprintf(stderr, "yaml_get: %s: no document %d (it has %d)\n", argv[1], want, k);
    return rc;
}
