// workerd.test.mjs - an unmodified workerd binds env.KV to the edgekv node
// (kvNamespace -> external service with injected X-EdgeKV-Namespace and
// Authorization headers, KV-SPEC §1 "Internal binding protocol"). The Worker
// (worker/worker.mjs) exercises the binding and reports what it saw; this
// file checks each value and each error text against KV-SPEC exactly.
// A second binding, env.READ, reaches the same namespace through the read
// node (edge2 of the local cluster): values put through env.KV (edge1) are
// read back through env.KV at once and through env.READ once propagated.
// Over HTTPS (run.sh --https) each external service speaks https to the
// node's HTTPS port and trusts only the private CA (trustedCertificates,
// embedded from a copy of EDGEKV_CA; browser CAs off), checking the
// certificate's name against TLS_HOST (localhost).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, writeFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import {
  TOKEN,
  URL_,
  READ_URL,
  HTTPS,
  CA_FILE,
  TLS_HOST,
  compatibilityDate,
  createNamespace,
  eventually,
  scratchDir,
  startWorkerd,
} from "./lib.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const nodeAddr = new URL(URL_).host; // 127.0.0.1:PORT (edge1 in a cluster)
const readAddr = new URL(READ_URL).host; // the same, or edge2
const CA_EMBED = "edgekv-ca.pem"; // the copy of EDGEKV_CA beside config.capnp (HTTPS mode)

let child;
let base; // http://127.0.0.1:<workerd port>
let seen; // the Worker's report of /run
let unauth; // ... and of /unauth

// The binding's external service: plain http, or https trusting the private
// CA alone (workerd.capnp ExternalServer.https: options, tlsOptions,
// certificateHost).
function external(name, ns, token, addr = nodeAddr) {
  const http = `(injectRequestHeaders = [
      (name = "X-EdgeKV-Namespace", value = "${ns}"),
      (name = "Authorization", value = "Bearer ${token}")])`;
  const proto = HTTPS
    ? `https = (options = ${http},
      tlsOptions = (trustedCertificates = [embed "${CA_EMBED}"], trustBrowserCas = false),
      certificateHost = "${TLS_HOST}")`
    : `http = ${http}`;
  return `(name = "${name}", external = (address = "${addr}", ${proto}))`;
}

// Written per run: the node's port and a fresh namespace id.
function config(ns) {
  return `using Workerd = import "/workerd/workerd.capnp";
const config :Workerd.Config = (
  services = [
    (name = "main", worker = (
      modules = [(name = "worker.mjs", esModule = embed "worker.mjs")],
      compatibilityDate = "${compatibilityDate}",
      bindings = [(name = "KV", kvNamespace = "edgekv"), (name = "BAD", kvNamespace = "edgekv-bad"),
                  (name = "READ", kvNamespace = "edgekv-read"), (name = "BAD_READ", kvNamespace = "edgekv-bad-read")])),
    ${external("edgekv", ns, TOKEN)},
    ${external("edgekv-bad", ns, "not-the-token")},
    ${external("edgekv-read", ns, TOKEN, readAddr)},
    ${external("edgekv-bad-read", ns, "not-the-token", readAddr)},
  ],
  sockets = [(name = "http", address = "127.0.0.1:0", http = (), service = "main")],
);
`;
}

before(async () => {
  const ns = await createNamespace("workerd");
  const dir = scratchDir("workerd");
  copyFileSync(join(here, "worker", "worker.mjs"), join(dir, "worker.mjs"));
  if (HTTPS) copyFileSync(CA_FILE, join(dir, CA_EMBED));
  writeFileSync(join(dir, "config.capnp"), config(ns));
  ({ child, url: base } = await startWorkerd(dir));
  const r = await fetch(`${base}/run`, { signal: AbortSignal.timeout(120000) });
  assert.equal(r.status, 200, await r.clone().text());
  seen = await r.json();
  unauth = await (await fetch(`${base}/unauth`)).json();
});

function stopWorkerd() {
  if (child && child.exitCode === null) child.kill("SIGTERM");
}
after(stopWorkerd);
process.on("exit", stopWorkerd); // never leave workerd behind


const ok = (name) => {
  const s = seen[name];
  assert.ok(s, `no step ${name}`);
  assert.ok("ok" in s, `${name} threw ${JSON.stringify(s.err)}`);
  return s.ok;
};
const err = (name) => {
  const s = seen[name];
  assert.ok(s, `no step ${name}`);
  assert.ok("err" in s, `${name} did not throw: ${JSON.stringify(s.ok)}`);
  return `${s.err.name}: ${s.err.message}`;
};
const bytes = (n) => Array.from({ length: n }, (_, i) => i % 256);
const VOID = { undefined: true };

test("put resolves to undefined", () => {
  for (const s of ["put_text", "put_json", "put_bin", "put_arraybuffer", "put_stream", "put_empty", "put_unicode", "put_meta", "put_ttl", "put_exp", "put_both", "put_null_meta"])
    assert.deepEqual(ok(s), VOID, s);
});

test("get as text (default, 'text', {type, cacheTtl})", () => {
  assert.equal(ok("get_text_default"), "hello, edge");
  assert.equal(ok("get_text_type"), "hello, edge");
  assert.equal(ok("get_text_opts"), "hello, edge");
});

test("get as json", () => {
  assert.deepEqual(ok("get_json"), { a: 1, b: [true, null, "x"] });
  assert.deepEqual(ok("get_json_opts"), { a: 1, b: [true, null, "x"] });
});

test("get as arrayBuffer and stream is byte-exact", () => {
  assert.deepEqual(ok("get_bin_arraybuffer"), { bytes: bytes(768) });
  assert.deepEqual(ok("get_bin_stream"), { bytes: bytes(768) });
  assert.deepEqual(ok("get_arraybuffer"), { bytes: bytes(10) });
});

test("put of a ReadableStream (no Content-Length), of '' and of an odd key", () => {
  assert.equal(ok("get_streamed"), "streamed in three parts");
  assert.equal(ok("get_empty"), "");
  assert.equal(ok("get_unicode"), "odd key");
});

test("getWithMetadata", () => {
  assert.deepEqual(ok("gwm_meta"), { value: "with meta", metadata: { user: 42, tags: ["a"] }, cacheStatus: null });
  assert.deepEqual(ok("gwm_meta_json"), { value: { a: 1, b: [true, null, "x"] }, metadata: null, cacheStatus: null });
  assert.deepEqual(ok("gwm_nometa"), { value: "hello, edge", metadata: null, cacheStatus: null });
  assert.deepEqual(ok("gwm_missing"), { value: null, metadata: null, cacheStatus: null });
});

test("expirationTtl, expiration, both (TTL wins), metadata null", () => {
  const now = ok("now");
  const l = ok("list_e");
  assert.equal(l.list_complete, true);
  assert.ok(!("cursor" in l), "no cursor on the last page");
  assert.deepEqual(l.keys.map((k) => k.name), ["e/both", "e/exp", "e/nullmeta", "e/ttl"]);
  const [both, exp, nullmeta, ttl] = l.keys;
  assert.equal(exp.expiration, now + 7200);
  assert.ok(Math.abs(ttl.expiration - (now + 3600)) <= 5, `ttl expiration ${ttl.expiration}`);
  assert.ok(Math.abs(both.expiration - (now + 600)) <= 5, `both expiration ${both.expiration}`);
  assert.deepEqual(nullmeta, { name: "e/nullmeta" });
});

test("delete, and reads of missing keys give null", () => {
  assert.deepEqual(ok("delete_text"), VOID);
  assert.equal(ok("get_deleted"), null);
  assert.deepEqual(ok("delete_missing"), VOID);
  assert.equal(ok("get_missing"), null);
});

test("list with prefix, limit and cursor", () => {
  const pages = ok("list_pages");
  const name = (i) => `p/${String(i).padStart(2, "0")}`;
  assert.equal(pages.length, 3);
  assert.deepEqual(pages[0].names, Array.from({ length: 10 }, (_, i) => name(i)));
  assert.deepEqual(pages[1].names, Array.from({ length: 10 }, (_, i) => name(i + 10)));
  assert.deepEqual(pages[2].names, Array.from({ length: 5 }, (_, i) => name(i + 20)));
  assert.deepEqual(pages.map((p) => [p.list_complete, p.hasCursor, p.cacheStatus]), [
    [false, true, null],
    [false, true, null],
    [true, false, null],
  ]);
});

test("list sorts by UTF-8 bytes", () => {
  const names = ok("list_all");
  const sorted = [...names].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  assert.deepEqual(names, sorted);
  assert.equal(names.length, 36);
  assert.equal(names.at(-1), "ключ/😀 ?&#%=+");
});

test("multi-key get and getWithMetadata", () => {
  assert.deepEqual(ok("multi_get"), { map: [["json", '{"a":1,"b":[true,null,"x"]}'], ["meta", "with meta"], ["missing", null]] });
  assert.deepEqual(ok("multi_get_json"), { map: [["json", { a: 1, b: [true, null, "x"] }], ["missing", null]] });
  assert.deepEqual(ok("multi_gwm"), {
    map: [
      ["meta", { value: "with meta", metadata: { user: 42, tags: ["a"] } }],
      ["json", { value: '{"a":1,"b":[true,null,"x"]}', metadata: null }],
      ["missing", null],
    ],
  });
  assert.deepEqual(ok("multi_gwm_json"), {
    map: [
      ["json", { value: '{"a":1,"b":[true,null,"x"]}', metadata: null }],
      ["empty", { value: "", metadata: null }],
    ],
  });
});

test("a value of exactly 25 MiB round-trips", () => {
  assert.deepEqual(ok("ok_value_max"), { length: 26214400, allSevens: true });
});

test("error texts match KV-SPEC §2", () => {
  const now = ok("now");
  const want = {
    err_value_too_large: "Error: KV PUT failed: 413 Value length of 26214401 exceeds limit of 26214400.",
    err_ttl_30: "Error: KV PUT failed: 400 Invalid expiration_ttl of 30. Expiration TTL must be at least 60.",
    err_ttl_0: "Error: KV PUT failed: 400 Invalid expiration_ttl of 0. Please specify integer greater than 0.",
    err_exp_past:
      "Error: KV PUT failed: 400 Invalid expiration of 1000. Please specify integer greater than the current number of seconds since the UNIX epoch.",
    err_meta_large: "Error: KV PUT failed: 413 Metadata length of 1028 exceeds limit of 1024.",
    err_list_1001: "Error: KV GET failed: 400 Invalid key_count_limit of 1001. Please specify an integer less than 1000.",
    err_multi_101: "Error: KV GET_BULK failed: 400 You can request a maximum of 100 keys",
    err_multi_type: 'Error: KV GET_BULK failed: 400 "arrayBuffer" is not a valid type. Use "json" or "text"',
    err_multi_nonjson: "Error: KV GET_BULK failed: 400 At least one of the requested keys corresponds to a non-json value",
    err_cache_ttl: "Error: KV GET failed: 400 Invalid cache_ttl of 10. Cache TTL must be at least 30.",
    err_key_empty: "TypeError: Key name cannot be empty.",
    err_key_dot: 'TypeError: "." is not allowed as a key name.',
    err_key_long: "Error: KV PUT failed: 414 UTF-8 encoded length of 513 exceeds key length limit of 512.",
    err_put_object: "TypeError: KV put() accepts only strings, ArrayBuffers, ArrayBufferViews, and ReadableStreams as values.",
  };
  for (const [name, text] of Object.entries(want)) assert.equal(err(name), text, name);
  // The Worker's clock and the node's may straddle a second.
  assert.match(
    err("err_exp_soon"),
    /^Error: KV PUT failed: 400 Invalid expiration of (\d+)\. Expiration times must be at least 60 seconds in the future\.$/,
  );
  assert.equal(Number(err("err_exp_soon").match(/of (\d+)/)[1]), now + 30);
});

const UNAUTH = {
  get: { err: { name: "Error", message: "KV GET failed: 401 Unauthorized" } },
  put: { err: { name: "Error", message: "KV PUT failed: 401 Unauthorized" } },
  list: { err: { name: "Error", message: "KV GET failed: 401 Unauthorized" } },
};

test("a wrong token surfaces as 401 Unauthorized (both bindings)", async () => {
  assert.deepEqual(unauth, UNAUTH);
  assert.deepEqual(await get("/unauth?via=read"), UNAUTH);
});

// ---- cross-edge: put through env.KV, get / list through env.READ --------------------

async function get(path) {
  const r = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(60000) });
  assert.equal(r.status, 200, await r.clone().text());
  return r.json();
}

// What crossRead answers after /xwrite (phase 1) and after /xupdate (phase 2).
function checkCross(read, phase) {
  const v = (name) => {
    const s = read[name];
    assert.ok(s && "ok" in s, `${name}: ${JSON.stringify(s)}`);
    return s.ok;
  };
  const text = phase === 1 ? "across edges" : null;
  assert.equal(v("get_text"), text);
  assert.deepEqual(v("get_json"), { v: phase });
  assert.deepEqual(v("get_bin"), { bytes: bytes(768) });
  assert.deepEqual(v("get_stream"), { bytes: bytes(768) });
  assert.deepEqual(v("gwm_meta"), { value: "m", metadata: { via: "edge1" }, cacheStatus: null });
  const l = v("list");
  assert.equal(l.list_complete, true);
  assert.deepEqual(
    l.keys.map((k) => k.name),
    ["x/bin", "x/json", "x/meta", ...(phase === 1 ? ["x/text"] : []), "x/ttl"],
  );
  const by = Object.fromEntries(l.keys.map((k) => [k.name, k]));
  assert.deepEqual(by["x/meta"], { name: "x/meta", metadata: { via: "edge1" } });
  assert.ok(by["x/ttl"].expiration > Date.now() / 1000 + 3500, JSON.stringify(by["x/ttl"]));
  assert.deepEqual(v("multi"), { map: [["x/text", text], ["x/json", JSON.stringify({ v: phase })], ["x/missing", null]] });
  assert.deepEqual(v("multi_gwm"), {
    map: [
      ["x/meta", { value: "m", metadata: { via: "edge1" } }],
      ["x/text", text === null ? null : { value: text, metadata: null }],
    ],
  });
  return by["x/ttl"].expiration;
}

let ttlExpiration;

test("cross-edge: put through env.KV is read back through env.KV at once", async () => {
  const r = await get("/xwrite");
  for (const [name, s] of Object.entries(r.write)) assert.deepEqual(s, { ok: VOID }, name);
  ttlExpiration = checkCross(r.read, 1);
});

test("cross-edge: ... and through env.READ (the other edge) once propagated", async () => {
  await eventually("env.READ after /xwrite", async () => {
    const exp = checkCross(await get("/xread?via=read"), 1);
    assert.equal(exp, ttlExpiration, "both edges list the same expiration");
  });
});

test("cross-edge: delete and overwrite through env.KV, seen at once there and soon through env.READ", async () => {
  const r = await get("/xupdate");
  for (const [name, s] of Object.entries(r.write)) assert.deepEqual(s, { ok: VOID }, name);
  checkCross(r.read, 2);
  await eventually("env.READ after /xupdate", async () => checkCross(await get("/xread?via=read"), 2));
});

test("cross-edge: env.READ lists the whole namespace as env.KV does", async () => {
  const w = await get("/xall?via=write");
  assert.ok(w.names?.ok?.length > 30, JSON.stringify(w));
  await eventually("env.READ full list", async () => assert.deepEqual(await get("/xall?via=read"), w));
});
