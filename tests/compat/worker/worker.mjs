// worker.mjs - the Worker of the workerd suite. Its env.KV is a kvNamespace
// bound to an edgekv node (see ../workerd.test.mjs, which writes the config).
// GET /run performs every binding operation against a fresh namespace and
// answers with JSON of what it saw: each step is {ok: value} or
// {err: {name, message}}, so the test can compare values and error texts
// with KV-SPEC exactly. Nothing here asserts: the test does.
//
// env.READ is a second binding to the same namespace through another node
// (edge2 of the local cluster; the same node in single-node mode). /xwrite,
// /xupdate write through env.KV and read back through it at once;
// /xread?via=read|write reads the same keys through either binding, and
// /xall?via=... lists the whole namespace, so the test can poll for the
// writes to reach the other edge.

const enc = new TextEncoder();

// Turns whatever a step returned into JSON-friendly data.
function plain(v) {
  if (v instanceof Map) return { map: [...v.entries()].map(([k, x]) => [k, plain(x)]) };
  if (v instanceof ArrayBuffer) return { bytes: [...new Uint8Array(v)] };
  if (v === undefined) return { undefined: true };
  return v;
}

async function step(out, name, fn) {
  try {
    out[name] = { ok: plain(await fn()) };
  } catch (e) {
    out[name] = { err: { name: e?.name ?? typeof e, message: String(e?.message ?? e) } };
  }
}

async function readStream(s) {
  const chunks = [];
  let n = 0;
  for await (const c of s) {
    chunks.push(c);
    n += c.byteLength;
  }
  const all = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.byteLength;
  }
  return all;
}

async function run(KV) {
  const out = {};
  const now = Math.floor(Date.now() / 1000);
  out.now = { ok: now };
  const bin = new Uint8Array(256 * 3).map((_, i) => i % 256);

  // get: text, json, arrayBuffer, stream.
  await step(out, "put_text", () => KV.put("text", "hello, edge"));
  await step(out, "get_text_default", () => KV.get("text"));
  await step(out, "get_text_type", () => KV.get("text", "text"));
  await step(out, "get_text_opts", () => KV.get("text", { type: "text", cacheTtl: 60 }));
  await step(out, "put_json", () => KV.put("json", JSON.stringify({ a: 1, b: [true, null, "x"] })));
  await step(out, "get_json", () => KV.get("json", "json"));
  await step(out, "get_json_opts", () => KV.get("json", { type: "json" }));
  await step(out, "put_bin", () => KV.put("bin", bin));
  await step(out, "get_bin_arraybuffer", () => KV.get("bin", "arrayBuffer"));
  await step(out, "get_bin_stream", async () => ({ bytes: [...(await readStream(await KV.get("bin", "stream")))] }));
  await step(out, "put_arraybuffer", () => KV.put("ab", bin.buffer.slice(0, 10)));
  await step(out, "get_arraybuffer", () => KV.get("ab", "arrayBuffer"));
  await step(out, "put_stream", () => {
    const parts = ["streamed ", "in ", "three parts"];
    const rs = new ReadableStream({
      pull(c) {
        if (parts.length) c.enqueue(enc.encode(parts.shift()));
        else c.close();
      },
    });
    return KV.put("stream", rs);
  });
  await step(out, "get_streamed", () => KV.get("stream"));
  await step(out, "put_empty", () => KV.put("empty", ""));
  await step(out, "get_empty", () => KV.get("empty"));
  const odd = "ключ/😀 ?&#%=+";
  await step(out, "put_unicode", () => KV.put(odd, "odd key"));
  await step(out, "get_unicode", () => KV.get(odd));

  // getWithMetadata, put with metadata / expirationTtl / expiration.
  await step(out, "put_meta", () => KV.put("meta", "with meta", { metadata: { user: 42, tags: ["a"] } }));
  await step(out, "gwm_meta", () => KV.getWithMetadata("meta"));
  await step(out, "gwm_meta_json", () => KV.getWithMetadata("json", "json"));
  await step(out, "gwm_nometa", () => KV.getWithMetadata("text"));
  await step(out, "gwm_missing", () => KV.getWithMetadata("missing"));
  await step(out, "put_ttl", () => KV.put("e/ttl", "t", { expirationTtl: 3600 }));
  await step(out, "put_exp", () => KV.put("e/exp", "e", { expiration: now + 7200 }));
  await step(out, "put_both", () => KV.put("e/both", "b", { expiration: now + 7200, expirationTtl: 600 }));
  await step(out, "put_null_meta", () => KV.put("e/nullmeta", "n", { metadata: null }));
  await step(out, "list_e", () => KV.list({ prefix: "e/" }));

  // delete.
  await step(out, "delete_text", () => KV.delete("text"));
  await step(out, "get_deleted", () => KV.get("text"));
  await step(out, "delete_missing", () => KV.delete("never-existed"));
  await step(out, "get_missing", () => KV.get("missing"));

  // list with prefix, limit and cursor.
  await step(out, "put_pages", () =>
    Promise.all(Array.from({ length: 25 }, (_, i) => KV.put(`p/${String(i).padStart(2, "0")}`, `v${i}`))),
  );
  await step(out, "list_pages", async () => {
    const pages = [];
    let cursor;
    for (let guard = 0; guard < 10; guard++) {
      const r = await KV.list({ prefix: "p/", limit: 10, cursor });
      pages.push({
        names: r.keys.map((k) => k.name),
        list_complete: r.list_complete,
        hasCursor: "cursor" in r,
        cacheStatus: r.cacheStatus,
      });
      if (r.list_complete) break;
      cursor = r.cursor;
    }
    return pages;
  });
  await step(out, "list_all", async () => (await KV.list()).keys.map((k) => k.name));

  // multi-key get.
  await step(out, "multi_get", () => KV.get(["json", "meta", "missing"]));
  await step(out, "multi_get_json", () => KV.get(["json", "missing"], "json"));
  await step(out, "multi_gwm", () => KV.getWithMetadata(["meta", "json", "missing"]));
  await step(out, "multi_gwm_json", () => KV.getWithMetadata(["json", "empty"], { type: "text" }));

  // error cases.
  await step(out, "err_value_too_large", () => KV.put("big", new Uint8Array(26214400 + 1)));
  await step(out, "ok_value_max", async () => {
    await KV.put("max", new Uint8Array(26214400).fill(7));
    const v = new Uint8Array(await KV.get("max", "arrayBuffer"));
    return { length: v.length, allSevens: v.every((b) => b === 7) };
  });
  await step(out, "delete_max", () => KV.delete("max"));
  await step(out, "err_ttl_30", () => KV.put("k", "v", { expirationTtl: 30 }));
  await step(out, "err_ttl_0", () => KV.put("k", "v", { expirationTtl: 0 }));
  await step(out, "err_exp_past", () => KV.put("k", "v", { expiration: 1000 }));
  await step(out, "err_exp_soon", () => KV.put("k", "v", { expiration: now + 30 }));
  await step(out, "err_meta_large", () => KV.put("k", "v", { metadata: { m: "x".repeat(1020) } }));
  await step(out, "err_list_1001", () => KV.list({ limit: 1001 }));
  await step(out, "err_multi_101", () => KV.get(Array.from({ length: 101 }, (_, i) => `k${i}`)));
  await step(out, "err_multi_type", () => KV.get(["json"], "arrayBuffer"));
  await step(out, "err_multi_nonjson", () => KV.get(["meta"], "json"));
  await step(out, "err_cache_ttl", () => KV.get("json", { cacheTtl: 10 }));
  await step(out, "err_key_empty", () => KV.get(""));
  await step(out, "err_key_dot", () => KV.put(".", "v"));
  await step(out, "err_key_long", () => KV.put("x".repeat(513), "v"));
  await step(out, "err_put_object", () => KV.put("k", {}));
  return out;
}

// ---- cross-edge: write through one binding, read through the other ----------------

async function crossRead(KV) {
  const out = {};
  await step(out, "get_text", () => KV.get("x/text"));
  await step(out, "get_json", () => KV.get("x/json", "json"));
  await step(out, "get_bin", () => KV.get("x/bin", "arrayBuffer"));
  await step(out, "get_stream", async () => {
    const s = await KV.get("x/bin", "stream");
    return s === null ? null : { bytes: [...(await readStream(s))] };
  });
  await step(out, "gwm_meta", () => KV.getWithMetadata("x/meta"));
  await step(out, "list", () => KV.list({ prefix: "x/" }));
  await step(out, "multi", () => KV.get(["x/text", "x/json", "x/missing"]));
  await step(out, "multi_gwm", () => KV.getWithMetadata(["x/meta", "x/text"]));
  return out;
}

async function crossWrite(W) {
  const write = {};
  await step(write, "put_text", () => W.put("x/text", "across edges"));
  await step(write, "put_json", () => W.put("x/json", JSON.stringify({ v: 1 })));
  await step(write, "put_bin", () => W.put("x/bin", new Uint8Array(256 * 3).map((_, i) => i % 256)));
  await step(write, "put_meta", () => W.put("x/meta", "m", { metadata: { via: "edge1" } }));
  await step(write, "put_ttl", () => W.put("x/ttl", "t", { expirationTtl: 3600 }));
  return { write, read: await crossRead(W) }; // read-your-writes: at once
}

async function crossUpdate(W) {
  const write = {};
  await step(write, "delete_text", () => W.delete("x/text"));
  await step(write, "put_json", () => W.put("x/json", JSON.stringify({ v: 2 })));
  return { write, read: await crossRead(W) };
}

async function listAll(KV) {
  const names = [];
  let cursor;
  for (let guard = 0; guard < 100; guard++) {
    const r = await KV.list({ cursor });
    names.push(...r.keys.map((k) => k.name));
    if (r.list_complete) break;
    cursor = r.cursor;
  }
  return names;
}

async function unauth(BAD) {
  const out = {};
  await step(out, "get", () => BAD.get("text"));
  await step(out, "put", () => BAD.put("k", "v"));
  await step(out, "list", () => BAD.list());
  return out;
}

export default {
  async fetch(request, env) {
    const url = new URL(request.url);
    const via = url.searchParams.get("via") === "read" ? env.READ : env.KV;
    if (url.pathname === "/run") return Response.json(await run(env.KV));
    if (url.pathname === "/unauth")
      return Response.json(await unauth(url.searchParams.get("via") === "read" ? env.BAD_READ : env.BAD));
    if (url.pathname === "/xwrite") return Response.json(await crossWrite(env.KV));
    if (url.pathname === "/xupdate") return Response.json(await crossUpdate(env.KV));
    if (url.pathname === "/xread") return Response.json(await crossRead(via));
    if (url.pathname === "/xall") {
      const out = {};
      await step(out, "names", () => listAll(via));
      return Response.json(out);
    }
    return new Response("not found", { status: 404 });
  },
};
