/*
 * ha_cli.h - `edgekv ha`: see and try origin leadership in etcd.
 *
 *   edgekv ha status   --etcd URL[,URL...] --cluster NAME
 *       the leader, its term and its lease's TTL, as one line of JSON
 *   edgekv ha campaign --etcd URL[,URL...] --cluster NAME --name NAME
 *                      --address HOST:PORT [--ha-lease-ms MS] [--ha-poll-ms MS]
 *                      [--act-ms MS]
 *       a bare candidate that prints its transitions until SIGTERM/SIGINT,
 *       then steps down (revokes its lease) and exits 0
 */
#ifndef HA_CLI_H
#define HA_CLI_H

/* argv[0] is the subcommand ("status", "campaign"). Exit status: 0, 1 (etcd
 * unreachable, or a failure), 2 (usage). */
int ha_cli_main(int argc, char **argv);

#endif
