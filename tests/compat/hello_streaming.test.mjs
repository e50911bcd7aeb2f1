// hello_streaming.test.mjs - the Node.js driver's streaming monitor and
// mongosh against a 3-member tallyd replica set this file starts itself
// (fast timers: heartbeats 200 ms, election timeout 1000 ms). tallyd's hello
// carries topologyVersion, so the driver monitors with awaitable hellos over
// exhaust (moreToCome); these tests check that it does, that it rediscovers
// a new primary quickly with a 60 s heartbeat after a stepdown and a kill -9,
// that no server is marked Unknown besides the one killed (no "Server ended
// moreToCome unexpectedly"), and that mongosh prints topologyVersion.
// Ignores TALLY_URI. On a failed test every member's log tail is added.
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { MongoClient } from 'mongodb';
import { ROOT, freePort } from './harness.mjs';

const MONGOSH = path.join(ROOT, 'node_modules', '.bin', 'mongosh');
const BIN = path.resolve(ROOT, process.env.TALLYD || 'bin/tallyd');
const SETTINGS = { heartbeatIntervalMillis: 200, electionTimeoutMillis: 1000 };

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
let dir;
let home;
const members = [];

async function startMember(m) {
  m.runs = (m.runs || 0) + 1;
  const logpath = path.join(m.dbpath, `tallyd.${m.runs}.log`);
  m.child = spawn(BIN, ['--replSet', 'rs0', '--dbpath', m.dbpath, '--port', String(m.port),
    '--bind_ip', '127.0.0.1', '--logpath', logpath], { stdio: 'ignore' });
  const deadline = Date.now() + 20000;
  for (;;) {
    const text = fs.existsSync(logpath) ? fs.readFileSync(logpath, 'utf8') : '';
    if (text.includes('Waiting for connections')) return;
    if (m.child.exitCode !== null) throw new Error(`member ${m.host} exited ${m.child.exitCode}\n${text}`);
    if (Date.now() > deadline) throw new Error(`member ${m.host} not ready\n${text}`);
    await sleep(25);
  }
}

function isAlive(m) {
  return m.child && m.child.exitCode === null && m.child.signalCode === null;
}

function kill9(m) {
  if (isAlive(m)) m.child.kill('SIGKILL');
}

function logs() {
  return members.map((m) => {
    const parts = fs.readdirSync(m.dbpath).filter((f) => f.endsWith('.log')).sort();
    const text = parts.map((f) => fs.readFileSync(path.join(m.dbpath, f), 'utf8')).join('');
    return `----- ${m.host} -----\n${text.slice(-15000)}`;
  }).join('\n');
}

function rsTest(name, fn) {
  test(name, async () => {
    try {
      await fn();
    } catch (e) {
      e.message += `\n${logs()}`;
      throw e;
    }
  });
}

async function helloOf(m) {
  if (!isAlive(m)) return null;
  const c = new MongoClient(`mongodb://${m.host}/?directConnection=true`,
    { serverSelectionTimeoutMS: 2000, connectTimeoutMS: 2000 });
  try {
    await c.connect();
    return await c.db('admin').command({ hello: 1 });
  } catch {
    return null;
  } finally {
    await c.close();
  }
}

async function waitPrimary(timeoutMs, exclude = []) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = [];
    for (const m of members) {
      if (exclude.includes(m)) continue;
      const h = await helloOf(m);
      if (h && h.isWritablePrimary) found.push(m);
    }
    if (found.length === 1) return found[0];
    if (Date.now() > deadline) throw new Error(`no single primary within ${timeoutMs} ms`);
    await sleep(100);
  }
}

async function waitHealthy(timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const hs = await Promise.all(members.map(helloOf));
    if (hs.every((h) => h && (h.isWritablePrimary || h.secondary))) return;
    if (Date.now() > deadline) throw new Error('members did not all become primary or secondary');
    await sleep(100);
  }
}

function setUri() {
  return `mongodb://${members.map((m) => m.host).join(',')}/?replicaSet=rs0`;
}

// A client that records what its monitors saw.
function watchedClient(options) {
  const client = new MongoClient(setUri(), options);
  const seen = { awaited: new Set(), failures: [], unknown: [] };
  client.on('serverHeartbeatSucceeded', (ev) => {
    if (ev.awaited) seen.awaited.add(ev.connectionId);
  });
  client.on('serverHeartbeatFailed', (ev) => {
    seen.failures.push({ host: ev.connectionId, msg: String(ev.failure && ev.failure.message) });
  });
  client.on('serverDescriptionChanged', (ev) => {
    if (ev.newDescription.type === 'Unknown' && ev.previousDescription.type !== 'Unknown') {
      seen.unknown.push({ host: ev.address, error: String(ev.newDescription.error) });
    }
  });
  return { client, seen };
}

async function waitFor(what, pred, timeoutMs) {
  const deadline = Date.now() + timeoutMs;
  while (!pred()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-compat-hs-'));
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-mongosh-home-'));
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dbpath = path.join(dir, `m${i}`);
    fs.mkdirSync(dbpath);
    members.push({ port, host: `127.0.0.1:${port}`, dbpath });
  }
  try {
    for (const m of members) await startMember(m);
    const config = {
      _id: 'rs0', version: 1, settings: SETTINGS,
      members: members.map((m, i) => ({ _id: i, host: m.host })),
    };
    const c = new MongoClient(`mongodb://${members[0].host}/?directConnection=true`);
    try {
      await c.connect();
      const r = await c.db('admin').command({ replSetInitiate: config });
      assert.equal(r.ok, 1);
    } finally {
      await c.close();
    }
    await waitPrimary(20000);
    await waitHealthy(20000);
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  }
});

after(async () => {
  for (const m of members) {
    if (isAlive(m)) {
      const done = new Promise((r) => m.child.once('exit', r));
      m.child.kill('SIGTERM');
      const t = setTimeout(() => kill9(m), 20000);
      await done;
      clearTimeout(t);
    }
  }
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

rsTest('every hello carries topologyVersion {processId: ObjectId, counter: Long}', async () => {
  for (const m of members) {
    const c = new MongoClient(`mongodb://${m.host}/?directConnection=true`);
    try {
      await c.connect();
      const h = await c.db('admin').command({ hello: 1 }, { promoteLongs: false });
      assert.equal(h.topologyVersion.processId._bsontype, 'ObjectId');
      assert.equal(h.topologyVersion.counter._bsontype, 'Long');
    } finally {
      await c.close();
    }
  }
});

rsTest('the driver monitors every member with awaited (streaming) heartbeats', async () => {
  const { client, seen } = watchedClient({ heartbeatFrequencyMS: 500, serverSelectionTimeoutMS: 15000 });
  try {
    await client.connect();
    await client.db('admin').command({ ping: 1 });
    await waitFor('awaited heartbeats from all three members', () => seen.awaited.size === 3, 15000);
    // A quiet set: several streamed rounds go by without a failure or an Unknown server.
    await sleep(2000);
    assert.deepEqual(seen.failures, []);
    assert.deepEqual(seen.unknown, []);
  } finally {
    await client.close();
  }
});

rsTest('with a 60 s heartbeat the driver finds the new primary quickly after a stepdown', async () => {
  const { client, seen } = watchedClient({ heartbeatFrequencyMS: 60000, serverSelectionTimeoutMS: 5000,
    retryWrites: true });
  try {
    await client.connect();
    const coll = client.db('t_hs_stepdown').collection('c');
    await coll.insertOne({ a: 1 });
    await waitFor('awaited heartbeats', () => seen.awaited.size === 3, 15000);
    const old = await waitPrimary(5000);
    const admin = new MongoClient(`mongodb://${old.host}/?directConnection=true`);
    try {
      await admin.connect();
      await admin.db('admin').command({ replSetStepDown: 30, force: true });
    } finally {
      await admin.close();
    }
    const t0 = Date.now();
    await coll.insertOne({ a: 2 });
    const took = Date.now() - t0;
    assert.ok(took < 5000, `the insert after the stepdown took ${took} ms`);
    const fresh = await waitPrimary(10000);
    assert.notEqual(fresh, old);
    assert.deepEqual(seen.failures.filter((f) => /moreToCome/.test(f.msg)), []);
  } finally {
    await client.close();
  }
});

rsTest('retryable writes survive a kill -9 of the primary with no error and no spurious Unknown', async () => {
  await waitHealthy(20000);
  const { client, seen } = watchedClient({ serverSelectionTimeoutMS: 30000, retryWrites: true,
    writeConcern: { w: 'majority', wtimeout: 10000 } });
  const errors = [];
  try {
    await client.connect();
    const coll = client.db('t_hs_kill').collection('c');
    await coll.insertOne({ _id: -1 });
    await waitFor('awaited heartbeats', () => seen.awaited.size === 3, 15000);
    let next = 0;
    let running = true;
    const acked = [];
    const loop = (async () => {
      while (running) {
        const id = next++;
        try {
          await coll.insertOne({ _id: id });
          acked.push(id);
        } catch (e) {
          errors.push(String(e && e.message));
        }
      }
    })();
    let old;
    try {
      await waitFor('writes before the kill', () => acked.length >= 20, 10000);
      old = await waitPrimary(5000);
      kill9(old);
      const fresh = await waitPrimary(15000, [old]);
      assert.notEqual(fresh, old);
      const before = acked.length;
      await waitFor('writes after the kill', () => acked.length >= before + 20, 20000);
    } finally {
      running = false;
      await loop;
    }
    assert.deepEqual(errors, []);
    const spurious = seen.unknown.filter((u) => u.host !== old.host);
    assert.deepEqual(spurious, [], JSON.stringify(spurious));
    assert.deepEqual(seen.failures.filter((f) => /moreToCome/.test(f.msg)), []);
  } finally {
    await client.close();
  }
});

function mongosh(uri, script) {
  return new Promise((resolve) => {
    execFile(MONGOSH, [uri, '--quiet', '--eval', script], {
      timeout: 60000,
      env: { ...process.env, HOME: home, DO_NOT_TRACK: '1', MONGOSH_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

rsTest('mongosh connects to the set and db.hello() prints topologyVersion', async () => {
  const live = members.filter(isAlive).map((m) => m.host).join(',');
  const r = await mongosh(`mongodb://${live}/?replicaSet=rs0`, 'printjson(db.hello().topologyVersion)');
  assert.equal(r.code, 0, `mongosh failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.stderr.trim(), '', r.stderr);
  assert.match(r.stdout, /processId: ObjectId\('[0-9a-f]{24}'\)/);
  assert.match(r.stdout, /counter: Long\('\d+'\)/);
});
