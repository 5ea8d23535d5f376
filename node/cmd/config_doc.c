/*
 * config_doc.c - --help and README.md's configuration table, printed from
 * the option table of config.c (config_int.h).
 *
 * Defaults are printed from a config filled by node_config_defaults, so what
 * the help and README say is what a node runs with; an option whose default
 * is generated or depends on the machine says so in words (dflt_text). Not
 * here: parsing (config.c).
 */
#include <stdio.h>
#include <string.h>

#include "config.h"
#include "config_int.h"

/* --help wraps help texts to this width, indented this far. */
#define USAGE_WIDTH  80
#define USAGE_INDENT 8

/* The default of o in d, as text. */
static const char *default_text(const node_config_t *d, const node_opt_t *o, char *buf, size_t n)
{
    int v;
    if (o->dflt_text)
        return o->dflt_text;
    switch (o->kind) {
    case OPT_BOOL:
        return *(const bool *)config__field(d, o) ? "true" : "false";
    case OPT_STR:
        return config__field(d, o);
    case OPT_ENUM:
        memcpy(&v, config__field(d, o), sizeof v);
        return o->name(v);
    case OPT_ADDR:
        snprintf(buf, n, "%s:%d", (const char *)config__field(d, o),
                 *(const int *)((const char *)d + o->port_off));
        return buf;
    case OPT_TOKENS:
    case OPT_CONFIG:
    case OPT_ADDRS:
        return "none";
    default:
        snprintf(buf, n, "%llu", config__get_uint(d, o));
        return buf;
    }
}

static const char *role_prefix(const node_opt_t *o)
{
    switch (o->roles) {
    case OPT_ORIGIN:
        return "origin: ";
    case OPT_EDGE:
        return "edge: ";
    case OPT_UP:
        return "edge, relay: ";
    case OPT_DOWN:
        return "origin, relay: ";
    default:
        return "";
    }
}

/* text's words from column USAGE_INDENT on, wrapped before USAGE_WIDTH. */
static void wrap(FILE *out, const char *text)
{
    int col = 0;
    while (*text) {
        size_t w = strcspn(text, " ");
        if (col > USAGE_INDENT && col + 1 + (int)w > USAGE_WIDTH) {
            fputc('\n', out);
            col = 0;
        }
        if (col == 0)
            col = fprintf(out, "%*s", USAGE_INDENT, "");
        else
            col += fprintf(out, " ");
        col += fprintf(out, "%.*s", (int)w, text);
        text += w;
        text += strspn(text, " ");
    }
    fputc('\n', out);
}

static void usage_one(FILE *out, const node_config_t *d, const node_opt_t *o)
{
    char help[512], buf[NODE_PATH_MAX + 16], ch[128];
    if (o->flag)
        fprintf(out, "  %s %s", o->flag, o->arg);
    else
        fprintf(out, "  \"%s\": %s", o->key,
                o->kind == OPT_BOOL    ? "true|false"
                : config__is_number(o) ? "N"
                                       : "STRING");
    if (o->flag && o->key)
        fprintf(out, "  (file: \"%s\")", o->key);
    fputc('\n', out);
    snprintf(help, sizeof help, "%s%s%s%s", role_prefix(o), o->help,
             o->kind == OPT_ENUM ? "; one of " : "",
             o->kind == OPT_ENUM ? config__choices(o, " | ", ch, sizeof ch) : "");
    wrap(out, help);
    fprintf(out, "%*sdefault: %s\n", USAGE_INDENT, "", default_text(d, o, buf, sizeof buf));
}

void node_config_usage(FILE *out, const char *role)
{
    node_config_t d;
    size_t i;
    node_config_defaults(&d, role);
    fprintf(out,
            "usage: edgekv %s [options]\n\n"
            "Every option has a default. A JSON file given with --config sets the keys\n"
            "shown as (file: \"key\"); flags override the file. Unknown keys are an error.\n"
            "Options marked origin:, edge: or relay: matter to those roles only.\n\n",
            role);
    for (i = 0; i < config__opt_count; i++)
        if (config__opts[i].flag)
            usage_one(out, &d, &config__opts[i]);
    fprintf(out, "\nfile keys without a flag:\n");
    for (i = 0; i < config__opt_count; i++)
        if (!config__opts[i].flag)
            usage_one(out, &d, &config__opts[i]);
    node_config_free(&d);
}

/* A markdown table cell: `|` escaped. */
static void md_text(FILE *out, const char *s)
{
    for (; *s; s++) {
        if (*s == '|')
            fputc('\\', out);
        fputc(*s, out);
    }
}

/* A default in the table: numbers and descriptions as they are, values as code. */
static void md_default(FILE *out, const node_config_t *d, const node_opt_t *o)
{
    char buf[NODE_PATH_MAX + 16];
    bool code = !o->dflt_text && !config__is_number(o);
    fputs(code ? "`" : "", out);
    md_text(out, default_text(d, o, buf, sizeof buf));
    fputs(code ? "`" : "", out);
}

void node_config_table(FILE *out)
{
    node_config_t d[2];
    char a[NODE_PATH_MAX + 16], b[NODE_PATH_MAX + 16], ch[128];
    node_config_defaults(&d[0], "origin");
    node_config_defaults(&d[1], "edge");
    fprintf(out, "| flag | file key | default | meaning |\n|---|---|---|---|\n");
    for (size_t i = 0; i < config__opt_count; i++) {
        const node_opt_t *o = &config__opts[i];
        fputs("| ", out);
        if (o->flag) {
            fprintf(out, "`%s ", o->flag);
            md_text(out, o->arg);
            fputs("`", out);
        }
        fputs(o->flag ? " | " : "| ", out);
        if (o->key)
            fprintf(out, "`%s` ", o->key);
        fputs("| ", out);
        /* An option of one role shows that role's default; one of both
         * shows the edge's too when it differs. */
        md_default(out, &d[!(o->roles & OPT_ORIGIN)], o);
        if (o->roles == OPT_ALL &&
            strcmp(default_text(&d[0], o, a, sizeof a), default_text(&d[1], o, b, sizeof b)) != 0) {
            fputs(" (edge: ", out);
            md_default(out, &d[1], o);
            fputs(")", out);
        }
        fprintf(out, " | %s", role_prefix(o));
        md_text(out, o->help);
        if (o->kind == OPT_ENUM) {
            fputs("; one of `", out);
            md_text(out, config__choices(o, "`, `", ch, sizeof ch));
            fputs("`", out);
        }
        fputs(" |\n", out);
    }
    node_config_free(&d[0]);
    node_config_free(&d[1]);
}
