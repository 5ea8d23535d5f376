/*
 * kv_limits.h - every limit edgekv enforces, in one place.
 *
 * The Workers KV limits come from KV-SPEC (the behavioural contract); the
 * server limits protect the node from slow, huge or hostile clients. Each is
 * a named constant with the reason it has the value it has, and the
 * relations between them are checked at compile time. No other file may
 * hard-code any of these numbers.
 */
#ifndef KV_LIMITS_H
#define KV_LIMITS_H

/* ---- Workers KV data limits (KV-SPEC "Limits table") ---------------------- */

/* Key names: 512 bytes of UTF-8. */
#define KV_KEY_MAX_BYTES 512
/* Serialised metadata JSON: 1024 bytes. */
#define KV_METADATA_MAX_BYTES 1024
/* Values: 25 MiB (26 214 400 B, the constant Miniflare and production use). */
#define KV_VALUE_MAX_BYTES (25u * 1024u * 1024u)
/* Minimum expiration_ttl, and minimum lead of an absolute expiration. */
#define KV_EXPIRATION_MIN_TTL_S 60
/* Minimum cacheTtl accepted by get (lowered from 60 to 30 on 2026-01-30). */
#define KV_CACHE_TTL_MIN_S 30
/* Binding list: default and maximum page size. */
#define KV_LIST_MAX_KEYS 1000
/* REST list: `limit` must be in [10, 1000]. */
#define KV_REST_LIST_MIN_KEYS 10
/* Multi-key get: 1..100 keys, response at most 25 MiB. */
#define KV_BULK_GET_MAX_KEYS           100
#define KV_BULK_GET_MAX_RESPONSE_BYTES KV_VALUE_MAX_BYTES
/* REST bulk write / delete: at most 10 000 items per request. */
#define KV_BULK_WRITE_MAX_ITEMS 10000
/* REST bulk body: 100 MB (the gateway refuses larger with a bare 413). */
#define KV_BULK_BODY_MAX_BYTES (100u * 1000u * 1000u)
/* Namespaces: 32-hex ids, titles up to 512 bytes, 1000 per account. */
#define KV_NS_ID_LEN          32
#define KV_NS_TITLE_MAX_BYTES 512
#define KV_NS_PER_ACCOUNT_MAX 1000
/* REST namespace list page size: default 20, maximum 1000 (wrangler asks 1000). */
#define KV_NS_PAGE_DEFAULT 20
#define KV_NS_PAGE_MAX     1000
/* Account ids: wrangler accepts [A-Za-z0-9_-]; production ids are 32 hex. */
#define KV_ACCOUNT_ID_MAX_BYTES 64
/* API tokens: long enough for 32 random bytes in hex. */
#define KV_TOKEN_MAX_BYTES 128
/* Live API tokens an account may create through the REST API (revoked ones
 * do not count; tokens of the node's configuration are not records). */
#define KV_TOKENS_PER_ACCOUNT_MAX 1000
/* A token's name (POST .../tokens {"name"}): 1 to 128 characters. */
#define KV_TOKEN_NAME_MAX_CHARS 128
/* Writes to one key: 1 per second (KV-SPEC gotcha 10). */
#define KV_KEY_WRITE_INTERVAL_MS 1000

/* ---- storage ---------------------------------------------------------------- */

/* A list page scans at most this many stored entries (live, expired or
 * deleted) before it returns, so a run of tombstones cannot make one request
 * unbounded; the page may then hold fewer keys with list_complete false,
 * exactly as Workers KV documents. */
#define KV_LIST_SCAN_MAX 10000
/* Values at least this large go to RocksDB blob files, not the LSM tree. */
#define KV_BLOB_MIN_BYTES (4u * 1024u)

/* ---- HTTP server ------------------------------------------------------------ */

/* Request line plus headers; more gives 431. 16 KiB holds any real client. */
#define KV_HTTP_HEADER_MAX_BYTES (16u * 1024u)
/* Header count; more gives 431. */
#define KV_HTTP_HEADER_MAX_COUNT 64
/* Request target length; longer gives 414. A 512-byte key percent-encoded is
 * at most 1536 bytes, plus the REST prefix and query. */
#define KV_HTTP_URL_MAX_BYTES 4096
/* Largest body any route accepts (REST bulk); others have smaller caps. */
#define KV_HTTP_BODY_MAX_BYTES KV_BULK_BODY_MAX_BYTES
/* Body cap of a single-value write: the value plus multipart framing and a
 * metadata part. */
#define KV_HTTP_VALUE_BODY_MAX_BYTES (KV_VALUE_MAX_BYTES + 64u * 1024u)
/* Body cap of every other route (namespace JSON, bulk get). */
#define KV_HTTP_SMALL_BODY_MAX_BYTES (1u * 1024u * 1024u)
/* A keep-alive connection with no request in progress is closed after this. */
#define KV_HTTP_IDLE_TIMEOUT_MS 60000
/* A request must arrive in full (headers, then each body chunk) with gaps no
 * longer than this, else 408. It restarts on every byte: the total bounds
 * are KV_HTTP_HEAD_TIMEOUT_MS and the body rate below. */
#define KV_HTTP_READ_TIMEOUT_MS 15000
/* Concurrent connections per process; further accepts are closed at once. */
#define KV_HTTP_MAX_CONNECTIONS 10000
/* Requests parsed from one read before yielding to other connections. */
#define KV_HTTP_PIPELINE_MAX_PER_READ 32
/* Read buffer per connection (bodies go to their own buffer). */
#define KV_HTTP_READ_BUF_BYTES (64u * 1024u)
/* On SIGTERM in-flight requests get this long to finish. */
#define KV_SHUTDOWN_GRACE_MS 10000
/* Event loops (threads) serving HTTP. */
#define KV_HTTP_MAX_LOOPS 64

/* ---- HTTP server: abuse bounds (node/http) ---------------------------------- */

/* Unsent answer bytes per connection (copies and borrowed bodies) above which
 * it parses no further request and reads nothing: a client that pipelines and
 * never reads pins at most this plus one answer. */
#define KV_HTTP_CONN_OUTPUT_MAX_BYTES (1u * 1024u * 1024u)
/* Parsing and reading resume once the unsent bytes fell to this. */
#define KV_HTTP_CONN_OUTPUT_LOW_BYTES (256u * 1024u)
/* A request's head must arrive whole within this from its first byte, however
 * often bytes trickle in, else 408: the read timer alone restarts per byte. */
#define KV_HTTP_HEAD_TIMEOUT_MS 10000
/* A body gets this long from the end of its head before the rate counts ... */
#define KV_HTTP_BODY_GRACE_MS 10000
/* ... then must have arrived at this average rate since then, else 408. */
#define KV_HTTP_BODY_MIN_RATE_BYTES_PER_S 4096u
/* Connections open from one peer address; more are closed at once, so one
 * host cannot take the whole KV_HTTP_MAX_CONNECTIONS. */
#define KV_HTTP_CONNS_PER_ADDR_MAX 1000
/* Lingering close after a connection's last answer (Connection: close, FIN
 * sent): input is read and discarded until the client closes, for at most
 * this long and this many bytes, so a client still sending a refused body
 * reads the answer instead of a reset. Bytes: the largest body refused. */
#define KV_HTTP_LINGER_TIMEOUT_MS 30000
#define KV_HTTP_LINGER_MAX_BYTES  (KV_HTTP_BODY_MAX_BYTES + KV_HTTP_HEADER_MAX_BYTES)
/* HTTPS: a TLS handshake must finish this long after the connection was
 * accepted (a client that stalls in it holds a connection slot). */
#define KV_HTTP_TLS_HANDSHAKE_TIMEOUT_MS 10000
/* Ciphertext taken from the socket in one read, per loop (shared by its
 * connections: each read is decrypted before the next). */
#define KV_HTTP_TLS_READ_BYTES (64u * 1024u)
_Static_assert(KV_HTTP_CONN_OUTPUT_LOW_BYTES < KV_HTTP_CONN_OUTPUT_MAX_BYTES, "output hysteresis");
_Static_assert(KV_HTTP_CONNS_PER_ADDR_MAX < KV_HTTP_MAX_CONNECTIONS,
               "one host cannot fill the cap");
_Static_assert(KV_HTTP_HEAD_TIMEOUT_MS <= KV_HTTP_IDLE_TIMEOUT_MS,
               "a head deadline is a real bound");

/* ---- read cache ------------------------------------------------------------- */

#define KV_CACHE_DEFAULT_BYTES (256u * 1024u * 1024u)
/* Values bigger than this are never cached: one would evict thousands of
 * small hot keys. */
#define KV_CACHE_MAX_ENTRY_BYTES (1u * 1024u * 1024u)

/* ---- replication ------------------------------------------------------------ */

/* Largest frame body (after the 4-byte length prefix): one 25 MiB value with
 * its key, metadata and message overhead, with room to spare. A peer that
 * announces more is cut off before anything is allocated. */
#define KV_FRAME_MAX_BYTES (26u * 1024u * 1024u + 64u * 1024u)
/* A frame reader keeps a body buffer up to this size between frames; a
 * larger one (a big value went by) is freed rather than pinned per link. */
#define KV_FRAME_READER_KEEP_BYTES (256u * 1024u)
/* Soft cap on one MutationBatch or SnapshotChunk: small enough to interleave
 * heartbeats and keep per-edge buffers short; a single larger mutation still
 * goes alone in its own batch. */
#define KV_REPL_BATCH_MAX_BYTES (1u * 1024u * 1024u)
/* Mutations per batch frame: bounds the scratch used to encode one. */
#define KV_REPL_BATCH_MAX_MUTS 1024
/* Ops in one write (REST bulk): a write is committed in one group. */
#define KV_REPL_WRITE_MAX_OPS KV_BULK_WRITE_MAX_ITEMS
/* Soft cap on one group commit (PERSIST); a single larger write goes alone. */
#define KV_REPL_GROUP_MAX_BYTES (64u * 1024u * 1024u)
/* Group commits the origin may have in flight at once (a PERSIST is
 * reported back in the order it was emitted). With more than one, the
 * storage worker goes from one group's fsync straight to the next group
 * instead of waiting for the loop to answer the first and form the second. */
#define KV_REPL_GROUPS_IN_FLIGHT_MAX 4
/* Writes queued at the origin behind the groups in flight; beyond either cap
 * new writes are refused with KV_EBUSY rather than queued without bound. */
#define KV_REPL_PENDING_MAX_BYTES (256u * 1024u * 1024u)
#define KV_REPL_PENDING_MAX_OPS   100000
/* Default in-memory tail of recent mutations at the origin: live and
 * briefly-behind edges are served from it without storage reads. */
#define KV_REPL_TAIL_DEFAULT_BYTES (64u * 1024u * 1024u)
#define KV_REPL_TAIL_MAX_MUTS      65536
/* Commit times remembered (one per group) to report per-edge lag in ms. */
#define KV_REPL_COMMIT_INDEX_MAX 4096
/* Connections, and distinct edges remembered, per origin. */
#define KV_REPL_PEERS_MAX 1024
#define KV_REPL_EDGES_MAX 1024
/* A link must finish Hello/Welcome within this long or it is closed. */
#define KV_REPL_HANDSHAKE_TIMEOUT_MS 10000
/* Default: an edge that hears nothing for this long drops the link and
 * reconnects (half-open TCP; the origin heartbeats far more often). */
#define KV_REPL_LINK_TIMEOUT_DEFAULT_MS 15000
/* How long an HA leader's committed write waits for its synchronous
 * standbys' acks before it is answered 503 (repl.h "Synchronous standbys"):
 * half an edge's default wait for the origin's answer (10 s), so the edge
 * hears the 503 rather than timing out itself. */
#define KV_REPL_SYNC_TIMEOUT_DEFAULT_MS 5000
/* Synchronous standbys a leader may wait for: three candidates need at
 * most two; a few more leave room without a sort. */
#define KV_REPL_SYNC_STANDBYS_MAX 8
/* Received but not yet applied at an edge; beyond it the edge closes the
 * link and resumes later instead of buffering without bound. */
#define KV_REPL_APPLY_QUEUE_MAX_BYTES (64u * 1024u * 1024u)
#define KV_REPL_APPLY_QUEUE_MAX_ITEMS 1024
/* Progress acks are coalesced to at most one per this interval while busy,
 * and at an edge (not a relay: a synchronous standby is one) while idle too
 * (repl_edge_config_t.ack_coalesce_idle). */
#define KV_REPL_ACK_INTERVAL_MS 10
/* A streaming edge sends a probe (an ack, with nothing new perhaps) at
 * least this often; the origin echoes the latest in its heartbeats. An
 * edge's caught-up time lags the truth by up to this + the heartbeat
 * interval + the round trip, which its staleness verdict pays for: at the
 * defaults (1 s bound, 200 ms heartbeats) an idle edge is 300 ms + RTT
 * behind at worst, and a probe costs one small frame per edge per interval. */
#define KV_REPL_PROBE_INTERVAL_MS 100
/* Forwarded writes awaiting an answer at one edge, by count and by the
 * bytes of their requests; more get KV_EBUSY. */
#define KV_REPL_EDGE_WRITES_MAX       4096
#define KV_REPL_EDGE_WRITES_MAX_BYTES (256u * 1024u * 1024u)
/* Samples of (announced seq, first seen) an edge keeps to report lag in ms. */
#define KV_REPL_LAG_SAMPLES_MAX 64

/* ---- replication TLS (node/tls/tls.h) ------------------------------------------- */

/* Ciphertext read from the socket per uv_read_cb: one buffer per connection,
 * fully decrypted before the next read, so input per event is bounded. */
#define KV_TLS_READ_BUF_BYTES (64u * 1024u)
/* Plaintext handed to on_data per call: one TLS record at most. */
#define KV_TLS_PLAIN_CHUNK_BYTES (16u * 1024u)
/* Plaintext given to one SSL_write: one full record. */
#define KV_TLS_WRITE_CHUNK_BYTES (16u * 1024u)
/* Ciphertext handed to uv_write and not yet completed. Encryption pauses
 * above it, so a 25 MiB value costs this much extra memory, not 25 MiB. */
#define KV_TLS_CIPHER_INFLIGHT_MAX_BYTES (256u * 1024u)
/* Plaintext queued by tls_conn_write and not yet flushed: two of the largest
 * values plus framing. More is a caller bug (it ignored on_flushed), so the
 * write is refused with KV_ELIMIT instead of growing without bound. */
#define KV_TLS_WRITE_QUEUE_MAX_BYTES (2u * KV_VALUE_MAX_BYTES + 1024u * 1024u)
/* Longest node name (certificate commonName) accepted: a DNS label and then
 * some, and it bounds the name buffer every connection keeps. */
#define KV_TLS_PEER_NAME_MAX 64
/* A TLS handshake must finish within this, or the driver closes the
 * connection: a peer that connects and stalls holds no slot for long. */
#define KV_TLS_HANDSHAKE_TIMEOUT_MS 5000

/* ---- replication port: connections before trust, and edge identity ------------- */

/* Connections an origin holds in the TLS handshake at once. Each costs a TLS
 * connection (its read and plaintext buffers, ~80 KiB) before the peer has
 * proved anything; a newcomer over the cap evicts the oldest of them, so
 * bare connections can neither grow the origin nor keep a real edge out. */
#define KV_REPL_HANDSHAKES_MAX 64
/* Connections from one address (an IPv4 address, an IPv6 /64) at once, in
 * any state. A newcomer over it evicts that address's oldest connection
 * still in the handshake, or is closed at once when it has none. */
#define KV_REPL_CONNS_PER_ADDR_MAX 32
/* A known edge (its certificate name, node id and acknowledged position)
 * not connected and not heard from for this long is forgotten at the next
 * Hello: it then comes back as a new edge (a snapshot if the log no longer
 * reaches back), and the table cannot fill with edges that are gone. */
#define KV_REPL_EDGE_FORGET_MS (7u * 24u * 3600u * 1000u)
/* Fields in one message of a frame an edge sends, a WriteRequest's ops
 * aside (a Hello has 4). protobuf-c allocates per field while decoding, so
 * the origin counts fields and ops on the wire bytes before it decodes. */
#define KV_REPL_WIRE_FIELDS_MAX 64
_Static_assert(KV_REPL_HANDSHAKES_MAX >= 1 && KV_REPL_HANDSHAKES_MAX < KV_REPL_PEERS_MAX,
               "room for live links beside handshakes");
_Static_assert(KV_REPL_CONNS_PER_ADDR_MAX >= 2 && KV_REPL_CONNS_PER_ADDR_MAX <= KV_REPL_PEERS_MAX,
               "an edge reconnects while its old link closes");
_Static_assert(KV_REPL_EDGE_FORGET_MS >= 24u * 3600u * 1000u,
               "an edge away for a restart or an outage is remembered");

/* ---- forwarded writes: the token an edge names (node/replica/judge.h) ---------- */

/* The id of the API token an edge checked a forwarded write against
 * (WriteRequest.token_id), at most this many bytes: a stored token's id (16
 * hex digits) or a configured token's derived id ("cfg-" + 32 hex digits,
 * node/api/auth.h). Longer is refused before any lookup. */
#define KV_AUTH_ID_MAX_BYTES 64
_Static_assert(KV_AUTH_ID_MAX_BYTES >= 4 + 32, "a configured token's id fits");

/* ---- origin leadership through an etcd lease (node/ha) -------------------------- */

/* The leader's lease (`--ha-lease-ms`): a leader that cannot renew it stops
 * leading at most this long after its last renewal was sent, so it is also
 * the floor of a failover's unavailability. etcd counts leases in whole
 * seconds and its smallest lease is about 2 s with its default timing. */
#define KV_HA_LEASE_MS_DEFAULT 2000u
/* Shorter leases renew every few tens of milliseconds and fail on any hiccup
 * of the loop; longer ones make a failover needlessly slow. */
#define KV_HA_LEASE_MS_MIN 500u
#define KV_HA_LEASE_MS_MAX 60000u
/* The leader renews its lease every lease / KV_HA_RENEW_DIV: three tries
 * before the deadline, as etcd's own clients do. */
#define KV_HA_RENEW_DIV 3u
/* A follower reads the leader key every lease / KV_HA_POLL_DIV (unless
 * `--ha-poll-ms`): a failover waits at most this long past the expiry. */
#define KV_HA_POLL_DIV 10u
/* One HTTP attempt against one etcd member gives up after lease /
 * KV_HA_ATTEMPT_DIV, so a hung member leaves time to try the others before
 * the leader's deadline. */
#define KV_HA_ATTEMPT_DIV 4u
/* After a failed request the election waits lease / KV_HA_RETRY_DIV before
 * the next one: several tries per lease, no busy loop on a dead cluster. */
#define KV_HA_RETRY_DIV 10u
/* etcd members (`--etcd URL,...`): a cluster has 3 or 5. */
#define KV_HA_ENDPOINTS_MAX 7u
/* An etcd URL, a cluster name, a candidate's name and its advertised address. */
#define KV_HA_URL_MAX_BYTES     256u
#define KV_HA_CLUSTER_MAX_BYTES 64u
#define KV_HA_NAME_MAX_BYTES    64u
#define KV_HA_ADDRESS_MAX_BYTES 256u
/* The leader's record of its synchronous standbys (node/ha/ha_sync.h): a
 * term, the leader's name and up to KV_REPL_SYNC_STANDBYS_MAX names. */
#define KV_HA_RECORD_MAX_BYTES 1024u
/* An etcd answer: a leader key and a lease are a few hundred bytes; more is
 * not an answer to any of our requests. */
#define KV_HA_RESPONSE_MAX_BYTES (64u * 1024u)
_Static_assert(KV_HA_LEASE_MS_MIN <= KV_HA_LEASE_MS_DEFAULT &&
                   KV_HA_LEASE_MS_DEFAULT <= KV_HA_LEASE_MS_MAX,
               "the default lease is a valid lease");
_Static_assert(KV_HA_RENEW_DIV >= 2u, "a leader renews at least twice per lease");
_Static_assert(KV_HA_LEASE_MS_MIN / KV_HA_RETRY_DIV >= 10u, "retries never spin");

/* ---- relations -------------------------------------------------------------- */

_Static_assert(KV_REST_LIST_MIN_KEYS <= KV_LIST_MAX_KEYS, "REST list range");
_Static_assert(KV_LIST_SCAN_MAX >= KV_LIST_MAX_KEYS, "a page must fit in one scan");
_Static_assert(KV_HTTP_VALUE_BODY_MAX_BYTES > KV_VALUE_MAX_BYTES, "room for multipart framing");
_Static_assert(KV_HTTP_BODY_MAX_BYTES >= KV_HTTP_VALUE_BODY_MAX_BYTES, "bulk is the largest body");
_Static_assert(KV_HTTP_URL_MAX_BYTES > 3 * KV_KEY_MAX_BYTES, "an encoded max key fits a URL");
_Static_assert(KV_HTTP_URL_MAX_BYTES < KV_HTTP_HEADER_MAX_BYTES, "URL is part of the head");
_Static_assert(KV_CACHE_MAX_ENTRY_BYTES < KV_CACHE_DEFAULT_BYTES, "an entry fits the cache");
_Static_assert(KV_NS_PAGE_DEFAULT <= KV_NS_PAGE_MAX, "namespace page sizes");
_Static_assert(KV_FRAME_MAX_BYTES >=
                   KV_VALUE_MAX_BYTES + KV_METADATA_MAX_BYTES + KV_KEY_MAX_BYTES + 16u * 1024u,
               "a frame carries one maximal mutation");
_Static_assert(KV_FRAME_MAX_BYTES < 0x7fffffffu, "frame length fits the 4-byte prefix");
_Static_assert(KV_REPL_BATCH_MAX_BYTES < KV_FRAME_MAX_BYTES,
               "the batch cap is soft, below a frame");
_Static_assert(KV_REPL_GROUP_MAX_BYTES >= KV_FRAME_MAX_BYTES, "a group holds a maximal write");
_Static_assert(KV_REPL_PENDING_MAX_BYTES >= KV_REPL_GROUP_MAX_BYTES, "a full group can queue");
_Static_assert(KV_REPL_PENDING_MAX_OPS >= KV_REPL_WRITE_MAX_OPS, "a maximal write can queue");
_Static_assert(KV_REPL_APPLY_QUEUE_MAX_BYTES >= 2u * KV_FRAME_MAX_BYTES,
               "an edge queues a maximal frame behind the one applying");
_Static_assert(KV_REPL_TAIL_DEFAULT_BYTES >= 2u * KV_FRAME_MAX_BYTES, "the tail holds big values");
_Static_assert(KV_REPL_ACK_INTERVAL_MS < KV_REPL_HANDSHAKE_TIMEOUT_MS, "acks are frequent");
_Static_assert(KV_REPL_ACK_INTERVAL_MS < KV_REPL_PROBE_INTERVAL_MS, "an ack under load is a probe");
_Static_assert(KV_REPL_EDGE_WRITES_MAX_BYTES >= KV_FRAME_MAX_BYTES,
               "an edge forwards a maximal write");
_Static_assert(KV_TLS_PLAIN_CHUNK_BYTES >= 16384, "room for one TLS record");
_Static_assert(KV_TLS_CIPHER_INFLIGHT_MAX_BYTES >= 2 * KV_TLS_WRITE_CHUNK_BYTES,
               "pipelined writes");
_Static_assert(KV_TLS_WRITE_QUEUE_MAX_BYTES > KV_VALUE_MAX_BYTES, "a max value fits the queue");
_Static_assert(KV_TLS_WRITE_QUEUE_MAX_BYTES >= KV_FRAME_MAX_BYTES,
               "a maximal frame fits the queue");
_Static_assert(KV_TLS_HANDSHAKE_TIMEOUT_MS <= KV_REPL_HANDSHAKE_TIMEOUT_MS,
               "TLS finishes before the link handshake deadline");

/* ---- node application and process (issue 9: abuse, descriptors) ------------ */

/* /digest hashes the whole store on the threadpool; at most this many run at
 * once per node (more get 429), so digests cannot occupy the write threads. */
#define KV_OPS_DIGESTS_MAX 2
/* Backups over HTTP (node/api/backup.c). Checkpoints alive at once per node:
 * each pins the SST and blob files it links, which compactions would
 * otherwise free, so disk use stays bounded; one more gets 429. */
#define KV_BACKUP_CHECKPOINTS_MAX 2
/* A checkpoint no request touched for this long is deleted (a client that
 * died mid-download must not pin files for ever). */
#define KV_BACKUP_IDLE_TTL_S 600
/* The largest chunk of a checkpoint file one GET answers: the HTTP server
 * sends one body per response, held in memory until written. */
#define KV_BACKUP_CHUNK_MAX_BYTES (4u * 1024u * 1024u)
/* Chunk reads in flight at once per node, so their buffers are bounded:
 * KV_BACKUP_READS_MAX * KV_BACKUP_CHUNK_MAX_BYTES (16 MiB); more get 429. */
#define KV_BACKUP_READS_MAX 4
/* Files in one checkpoint (its listing is one JSON answer); a store with
 * more is refused rather than described in an unbounded answer. */
#define KV_BACKUP_FILES_MAX 100000
/* A checkpoint file's name (RocksDB's: 000123.sst, MANIFEST-000005, ...). */
#define KV_BACKUP_NAME_MAX_BYTES 64
/* RocksDB table and blob files kept open at once (stor_options_t
 * max_open_files, option `max_open_files`): bounded, so the process can
 * reserve descriptors for them; past it RocksDB closes least-used files. */
#define KV_STOR_MAX_OPEN_FILES_DEFAULT 4096
#define KV_STOR_MAX_OPEN_FILES_MIN     64
/* Descriptors RocksDB holds besides table files (WAL, MANIFEST, LOCK, LOG,
 * the directory) and the process's own (listeners, epoll, eventfds, signal
 * pipes, stdio, the env file): reserved on top of every other budget. */
#define KV_FD_RESERVE_MISC 256
/* The descriptor rule (checked at start against RLIMIT_NOFILE, which is
 * raised to its hard limit first): HTTP connections + replication links +
 * RocksDB's open files + the reserve must fit, so junk connections run out
 * of slots (and are refused at the HTTP cap) before RocksDB runs out of
 * descriptors. */
#define KV_FD_BUDGET(max_open_files)                                                               \
    ((unsigned long long)KV_HTTP_MAX_CONNECTIONS + KV_REPL_PEERS_MAX + (max_open_files) +          \
     KV_FD_RESERVE_MISC)
/* A REST bulk body is scanned (one pass, no allocation) before it is
 * parsed: more top-level items than KV_BULK_WRITE_MAX_ITEMS, or more JSON
 * values in all than this, is refused without building a JSON tree (a
 * 100 MB body of tiny values would otherwise cost gigabytes). A valid item
 * holds at most a key, a value, two numbers, base64 and metadata of at most
 * KV_METADATA_MAX_BYTES (fewer values than bytes). */
#define KV_BULK_JSON_VALUES_PER_ITEM (8u + KV_METADATA_MAX_BYTES / 2u)
#define KV_BULK_JSON_VALUES_MAX      (KV_BULK_WRITE_MAX_ITEMS * KV_BULK_JSON_VALUES_PER_ITEM)

_Static_assert(KV_STOR_MAX_OPEN_FILES_MIN <= KV_STOR_MAX_OPEN_FILES_DEFAULT,
               "the default open-file bound is allowed");
_Static_assert(KV_BULK_JSON_VALUES_MAX >= 4u * KV_BULK_WRITE_MAX_ITEMS,
               "a maximal bulk of plain items passes the scan");

/* ---- log rate limits --------------------------------------------------------- */
/* A failed TLS handshake on the replication port (anyone can cause one) is
 * logged at most once per this interval, with the count held back since:
 * a flood of junk handshakes costs a line per interval, not a line each. */
#define KV_LOG_HANDSHAKE_FAIL_INTERVAL_MS 10000u

/* ---- resource model: budgets across connections, per-link buffers ----------- */

/* Request body bytes the HTTP server holds at once, all connections and loops
 * together (option `http_body_budget_bytes`). A body is counted from the
 * moment head() accepted its size (after auth) until its request is answered;
 * one that would take the total over the budget is not read: 503 with
 * Retry-After right after its head, and the connection is closed lingering.
 * The default admits 40 maximal values uploading at once; the minimum is the
 * largest body, so every request can pass once the others are done. */
#define KV_HTTP_BODY_BUDGET_DEFAULT_BYTES (1024u * 1024u * 1024u)
#define KV_HTTP_BODY_BUDGET_MIN_BYTES     KV_HTTP_BODY_MAX_BYTES
/* Retry-After (seconds) of that 503: bodies drain in about that time. */
#define KV_HTTP_BODY_BUDGET_RETRY_AFTER_S 1
/* Default unsent bytes per edge link at the origin (repl_origin_config_t
 * peer_buffer_max_bytes): above it the log is no longer pushed to that edge
 * until it drained to half (a slow edge catches up from the log later). */
#define KV_REPL_PEER_BUFFER_DEFAULT_BYTES (8u * 1024u * 1024u)
/* What may still go to an edge over that mark (a batch under way, its
 * WriteResults, a maximal frame alone): a link whose unsent bytes pass
 * peer_buffer_max_bytes plus this is closed, "edge not reading". */
#define KV_REPL_PEER_BUFFER_SLACK_BYTES (KV_FRAME_MAX_BYTES + 1024u * 1024u)
/* A link held at the mark (no longer pushed to) that reports no bytes
 * flushed for this long is closed: an edge that stopped reading holds no
 * buffers and no slot; it reconnects and resumes from the log. Longer than
 * an edge's own silence timeout, so a live but slow edge is not cut. */
#define KV_REPL_PEER_STALL_MS 30000u
_Static_assert(KV_HTTP_BODY_BUDGET_DEFAULT_BYTES >= KV_HTTP_BODY_BUDGET_MIN_BYTES,
               "the default budget admits the largest body");
_Static_assert(KV_HTTP_BODY_BUDGET_MIN_BYTES >= KV_HTTP_BODY_MAX_BYTES,
               "every body fits the budget alone");
_Static_assert(KV_REPL_PEER_BUFFER_DEFAULT_BYTES >= 2u * KV_REPL_BATCH_MAX_BYTES,
               "an edge's buffer holds batches in flight");
_Static_assert(KV_REPL_PEER_BUFFER_DEFAULT_BYTES + KV_REPL_PEER_BUFFER_SLACK_BYTES <=
                   KV_TLS_WRITE_QUEUE_MAX_BYTES,
               "the link closes before TLS refuses a write");
_Static_assert(KV_REPL_PEER_STALL_MS > KV_REPL_LINK_TIMEOUT_DEFAULT_MS,
               "a slow edge gives up its own link first");

#endif
