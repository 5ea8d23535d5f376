/*
 * hcheck_main.c - edgekv-check, the history checker's command line:
 *   edgekv-check [--bound-ms B] [--slack-ms S] [--origin NAME]
 *                [--max-report N] [--allow-stale-reads] HISTORY.jsonl...
 * Judges the histories (one history may span files: they are read as one)
 * with the checks of hcheck.h and prints each violation's counterexample
 * and a summary. Exit 0: every check passed; 1: a violation (with
 * --allow-stale-reads, stale-read violations alone do not count); 2: a
 * usage error, an unreadable file, or a history that breaks the format's
 * rules (a put without a value, a value written twice).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hcheck.h"

static int usage(void)
{
    fprintf(stderr, "usage: edgekv-check [--bound-ms B] [--slack-ms S] [--origin NAME] "
                    "[--max-report N] [--allow-stale-reads] HISTORY.jsonl...\n");
    return 2;
}

int main(int argc, char **argv)
{
    hc_options_t opt;
    hc_options_default(&opt);
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        const char *a = argv[first];
        if (strcmp(a, "--allow-stale-reads") == 0) {
            opt.allow_stale_reads = true;
            continue;
        }
        if (first + 1 >= argc)
            return usage();
        const char *v = argv[++first];
        if (strcmp(a, "--bound-ms") == 0)
            opt.bound_ms = atoll(v);
        else if (strcmp(a, "--slack-ms") == 0)
            opt.slack_ms = atoll(v);
        else if (strcmp(a, "--origin") == 0)
            opt.origin = v;
        else if (strcmp(a, "--max-report") == 0)
            opt.max_report = atoi(v);
        else
            return usage();
    }
    if (first >= argc || opt.bound_ms < 0 || opt.slack_ms < 0 || opt.max_report < 0)
        return usage();
    hc_t *h = hc_new(&opt);
    if (!h) {
        fprintf(stderr, "edgekv-check: out of memory\n");
        return 2;
    }
    for (int i = first; i < argc; i++) {
        int rc = hc_load(h, argv[i], stderr);
        if (rc != 0) {
            if (rc != -EINVAL)
                fprintf(stderr, "edgekv-check: %s: %s\n", argv[i], strerror(-rc));
            hc_free(h);
            return 2;
        }
    }
    uint64_t failing = hc_check(h, stdout);
    hc_free(h);
    return failing ? 1 : 0;
}
