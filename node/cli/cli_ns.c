/*
 * cli_ns.c - `edgekv kv namespace create|list|rename|delete`.
 *
 * Like wrangler, rename and delete take the namespace by title (resolved
 * with a full listing) or by --namespace-id; the key and bulk commands take
 * only --namespace-id.
 */
#include <stdio.h>
#include <string.h>

#include "cli_int.h"
#include "kv_limits.h"
#include "kv_mem.h"

/* A server that never answers an empty page cannot make `list` loop for
 * ever: an account holds at most KV_NS_PER_ACCOUNT_MAX namespaces. */
#define NS_LIST_MAX_PAGES (KV_NS_PER_ACCOUNT_MAX / KV_NS_PAGE_MAX + 2)
/* Room for a namespace id: edgekv's are 32 hex, other servers' may be longer. */
#define NS_ID_CAP 128

static const char *str_of(json_t *o, const char *field)
{
    const char *s = json_string_value(json_object_get(o, field));
    return s ? s : "";
}

int cli_need_ns(cli_t *c)
{
    if (!c->ns_id || !c->ns_id[0]) {
        cli_usage_error("--namespace-id is required");
        return CLI_EXIT_USAGE;
    }
    return 0;
}

int cli__ns_list_all(cli_t *c, json_t **out)
{
    json_t *all = json_array();
    int page, rc = 0;
    if (!all)
        return CLI_EXIT_API;
    for (page = 1; page <= NS_LIST_MAX_PAGES; page++) {
        json_t *doc, *res;
        char path[96];
        snprintf(path, sizeof path, "?per_page=%d&order=title&direction=asc&page=%d",
                 KV_NS_PAGE_MAX, page);
        cli_req_t rq = {.method = "GET", .path = path};
        rc = cli_call(c, &rq, &doc, &res, NULL);
        if (rc != 0)
            break;
        size_t n = json_array_size(res);
        json_array_extend(all, res);
        json_decref(doc);
        if (n < KV_NS_PAGE_MAX)
            break;
    }
    if (rc != 0) {
        json_decref(all);
        return rc;
    }
    *out = all;
    return 0;
}

/* The id of the namespace titled `title`, copied into id (cap bytes). */
static int resolve_title(cli_t *c, const char *title, char *id, size_t cap)
{
    json_t *all, *ns;
    size_t i;
    int rc = cli__ns_list_all(c, &all);
    if (rc != 0)
        return rc;
    rc = CLI_EXIT_NOT_FOUND;
    json_array_foreach(all, i, ns)
    {
        const char *t = json_string_value(json_object_get(ns, "title"));
        const char *nid = json_string_value(json_object_get(ns, "id"));
        if (t && nid && strcmp(t, title) == 0 && strlen(nid) < cap) {
            strcpy(id, nid);
            rc = 0;
            break;
        }
    }
    json_decref(all);
    if (rc != 0)
        fprintf(stderr, "edgekv kv: no namespace titled \"%s\"\n", title);
    return rc;
}

/* The namespace of rename/delete: --namespace-id, or a title positional. */
static int target_ns(cli_t *c, char *id, size_t cap)
{
    if ((c->ns_id != NULL) == (c->npos == 1)) {
        cli_usage_error("name the namespace by title or by --namespace-id (one of them)");
        return CLI_EXIT_USAGE;
    }
    if (c->ns_id) {
        if (strlen(c->ns_id) >= cap || !c->ns_id[0]) {
            cli_usage_error("bad --namespace-id '%s'", c->ns_id);
            return CLI_EXIT_USAGE;
        }
        strcpy(id, c->ns_id);
        return 0;
    }
    return resolve_title(c, c->pos[0], id, cap);
}

/* "/<escaped id>", kv_malloc'd. */
static char *ns_path(const char *id)
{
    char *e = cli_pct(id, strlen(id)), *p = e ? cli_fmt("/%s", e) : NULL;
    kv_free(e);
    return p;
}

static int send_title(cli_t *c, const char *method, const char *path, const char *title,
                      json_t **doc, json_t **res)
{
    json_t *body = json_pack("{s:s}", "title", title);
    char *text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    int rc = CLI_EXIT_API;
    if (text) {
        cli_req_t rq = {.method = method,
                        .path = path,
                        .content_type = "application/json",
                        .body = text,
                        .body_len = strlen(text)};
        rc = cli_call(c, &rq, doc, res, NULL);
    } else {
        fputs("edgekv kv: the title is not valid UTF-8\n", stderr);
        rc = CLI_EXIT_USAGE;
    }
    free(text);
    json_decref(body);
    return rc;
}

int cli_ns_create(cli_t *c)
{
    json_t *doc, *res;
    int rc = send_title(c, "POST", "", c->pos[0], &doc, &res);
    if (rc != 0)
        return rc;
    if (c->json)
        cli_print_json(res);
    else
        printf("%s\n", str_of(res, "id"));
    json_decref(doc);
    return 0;
}

int cli__ns_create(cli_t *c, const char *title, char **id)
{
    json_t *doc, *res;
    const char *s;
    int rc = send_title(c, "POST", "", title, &doc, &res);
    if (rc != 0)
        return rc;
    s = str_of(res, "id");
    *id = s[0] ? kv_strndup(s, strlen(s)) : NULL;
    json_decref(doc);
    if (!*id) {
        fputs("edgekv kv: the server did not return the new namespace's id\n", stderr);
        return CLI_EXIT_API;
    }
    return 0;
}

int cli_ns_list(cli_t *c)
{
    json_t *all, *ns;
    size_t i;
    int rc = cli__ns_list_all(c, &all);
    if (rc != 0)
        return rc;
    if (c->json) {
        cli_print_json(all);
    } else {
        json_array_foreach(all, i, ns)
        {
            printf("%s  %s\n", str_of(ns, "id"), str_of(ns, "title"));
        }
    }
    json_decref(all);
    return 0;
}

int cli_ns_rename(cli_t *c)
{
    char id[NS_ID_CAP], *path;
    json_t *doc, *res;
    int rc;
    if (!c->new_name) {
        cli_usage_error("--new-name is required");
        return CLI_EXIT_USAGE;
    }
    rc = target_ns(c, id, sizeof id);
    if (rc != 0)
        return rc;
    if (!(path = ns_path(id)))
        return CLI_EXIT_API;
    rc = send_title(c, "PUT", path, c->new_name, &doc, &res);
    kv_free(path);
    if (rc != 0)
        return rc;
    if (c->json)
        cli_print_json(res);
    else
        printf("Renamed namespace %s to \"%s\"\n", id, c->new_name);
    json_decref(doc);
    return 0;
}

int cli_ns_delete(cli_t *c)
{
    char id[NS_ID_CAP], *path;
    json_t *doc, *res;
    int rc = target_ns(c, id, sizeof id);
    if (rc != 0)
        return rc;
    if (!(path = ns_path(id)))
        return CLI_EXIT_API;
    cli_req_t rq = {.method = "DELETE", .path = path};
    rc = cli_call(c, &rq, &doc, &res, NULL);
    kv_free(path);
    if (rc != 0)
        return rc;
    json_decref(doc);
    if (c->json) {
        json_t *o = json_pack("{s:s, s:b}", "id", id, "deleted", 1);
        cli_print_json(o);
        json_decref(o);
    } else {
        printf("Deleted namespace %s\n", id);
    }
    return 0;
}
