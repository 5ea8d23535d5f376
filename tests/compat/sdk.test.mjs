// sdk.test.mjs - the official `cloudflare` TypeScript SDK against the
// edgekv node (baseURL = http://127.0.0.1:PORT/client/v4, KV-SPEC §4):
// namespaces with page auto-pagination, values (always multipart), metadata,
// keys with cursor paging, the three bulk calls, and its typed errors.
// `client` writes and reads its own writes at once (edge1 in cluster mode);
// `reader` reads the same data through edge2 once it propagated (polled,
// lib.mjs `eventually`). Against one node both talk to that node.
// Over HTTPS (run.sh --https) baseURL is https:// and the SDK (Node.js
// fetch) trusts the private CA through NODE_EXTRA_CA_CERTS.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import Cloudflare, { toFile } from "cloudflare";
import { API, READ_API, ACCOUNT, TOKEN, eventually, rest } from "./lib.mjs";

const client = new Cloudflare({ baseURL: API, apiToken: TOKEN, maxRetries: 0, timeout: 60000 });
const reader = new Cloudflare({ baseURL: READ_API, apiToken: TOKEN, maxRetries: 0, timeout: 60000 });
const account_id = ACCOUNT;
const prefix = `compat-sdk-${process.pid}`;
let ns; // the namespace under test
const extra = []; // namespaces made for the pagination test

before(async () => {
  const created = await client.kv.namespaces.create({ account_id, title: `${prefix}-main` });
  ns = created.id;
});

after(async () => {
  for (const id of [ns, ...extra]) if (id) await rest("DELETE", `/${id}`);
});

test("namespaces.create answers the namespace", async () => {
  assert.match(ns, /^[0-9a-f]{32}$/);
  const want = { id: ns, title: `${prefix}-main`, supports_url_encoding: true };
  assert.deepEqual(await client.kv.namespaces.get(ns, { account_id }), want);
  await eventually("reader namespaces.get", async () => assert.deepEqual(await reader.kv.namespaces.get(ns, { account_id }), want));
});

async function checkNamespaceList(c) {
  const seen = [];
  let pages = 0;
  for await (const n of c.kv.namespaces.list({ account_id, per_page: 3, order: "title", direction: "asc" })) {
    seen.push(n.title);
    assert.ok(seen.length < 5000, "pagination does not terminate");
  }
  for (let page = await c.kv.namespaces.list({ account_id, per_page: 3 }); ; page = await page.getNextPage()) {
    pages++;
    if (!page.hasNextPage()) break;
    assert.ok(pages < 2000);
  }
  const mine = seen.filter((t) => t.startsWith(prefix));
  assert.deepEqual(mine, [`${prefix}-main`, ...Array.from({ length: 7 }, (_, i) => `${prefix}-page-${i}`)]);
  assert.deepEqual(seen, [...seen].sort());
  assert.ok(pages >= 3, `only ${pages} pages of 3`);
}

test("namespaces.list auto-pagination visits every page and terminates (writer, then reader)", async () => {
  for (let i = 0; i < 7; i++)
    extra.push((await client.kv.namespaces.create({ account_id, title: `${prefix}-page-${i}` })).id);
  await checkNamespaceList(client);
  await eventually("reader namespaces.list", () => checkNamespaceList(reader));
});

test("namespaces.update renames", async () => {
  const r = await client.kv.namespaces.update(extra[0], { account_id, title: `${prefix}-renamed` });
  assert.equal(r.title, `${prefix}-renamed`);
  assert.equal((await client.kv.namespaces.get(extra[0], { account_id })).title, `${prefix}-renamed`);
  await eventually("reader sees the rename", async () =>
    assert.equal((await reader.kv.namespaces.get(extra[0], { account_id })).title, `${prefix}-renamed`),
  );
});

test("namespaces.delete", async () => {
  const id = extra.pop();
  await client.kv.namespaces.delete(id, { account_id });
  await assert.rejects(client.kv.namespaces.get(id, { account_id }), Cloudflare.NotFoundError);
  await eventually("reader sees the delete", () => assert.rejects(reader.kv.namespaces.get(id, { account_id }), Cloudflare.NotFoundError));
});

test("values.update (multipart) / values.get / metadata.get", async () => {
  const now = Math.floor(Date.now() / 1000);
  await client.kv.namespaces.values.update("user:42", {
    account_id,
    namespace_id: ns,
    value: '{"name":"Ada"}',
    metadata: JSON.stringify({ plan: "pro" }),
    expiration_ttl: 3600,
  });
  let exp;
  for (const [who, c] of [["writer", client], ["reader", reader]]) {
    const check = async () => {
      const res = await c.kv.namespaces.values.get("user:42", { account_id, namespace_id: ns });
      assert.equal(await res.text(), '{"name":"Ada"}');
      const e = Number(res.headers.get("expiration"));
      assert.ok(Math.abs(e - (now + 3600)) <= 10, `expiration header ${e}`);
      if (exp !== undefined) assert.equal(e, exp, "both edges answer the same expiration");
      exp = e;
      const meta = await c.kv.namespaces.metadata.get("user:42", { account_id, namespace_id: ns });
      assert.deepEqual(meta, { plan: "pro" });
    };
    if (c === client) await check(); // read-your-writes: no waiting
    else await eventually(`${who} values.get`, check);
  }
});

test("values.update of a binary file and with an absolute expiration", async () => {
  const bin = new Uint8Array(100000).map((_, i) => (i * 31 + 7) & 0xff);
  const expiration = Math.floor(Date.now() / 1000) + 7200;
  await client.kv.namespaces.values.update("blob", {
    account_id,
    namespace_id: ns,
    value: await toFile(bin, "blob.bin"),
    expiration,
  });
  const check = (c) => async () => {
    const res = await c.kv.namespaces.values.get("blob", { account_id, namespace_id: ns });
    assert.deepEqual(new Uint8Array(await res.arrayBuffer()), bin);
    assert.equal(Number(res.headers.get("expiration")), expiration);
  };
  await check(client)();
  await eventually("reader values.get blob", check(reader));
});

test("values.update with an object as metadata loses it, as on Cloudflare", async () => {
  // The SDK sends metadata[plan]=pro form fields; Cloudflare ignores them.
  await client.kv.namespaces.values.update("objmeta", { account_id, namespace_id: ns, value: "v", metadata: { plan: "pro" } });
  const meta = await client.kv.namespaces.metadata.get("objmeta", { account_id, namespace_id: ns });
  assert.equal(meta, null);
  const res = await client.kv.namespaces.values.get("objmeta", { account_id, namespace_id: ns });
  assert.equal(await res.text(), "v");
});

test("values.delete, then get is a NotFoundError with code 10009", async () => {
  await eventually("reader sees objmeta before the delete", () =>
    reader.kv.namespaces.values.get("objmeta", { account_id, namespace_id: ns }),
  );
  await client.kv.namespaces.values.delete("objmeta", { account_id, namespace_id: ns });
  const check = (c) => async () => {
    await assert.rejects(c.kv.namespaces.values.get("objmeta", { account_id, namespace_id: ns }), (e) => {
      assert.ok(e instanceof Cloudflare.NotFoundError, `${e?.constructor?.name}: ${e}`);
      assert.equal(e.status, 404);
      assert.deepEqual(e.errors, [{ code: 10009, message: "get: 'key not found'" }]);
      return true;
    });
    await assert.rejects(c.kv.namespaces.metadata.get("objmeta", { account_id, namespace_id: ns }), Cloudflare.NotFoundError);
  };
  await check(client)();
  await eventually("reader sees the delete", check(reader));
});

const N = 1234;
const key = (i) => `k/${String(i).padStart(4, "0")}`;

test("bulkUpdate of more than 1000 items, one request of 1234", async () => {
  const body = Array.from({ length: N }, (_, i) => ({ key: key(i), value: `v${i}`, ...(i % 10 === 0 ? { metadata: { i } } : {}) }));
  body[1] = { key: key(1), value: Buffer.from("hi\n").toString("base64"), base64: true };
  const r = await client.kv.namespaces.bulkUpdate(ns, { account_id, body });
  assert.deepEqual(r, { successful_key_count: N, unsuccessful_keys: [] });
});

const checkKeys = (c) => async () => {
  const names = [];
  for await (const k of c.kv.namespaces.keys.list(ns, { account_id, prefix: "k/", limit: 100 })) names.push(k.name);
  assert.deepEqual(names, Array.from({ length: N }, (_, i) => key(i)));

  let page = await c.kv.namespaces.keys.list(ns, { account_id, prefix: "k/", limit: 500 });
  const sizes = [page.result.length];
  while (page.hasNextPage()) {
    page = await page.getNextPage();
    sizes.push(page.result.length);
  }
  assert.deepEqual(sizes, [500, 500, 234]);
  assert.equal(page.result_info.cursor, "");
  const first = await c.kv.namespaces.keys.list(ns, { account_id, prefix: "k/0010", limit: 10 });
  assert.deepEqual(first.result, [{ name: key(10), metadata: { i: 10 } }]);
};

test("keys.list cursor paging to the end (auto-pagination and by hand; writer, then reader)", async () => {
  await checkKeys(client)();
  await eventually("reader keys.list", checkKeys(reader));
});

test("bulkGet (text, with metadata, json; writer, then reader)", async () => {
  await client.kv.namespaces.bulkUpdate(ns, { account_id, body: [{ key: "j", value: '{"x":[1,2]}' }] });
  const check = (c) => async () => {
    const r = await c.kv.namespaces.bulkGet(ns, { account_id, keys: [key(0), key(1), key(2), "missing"] });
    assert.deepEqual(r, { values: { [key(0)]: "v0", [key(1)]: "hi\n", [key(2)]: "v2", missing: null } });
    const m = await c.kv.namespaces.bulkGet(ns, { account_id, keys: [key(10), key(11)], withMetadata: true });
    assert.deepEqual(m, { values: { [key(10)]: { value: "v10", metadata: { i: 10 } }, [key(11)]: { value: "v11", metadata: null } } });
    const j = await c.kv.namespaces.bulkGet(ns, { account_id, keys: ["j"], type: "json" });
    assert.deepEqual(j, { values: { j: { x: [1, 2] } } });
  };
  await check(client)();
  await eventually("reader bulkGet", check(reader));
});

test("bulkDelete (POST bulk/delete) of more than 1000 keys (writer, then reader)", async () => {
  const r = await client.kv.namespaces.bulkDelete(ns, { account_id, body: Array.from({ length: N }, (_, i) => key(i)) });
  assert.deepEqual(r, { successful_key_count: N, unsuccessful_keys: [] });
  const check = (c) => async () => {
    const left = [];
    for await (const k of c.kv.namespaces.keys.list(ns, { account_id, prefix: "k/" })) left.push(k.name);
    assert.deepEqual(left, []);
    const b = await c.kv.namespaces.bulkGet(ns, { account_id, keys: [key(0), key(N - 1)] });
    assert.deepEqual(b, { values: { [key(0)]: null, [key(N - 1)]: null } });
  };
  await check(client)();
  await eventually("reader sees the bulk delete", check(reader));
});

test("a write through the reader's edge is read there at once and by the writer's edge", async () => {
  await reader.kv.namespaces.values.update("back", { account_id, namespace_id: ns, value: "from edge2", metadata: '{"via":2}' });
  const check = (c) => async () => {
    assert.equal(await (await c.kv.namespaces.values.get("back", { account_id, namespace_id: ns })).text(), "from edge2");
    assert.deepEqual(await c.kv.namespaces.metadata.get("back", { account_id, namespace_id: ns }), { via: 2 });
  };
  await check(reader)();
  await eventually("writer sees the reader's write", check(client));
  // and a later write at the first edge wins at both.
  await client.kv.namespaces.values.update("back", { account_id, namespace_id: ns, value: "from edge1" });
  const last = (c) => async () =>
    assert.equal(await (await c.kv.namespaces.values.get("back", { account_id, namespace_id: ns })).text(), "from edge1");
  await last(client)();
  await eventually("reader sees the overwrite", last(reader));
});

const both = [
  ["writer", client],
  ["reader", reader],
];

for (const [who, c] of both)
  test(`typed errors: 400 BadRequestError (${who})`, async () => {
    await assert.rejects(
      c.kv.namespaces.values.update("k", { account_id, namespace_id: ns, value: "v", expiration_ttl: 30 }),
      (e) => {
        assert.ok(e instanceof Cloudflare.BadRequestError, `${e?.constructor?.name}: ${e}`);
        assert.deepEqual(e.errors, [{ code: 10033, message: "put: 'Invalid expiration_ttl of 30. Expiration TTL must be at least 60.'" }]);
        return true;
      },
    );
    await assert.rejects(
      c.kv.namespaces.bulkUpdate(ns, { account_id, body: [{ key: "b", value: "!!!not base64", base64: true }] }),
      Cloudflare.BadRequestError,
    );
    await assert.rejects(c.kv.namespaces.create({ account_id, title: `${prefix}-main` }), (e) => {
      assert.ok(e instanceof Cloudflare.BadRequestError);
      assert.equal(e.errors[0].code, 10014);
      return true;
    });
  });

for (const [who, base] of [["writer", API], ["reader", READ_API]])
  test(`typed errors: 401 AuthenticationError (${who})`, async () => {
    const bad = new Cloudflare({ baseURL: base, apiToken: "not-the-token", maxRetries: 0 });
    await assert.rejects(bad.kv.namespaces.get(ns, { account_id }), (e) => {
      assert.ok(e instanceof Cloudflare.AuthenticationError, `${e?.constructor?.name}: ${e}`);
      assert.equal(e.status, 401);
      assert.deepEqual(e.errors, [{ code: 10000, message: "Authentication error" }]);
      return true;
    });
  });

for (const [who, c] of both)
  test(`typed errors: 404 NotFoundError for an unknown namespace (${who})`, async () => {
    await assert.rejects(c.kv.namespaces.keys.list("0".repeat(32), { account_id }), (e) => {
      assert.ok(e instanceof Cloudflare.NotFoundError, `${e?.constructor?.name}: ${e}`);
      assert.deepEqual(e.errors, [{ code: 10013, message: "list keys: 'namespace not found'" }]);
      return true;
    });
    // and a write into it is refused the same way
    await assert.rejects(c.kv.namespaces.values.update("k", { account_id, namespace_id: "0".repeat(32), value: "v" }), (e) => {
      assert.ok(e instanceof Cloudflare.NotFoundError, `${e?.constructor?.name}: ${e}`);
      assert.equal(e.errors[0].code, 10013);
      return true;
    });
  });

test("CLOUDFLARE_BASE_URL redirects a client built from the environment", async () => {
  const saved = { ...process.env };
  Object.assign(process.env, { CLOUDFLARE_BASE_URL: API, CLOUDFLARE_API_TOKEN: TOKEN });
  try {
    const c = new Cloudflare({ maxRetries: 0 });
    assert.equal((await c.kv.namespaces.get(ns, { account_id })).id, ns);
  } finally {
    process.env = saved;
  }
});
