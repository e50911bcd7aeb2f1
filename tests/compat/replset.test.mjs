// replset.test.mjs - mongosh 2.x and the Node.js driver against a 3-member
// tallyd replica set this file starts itself: three members with --replSet
// rs0 on ephemeral 127.0.0.1 ports, initiated with fast timers (heartbeats
// 200 ms, election timeout 1000 ms). Checks that the rs.* helpers and
// db.hello() print without errors, and that the driver follows a failover
// (kill -9 of the primary during an insert loop) without losing an
// acknowledged w:"majority" insert. Ignores TALLY_URI (it needs its own set).
// On a failed test every member's log tail is added to the error.
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
  m.logpath = logpath;
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

function kill9(m) {
  if (m.child && m.child.exitCode === null) m.child.kill('SIGKILL');
}

function logs() {
  return members.map((m) => {
    const parts = fs.readdirSync(m.dbpath).filter((f) => f.endsWith('.log')).sort();
    const text = parts.map((f) => fs.readFileSync(path.join(m.dbpath, f), 'utf8')).join('');
    return `----- ${m.host} -----\n${text.slice(-15000)}`;
  }).join('\n');
}

// A test whose failure carries every member's log.
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

async function direct(m, fn) {
  const c = new MongoClient(`mongodb://${m.host}/?directConnection=true`,
    { serverSelectionTimeoutMS: 2000, connectTimeoutMS: 2000 });
  try {
    await c.connect();
    return await fn(c);
  } finally {
    await c.close();
  }
}

async function helloOf(m) {
  if (m.child.exitCode !== null || m.child.signalCode !== null) return null;
  try {
    return await direct(m, (c) => c.db('admin').command({ hello: 1 }));
  } catch {
    return null;
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

async function waitSecondaries(timeoutMs) {
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

before(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-compat-rs-'));
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
    const r = await direct(members[0], (c) => c.db('admin').command({ replSetInitiate: config }));
    assert.equal(r.ok, 1);
    await waitPrimary(20000);
    await waitSecondaries(20000);
  } catch (e) {
    e.message += `\n${logs()}`;
    throw e;
  }
});

after(async () => {
  for (const m of members) {
    if (m.child && m.child.exitCode === null && m.child.signalCode === null) {
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

function mongosh(uri, script) {
  return new Promise((resolve) => {
    execFile(MONGOSH, [uri, '--quiet', '--eval', script], {
      timeout: 60000,
      env: { ...process.env, HOME: home, DO_NOT_TRACK: '1', MONGOSH_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr }));
  });
}

async function shOk(uri, script) {
  const r = await mongosh(uri, script);
  assert.equal(r.code, 0, `mongosh failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.stderr.trim(), '', `mongosh wrote to stderr:\n${r.stderr}`);
  assert.doesNotMatch(r.stdout, /MongoServerError|MongoshInternalError|TypeError/, r.stdout);
  return r.stdout;
}

rsTest('mongosh rs.status() prints the set with one PRIMARY and two SECONDARY members', async () => {
  const out = await shOk(setUri(), 'const s = rs.status(); printjson(s); '
    + 'print("RESULT " + JSON.stringify(s.members.map((m) => m.stateStr).sort()))');
  assert.match(out, /set: 'rs0'/);
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  assert.deepEqual(JSON.parse(line.slice(7)), ['PRIMARY', 'SECONDARY', 'SECONDARY']);
});

rsTest('mongosh rs.conf() prints the config with its three members', async () => {
  const out = await shOk(setUri(), 'const c = rs.conf(); printjson(c); '
    + 'print("RESULT " + JSON.stringify({id: c._id, hosts: c.members.map((m) => m.host), '
    + 'hb: c.settings.heartbeatIntervalMillis}))');
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  assert.deepEqual(JSON.parse(line.slice(7)), { id: 'rs0', hosts: members.map((m) => m.host), hb: 200 });
});

rsTest('mongosh rs.printReplicationInfo() prints the oplog window', async () => {
  await shOk(setUri(), 'db.getSiblingDB("t_sh").c.insertOne({a: 1})');
  const out = await shOk(setUri(), 'rs.printReplicationInfo()');
  assert.match(out, /configured oplog size/);
  assert.match(out, /log length start to end/);
  assert.match(out, /oplog first event time/);
  assert.match(out, /oplog last event time/);
});

rsTest('mongosh rs.printSecondaryReplicationInfo() prints both secondaries and their lag', async () => {
  const out = await shOk(setUri(), 'rs.printSecondaryReplicationInfo()');
  const sources = out.split('\n').filter((l) => /^source: 127\.0\.0\.1:\d+/.test(l.trim()));
  assert.equal(sources.length, 2, out);
  assert.equal((out.match(/behind the primary/g) || []).length, 2, out);
  assert.match(out, /syncedTo:/);
});

rsTest('mongosh db.hello() and rs.hello() on the set show a writable primary of rs0', async () => {
  const out = await shOk(setUri(), 'const h = db.hello(); const r = rs.hello(); '
    + 'print("RESULT " + JSON.stringify({w: h.isWritablePrimary, set: h.setName, n: h.hosts.length, '
    + 'rw: r.isWritablePrimary}))');
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  assert.deepEqual(JSON.parse(line.slice(7)), { w: true, set: 'rs0', n: 3, rw: true });
});

rsTest('mongosh on a direct connection to a secondary prints status and replication info', async () => {
  const primary = await waitPrimary(10000);
  const sec = members.find((m) => m !== primary);
  const out = await shOk(`mongodb://${sec.host}/?directConnection=true`,
    'printjson(rs.status().myState); rs.printSecondaryReplicationInfo(); '
    + 'print("RESULT " + JSON.stringify(db.hello().secondary))');
  const line = out.split('\n').find((l) => l.startsWith('RESULT '));
  assert.equal(JSON.parse(line.slice(7)), true);
});

rsTest('the Node driver follows a kill -9 failover and loses no acknowledged majority insert', async () => {
  const client = new MongoClient(setUri(), {
    serverSelectionTimeoutMS: 15000, heartbeatFrequencyMS: 500, retryWrites: false,
    writeConcern: { w: 'majority', wtimeout: 5000 },
  });
  await client.connect();
  try {
    const coll = client.db('t_node_failover').collection('docs');
    const acked = [];
    const ackTimes = [];
    let next = 0;
    let running = true;
    const loop = (async () => {
      while (running) {
        const id = next++;
        try {
          await coll.insertOne({ _id: id });
          acked.push(id);
          ackTimes.push(Date.now());
        } catch {
          await sleep(50);
        }
      }
    })();
    const waitAcks = async (n, ms) => {
      const deadline = Date.now() + ms;
      while (acked.length < n && Date.now() < deadline) await sleep(20);
      assert.ok(acked.length >= n, `only ${acked.length} inserts acknowledged`);
    };
    try {
      await waitAcks(20, 10000);
      const old = await waitPrimary(5000);
      const killedAt = Date.now();
      kill9(old);
      const fresh = await waitPrimary(10000, [old]);
      assert.notEqual(fresh, old);
      const before = acked.length;
      await waitAcks(before + 20, 15000);
      assert.ok(ackTimes[ackTimes.length - 1] > killedAt);
    } finally {
      running = false;
      await loop;
    }
    const ids = new Set((await coll.find({}, { projection: { _id: 1 } }).toArray()).map((d) => d._id));
    const lost = acked.filter((id) => !ids.has(id));
    assert.deepEqual(lost, [], `acknowledged inserts lost: ${lost.slice(0, 20)}`);
  } finally {
    await client.close();
  }
});
