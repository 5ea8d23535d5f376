/*
 * dev.h - `edgekv dev`: a whole local cluster with one command.
 *
 * Starts one origin and N edges as separate edgekv processes on loopback,
 * with mutual TLS between them. On the first run it creates the cluster CA
 * and node certificates, an account id and an API token under the cluster
 * directory; later runs reuse them (and the data). It prints the endpoints
 * and writes an env file that points wrangler and the Cloudflare SDK at the
 * first edge. Ctrl-C (or SIGTERM) stops every process cleanly. With --https
 * every node also serves its API over HTTPS with one API certificate of the
 * cluster CA (`certs api`, for localhost and 127.0.0.1), and the env files
 * name the CA and the HTTPS URLs.
 */
#ifndef NODE_DEV_H
#define NODE_DEV_H

/* argv[0] is the first option after "dev". Returns the exit status. */
int dev_main(int argc, char **argv);

#endif
