/*
 * certs_cli.h - `edgekv certs`: the command line over node/tls/certs.h.
 */
#ifndef NODE_CERTS_CLI_H
#define NODE_CERTS_CLI_H

/* `edgekv certs ...`: argv[0] is the word after "certs" (main.c calls
 * certs_main(argc - 2, argv + 2)).
 *   init  --dir D [--edges N] [--days N] [--host H]...
 *         CA (kept if present) + "origin" + "edge1".."edgeN" (kept if present)
 *   issue --dir D --role origin|edge --name NAME [--days N] [--host H]...
 *   api   --dir D --name NAME [--days N] [--host H]...   (an HTTPS API certificate)
 *   --help
 * Returns the process exit status: 0, 1 (failure), 2 (usage). */
int certs_main(int argc, char **argv);

#endif
