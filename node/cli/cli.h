/*
 * cli.h - `edgekv kv`: the Workers KV command line for people who do not
 * run Node.js. Same shape as `wrangler kv` (namespace / key / bulk), same
 * JSON file formats, talking the Cloudflare REST API v4 to an edgekv node
 * (or to anything that speaks that API) over libcurl.
 *
 * It is a client only: it never opens the data directory, and it links
 * nothing of the server but kv_base.
 */
#ifndef NODE_CLI_H
#define NODE_CLI_H

/* Exit statuses, documented in `edgekv kv --help`. */
#define CLI_EXIT_OK        0 /* success */
#define CLI_EXIT_API       1 /* the API answered with an error */
#define CLI_EXIT_USAGE     2 /* bad arguments or a malformed input file */
#define CLI_EXIT_NOT_FOUND 3 /* namespace or key not found (404) */
#define CLI_EXIT_AUTH      4 /* authentication or permission failure (401/403) */
#define CLI_EXIT_CONN      5 /* cannot connect, or the connection broke */

/* `edgekv kv ...`: argv[0] is the word after "kv" (main.c calls
 * cli_main(argc - 2, argv + 2)); a leading "kv" is skipped too, so
 * cli_main(argc - 1, argv + 1) works as well. Reads the environment
 * (EDGEKV_URL / EDGEKV_TOKEN / EDGEKV_ACCOUNT, then CLOUDFLARE_API_BASE_URL /
 * CLOUDFLARE_API_TOKEN / CLOUDFLARE_ACCOUNT_ID), writes results to stdout
 * and messages to stderr. Returns one of the CLI_EXIT_* statuses. */
int cli_main(int argc, char **argv);

#endif
