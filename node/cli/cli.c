/*
 * cli.c - `edgekv kv`: arguments, configuration, help texts and dispatch.
 * The commands themselves are in cli_ns.c, cli_key.c, cli_bulk.c,
 * cli_export.c and cli_import.c; the HTTP client in cli_http.c.
 *
 * The argument grammar is wrangler's: `<group> <command> [positionals]
 * [--flag value | --flag=value | --switch]`, flags anywhere, `--` ends the
 * flags (for keys that start with '-'). Configuration comes from flags,
 * then EDGEKV_*, then wrangler's CLOUDFLARE_* variables, so a shell set up
 * for wrangler works unchanged. HTTPS is always verified (certificate chain
 * and host name): --cacert / EDGEKV_CACERT choose the CA certificates to
 * trust, nothing turns the verification off.
 */
#include <errno.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_int.h"
#include "kv_mem.h"

#define EXIT_TEXT "exit status: 0 ok, 1 API error, 2 usage, 3 not found, 4 auth, 5 connection\n"

typedef struct {
    const char *name, *alias;
    unsigned bit;
    bool has_value;
    size_t off; /* offset of the const char * field in cli_t (valued flags) */
} cli_flag_t;

#define VAL(name_, alias_, bit_, field_)                                                           \
    {                                                                                              \
        name_, alias_, bit_, true, offsetof(cli_t, field_)                                         \
    }
#define SW(name_, alias_, bit_)                                                                    \
    {                                                                                              \
        name_, alias_, bit_, false, 0                                                              \
    }
static const cli_flag_t flags[] = {
    VAL("--url", NULL, CLI_F_URL, url),
    VAL("--token", NULL, CLI_F_TOKEN, token),
    VAL("--account", NULL, CLI_F_ACCOUNT, account),
    VAL("--cacert", NULL, CLI_F_CACERT, cacert),
    SW("--json", NULL, CLI_F_JSON),
    SW("--progress", NULL, CLI_F_PROGRESS),
    SW("--help", "-h", CLI_F_HELP),
    VAL("--namespace-id", NULL, CLI_F_NS_ID, ns_id),
    VAL("--prefix", NULL, CLI_F_PREFIX, prefix),
    VAL("--ttl", NULL, CLI_F_TTL, ttl),
    VAL("--expiration", NULL, CLI_F_EXPIRATION, expiration),
    VAL("--metadata", NULL, CLI_F_METADATA, metadata),
    VAL("--path", NULL, CLI_F_PATH, path),
    VAL("--new-name", NULL, CLI_F_NEW_NAME, new_name),
    SW("--force", "-f", CLI_F_FORCE),
    SW("--skip-confirmation", "-y", CLI_F_YES),
    SW("--remote", NULL, CLI_F_REMOTE),
    SW("--all", NULL, CLI_F_ALL),
    VAL("--out", "-o", CLI_F_OUT, out),
    SW("--resume", NULL, CLI_F_RESUME),
    SW("--by-title", NULL, CLI_F_BY_TITLE),
};
#undef VAL
#undef SW

/* A command of one word ("export") has the name "". */
typedef struct {
    const char *group, *name;
    int (*fn)(cli_t *c);
    unsigned flags; /* accepted besides CLI_F_COMMON */
    int min_pos, max_pos;
    const char *args;    /* positional synopsis */
    const char *summary; /* one line for the command list */
    const char *help;    /* what it does, then its options */
} cli_cmd_t;

static const cli_cmd_t cmds[] = {
    {"namespace", "create", cli_ns_create, 0, 1, 1, "<title>", "create a namespace",
     "Create a namespace. Prints its id (with --json, the namespace object).\n"},
    {"namespace", "list", cli_ns_list, 0, 0, 0, "", "list namespaces",
     "List every namespace of the account, sorted by title: one \"<id>  <title>\" line\n"
     "each (with --json, a JSON array of {id, title, supports_url_encoding}).\n"},
    {"namespace", "rename", cli_ns_rename, CLI_F_NS_ID | CLI_F_NEW_NAME, 0, 1, "[<old-title>]",
     "rename a namespace",
     "Rename a namespace, named by its current title or by --namespace-id.\n\n"
     "  --new-name NAME      the new title (required)\n"
     "  --namespace-id ID    the namespace to rename, instead of <old-title>\n"},
    {"namespace", "delete", cli_ns_delete, CLI_F_NS_ID | CLI_F_YES, 0, 1, "[<title>]",
     "delete a namespace and its keys",
     "Delete a namespace and every key in it, named by title or by --namespace-id.\n"
     "There is no confirmation prompt; -y/--skip-confirmation is accepted for\n"
     "wrangler compatibility.\n\n"
     "  --namespace-id ID    the namespace to delete, instead of <title>\n"},
    {"key", "put", cli_key_put,
     CLI_F_NS_ID | CLI_F_TTL | CLI_F_EXPIRATION | CLI_F_METADATA | CLI_F_PATH, 1, 2,
     "<key> [<value>]", "write a value (--path, --ttl, --expiration, --metadata)",
     "Write one value: <value> as given, or the bytes of --path FILE (\"-\" reads\n"
     "stdin). With --metadata the value is sent as multipart/form-data.\n\n"
     "  --namespace-id ID    the namespace (required)\n"
     "  --path FILE          read the value from FILE instead of <value>\n"
     "  --ttl SECONDS        expire this many seconds from now (at least 60)\n"
     "  --expiration EPOCH   expire at this UNIX time in seconds\n"
     "  --metadata JSON      a JSON object stored with the key (at most 1024 bytes)\n"},
    {"key", "get", cli_key_get, CLI_F_NS_ID, 1, 1, "<key>", "print a value",
     "Print one value to stdout, byte for byte. With --json, prints\n"
     "{key, value, metadata, expiration?}; a value that is not UTF-8 is given in\n"
     "base64 with \"base64\": true.\n\n"
     "  --namespace-id ID    the namespace (required)\n"},
    {"key", "list", cli_key_list, CLI_F_NS_ID | CLI_F_PREFIX, 0, 0, "", "list keys (--prefix)",
     "List keys in byte order, following cursors to the end: one name per line\n"
     "(with --json, wrangler's array of {name, expiration?, metadata?}).\n\n"
     "  --namespace-id ID    the namespace (required)\n"
     "  --prefix PREFIX      only keys that start with PREFIX\n"},
    {"key", "delete", cli_key_delete, CLI_F_NS_ID, 1, 1, "<key>", "delete a key",
     "Delete one key. Deleting a key that does not exist succeeds.\n\n"
     "  --namespace-id ID    the namespace (required)\n"},
    {"bulk", "put", cli_bulk_put, CLI_F_NS_ID, 1, 1, "<file>", "write the pairs of a JSON file",
     "Write the pairs of a JSON file (\"-\" reads stdin), in requests of 1000:\n"
     "  [{\"key\": \"k\", \"value\": \"v\", \"expiration\"?: EPOCH, \"expiration_ttl\"?: SECONDS,\n"
     "    \"metadata\"?: {...}, \"base64\"?: true}, ...]\n"
     "A progress bar goes to stderr when it is a terminal (or with --progress).\n\n"
     "  --namespace-id ID    the namespace (required)\n"},
    {"bulk", "get", cli_bulk_get, CLI_F_NS_ID, 1, 1, "<file>", "read the keys named in a JSON file",
     "Read the keys named in a JSON file (\"-\" reads stdin), an array of strings or\n"
     "of {\"name\": \"k\"} objects, in requests of 100 (the API's limit), and print\n"
     "one JSON object {key: value or null}. Values must be text.\n\n"
     "  --namespace-id ID    the namespace (required)\n"},
    {"bulk", "delete", cli_bulk_delete, CLI_F_NS_ID | CLI_F_FORCE, 1, 1, "<file>",
     "delete the keys named in a JSON file",
     "Delete the keys named in a JSON file (\"-\" reads stdin), an array of strings\n"
     "or of {\"name\": \"k\"} objects, in requests of 1000. There is no confirmation\n"
     "prompt; -f/--force is accepted for wrangler compatibility.\n\n"
     "  --namespace-id ID    the namespace (required)\n"},
    {"export", "", cli_kv_export, CLI_F_NS_ID | CLI_F_ALL | CLI_F_OUT | CLI_F_RESUME, 0, 0, "",
     "every key of a namespace (or --all) as JSON lines",
     "Write every key of a namespace (or of all of them) as JSON lines, one object\n"
     "per key, through the REST API only (it reads Cloudflare too):\n"
     "  {\"namespace_id\": ID, \"namespace_title\": TITLE, \"key\": K,\n"
     "   \"value\": TEXT | \"value_base64\": BASE64, \"metadata\"?: JSON, \"expiration\"?: EPOCH}\n"
     "\"value\" holds a value that is UTF-8 text, \"value_base64\" any other. Keys are\n"
     "listed a page at a time and read in bulk gets of 100 (values that are not text\n"
     "one by one). With --out, progress is saved to FILE.state after each page.\n"
     "The summary and a progress line (on a terminal, or --progress) go to stderr.\n\n"
     "  --namespace-id ID    the namespace to export\n"
     "  --all                every namespace of the account instead\n"
     "  -o, --out FILE       write to FILE (default stdout); an existing FILE is refused\n"
     "  --resume             continue an interrupted export into FILE from FILE.state\n"},
    {"import", "", cli_kv_import, CLI_F_NS_ID | CLI_F_BY_TITLE | CLI_F_RESUME, 1, 1, "<file>",
     "write the JSON lines of an export",
     "Write the JSON lines of `edgekv kv export` (\"-\" reads stdin) with bulk puts of\n"
     "at most 1000 keys and 100 MB, keeping metadata and expiration. Records that\n"
     "have expired (or expire within 70 s, sooner than the API accepts) are skipped\n"
     "and counted. The file is checked whole first: a bad line changes nothing.\n"
     "Progress is saved to FILE.import-state after each batch.\n\n"
     "  --namespace-id ID    write every record into this namespace\n"
     "  --by-title           write each record into the namespace with its\n"
     "                       namespace_title, creating the missing ones\n"
     "  --resume             continue an interrupted import from FILE.import-state\n"},
};
#define NCMDS (sizeof cmds / sizeof cmds[0])

static const char *common_help =
    "connection (flag, else environment):\n"
    "  --url URL        EDGEKV_URL, else CLOUDFLARE_API_BASE_URL (default " CLI_DEFAULT_URL ")\n"
    "                   the node's address; \"/client/v4\" is added if missing\n"
    "  --token TOKEN    EDGEKV_TOKEN, else CLOUDFLARE_API_TOKEN\n"
    "  --account ID     EDGEKV_ACCOUNT, else CLOUDFLARE_ACCOUNT_ID\n"
    "  --cacert FILE    EDGEKV_CACERT: trust the CA certificates in FILE (PEM) instead of\n"
    "                   the system's for an https:// URL, e.g. the cluster's ca.crt; the\n"
    "                   server's certificate and host name are always verified\n"
    "output:\n"
    "  --json           JSON results on stdout\n"
    "  --progress       progress on stderr for bulk, export and import, even if not a terminal\n"
    "  -h, --help       help for any command\n"
    "  --remote         accepted and ignored (wrangler compatibility)\n";

void cli_usage_error(const char *fmt, ...)
{
    va_list ap;
    fputs("edgekv kv: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputs(" (see edgekv kv --help)\n", stderr);
}

static void help_top(FILE *f)
{
    size_t i;
    fprintf(f, "usage: edgekv kv <namespace|key|bulk> <command> [args] [options]\n"
               "       edgekv kv <export|import> [args] [options]\n\n"
               "Manage Workers KV data on an edgekv node over the Cloudflare REST API v4,\n"
               "the way `wrangler kv` does, without Node.js.\n\ncommands:\n");
    for (i = 0; i < NCMDS; i++) {
        char syn[64];
        snprintf(syn, sizeof syn, "%s%s%s %s", cmds[i].group, cmds[i].name[0] ? " " : "",
                 cmds[i].name, cmds[i].args);
        fprintf(f, "  %-30s %s\n", syn, cmds[i].summary);
    }
    fprintf(f,
            "\n%s\n%s"
            "  0  success\n"
            "  1  the API answered with an error (its message is printed)\n"
            "  2  usage error (bad arguments, unreadable or malformed input file)\n"
            "  3  not found (namespace or key)\n"
            "  4  authentication or permission failure (HTTP 401/403)\n"
            "  5  cannot connect to the server (or its TLS certificate did not verify),\n"
            "     or the connection broke\n\n"
            "`edgekv kv <group> <command> --help` describes a command.\n",
            common_help, "exit status:\n");
}

static void help_group(FILE *f, const char *group)
{
    size_t i;
    fprintf(f, "usage: edgekv kv %s <command> [args] [options]\n\ncommands:\n", group);
    for (i = 0; i < NCMDS; i++)
        if (strcmp(cmds[i].group, group) == 0)
            fprintf(f, "  edgekv kv %s %s%s%s\n", group, cmds[i].name, cmds[i].args[0] ? " " : "",
                    cmds[i].args);
    fprintf(f, "\n`edgekv kv %s <command> --help` describes a command.\n\n" EXIT_TEXT, group);
}

static void help_cmd(const cli_cmd_t *k)
{
    printf("usage: edgekv kv %s%s%s %s%s[options]\n\n%s\n%s\n" EXIT_TEXT, k->group,
           k->name[0] ? " " : "", k->name, k->args, k->args[0] ? " " : "", k->help, common_help);
}

static const cli_flag_t *find_flag(const char *arg, size_t len)
{
    size_t i;
    for (i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        const cli_flag_t *f = &flags[i];
        if ((strlen(f->name) == len && strncmp(f->name, arg, len) == 0) ||
            (f->alias && strlen(f->alias) == len && strncmp(f->alias, arg, len) == 0))
            return f;
    }
    return NULL;
}

/* Splits argv into flags (into c) and words (group, command, positionals). */
static int parse_args(int argc, char **argv, cli_t *c, const char **words, int *nwords, int cap)
{
    bool flags_done = false;
    int i;
    *nwords = 0;
    for (i = 0; i < argc; i++) {
        const char *a = argv[i], *eq;
        const cli_flag_t *f;
        if (flags_done || a[0] != '-' || a[1] == '\0') {
            if (*nwords == cap)
                return cli_usage_error("too many arguments ('%s')", a), CLI_EXIT_USAGE;
            words[(*nwords)++] = a;
            continue;
        }
        if (strcmp(a, "--") == 0) {
            flags_done = true;
            continue;
        }
        eq = strchr(a, '=');
        f = find_flag(a, eq ? (size_t)(eq - a) : strlen(a));
        if (!f)
            return cli_usage_error("unknown option '%s'", a), CLI_EXIT_USAGE;
        c->flags_seen |= f->bit;
        if (!f->has_value) {
            if (eq)
                return cli_usage_error("option '%s' takes no value", f->name), CLI_EXIT_USAGE;
            c->json |= f->bit == CLI_F_JSON;
            c->progress |= f->bit == CLI_F_PROGRESS;
            c->all |= f->bit == CLI_F_ALL;
            c->resume |= f->bit == CLI_F_RESUME;
            c->by_title |= f->bit == CLI_F_BY_TITLE;
            continue;
        }
        if (!eq && i + 1 >= argc)
            return cli_usage_error("option '%s' needs a value", f->name), CLI_EXIT_USAGE;
        *(const char **)((char *)c + f->off) = eq ? eq + 1 : argv[++i];
    }
    return 0;
}

static const char *env_first(const char *a, const char *b)
{
    const char *v = getenv(a);
    if (v && *v)
        return v;
    v = getenv(b);
    return v && *v ? v : NULL;
}

/* Flags, else EDGEKV_*, else CLOUDFLARE_*; then the request base URL. */
static int resolve_config(cli_t *c)
{
    const char *url;
    size_t n;
    char *acct;
    if (!c->url)
        c->url = env_first("EDGEKV_URL", "CLOUDFLARE_API_BASE_URL");
    if (!c->token)
        c->token = env_first("EDGEKV_TOKEN", "CLOUDFLARE_API_TOKEN");
    if (!c->account)
        c->account = env_first("EDGEKV_ACCOUNT", "CLOUDFLARE_ACCOUNT_ID");
    if (!c->cacert && getenv("EDGEKV_CACERT") && *getenv("EDGEKV_CACERT"))
        c->cacert = getenv("EDGEKV_CACERT");
    url = c->url ? c->url : CLI_DEFAULT_URL;
    if (!c->token)
        return cli_usage_error("no API token: pass --token or set EDGEKV_TOKEN"), CLI_EXIT_USAGE;
    if (!c->account)
        return cli_usage_error("no account id: pass --account or set EDGEKV_ACCOUNT"),
               CLI_EXIT_USAGE;
    if (strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0)
        return cli_usage_error("--url must start with http:// or https:// (got '%s')", url),
               CLI_EXIT_USAGE;
    /* An unreadable CA file is the user's mistake, told before any request
     * (libcurl would report it as a failed connection). */
    if (c->cacert && access(c->cacert, R_OK) != 0)
        return cli_usage_error("cannot read the CA file '%s' (--cacert, EDGEKV_CACERT): %s",
                               c->cacert, strerror(errno)),
               CLI_EXIT_USAGE;
    n = strlen(url);
    while (n > 0 && url[n - 1] == '/')
        n--;
    acct = cli_pct(c->account, strlen(c->account));
    if (!acct)
        return CLI_EXIT_API;
    bool has_v4 = n >= 10 && strncmp(url + n - 10, "/client/v4", 10) == 0;
    c->base = cli_fmt("%.*s%s/accounts/%s/storage/kv/namespaces", (int)n, url,
                      has_v4 ? "" : "/client/v4", acct);
    c->auth_hdr = cli_fmt("Authorization: Bearer %s", c->token);
    kv_free(acct);
    if (!c->base || !c->auth_hdr) {
        fputs("edgekv kv: out of memory\n", stderr);
        return CLI_EXIT_API;
    }
    return 0;
}

static const cli_cmd_t *find_cmd(const char *group, const char *name, bool *group_ok)
{
    size_t i;
    *group_ok = false;
    for (i = 0; i < NCMDS; i++) {
        if (strcmp(cmds[i].group, group) != 0)
            continue;
        *group_ok = true;
        if (!cmds[i].name[0] || (name && strcmp(cmds[i].name, name) == 0))
            return &cmds[i];
    }
    return NULL;
}

/* The first flag given that the command does not accept, or NULL. */
static const char *stray_flag(const cli_t *c, const cli_cmd_t *k)
{
    size_t i;
    unsigned bad = c->flags_seen & ~(k->flags | CLI_F_COMMON);
    for (i = 0; bad && i < sizeof flags / sizeof flags[0]; i++)
        if (bad & flags[i].bit)
            return flags[i].name;
    return NULL;
}

static int run(cli_t *c, const cli_cmd_t *k)
{
    int rc = resolve_config(c);
    if (rc == 0)
        rc = cli_http_init(c);
    if (rc == 0)
        rc = k->fn(c);
    cli_http_fini(c);
    kv_free(c->base);
    kv_free(c->auth_hdr);
    return rc;
}

int cli_main(int argc, char **argv)
{
    cli_t c = {0};
    const char *words[2 + CLI_MAX_POSITIONAL];
    const cli_cmd_t *k;
    int nwords, rc, i;
    bool group_ok;

    if (argc > 0 && strcmp(argv[0], "kv") == 0)
        argc--, argv++;
    rc = parse_args(argc, argv, &c, words, &nwords, (int)(sizeof words / sizeof words[0]));
    if (rc != 0)
        return rc;
    if (nwords == 0 || strcmp(words[0], "help") == 0) {
        help_top(nwords == 0 && !(c.flags_seen & CLI_F_HELP) ? stderr : stdout);
        return nwords == 0 && !(c.flags_seen & CLI_F_HELP) ? CLI_EXIT_USAGE : CLI_EXIT_OK;
    }
    k = find_cmd(words[0], nwords > 1 ? words[1] : NULL, &group_ok);
    if (!group_ok)
        return cli_usage_error("unknown command '%s'", words[0]), CLI_EXIT_USAGE;
    if (!k) {
        if (nwords > 1)
            return cli_usage_error("unknown command '%s %s'", words[0], words[1]), CLI_EXIT_USAGE;
        help_group(c.flags_seen & CLI_F_HELP ? stdout : stderr, words[0]);
        return c.flags_seen & CLI_F_HELP ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    if (c.flags_seen & CLI_F_HELP) {
        help_cmd(k);
        return CLI_EXIT_OK;
    }
    int nwords_cmd = k->name[0] ? 2 : 1; /* "export" is one word, "key put" two */
    const char *sp = k->name[0] ? " " : "";
    if (stray_flag(&c, k))
        return cli_usage_error("'%s%s%s' does not take %s", k->group, sp, k->name,
                               stray_flag(&c, k)),
               CLI_EXIT_USAGE;
    c.npos = nwords - nwords_cmd;
    if (c.npos < k->min_pos || c.npos > k->max_pos)
        return cli_usage_error("usage: edgekv kv %s%s%s %s", k->group, sp, k->name, k->args),
               CLI_EXIT_USAGE;
    for (i = 0; i < c.npos; i++)
        c.pos[i] = words[i + nwords_cmd];
    return run(&c, k);
}
