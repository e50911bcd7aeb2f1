// mongosh.test.mjs - mongosh 2.x against tallyd. Each test runs
// node_modules/.bin/mongosh "<uri>" --quiet --eval '<script>' with an isolated
// HOME, and checks what it prints (scripts print one "RESULT <json>" line). The start-up
// test requires a clean start: no warnings, no errors, nothing on stderr
// (mongosh's start-up calls buildInfo, getParameter, getLog, hello ...).
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { ROOT, dbName, startServer } from './harness.mjs';

const MONGOSH = path.join(ROOT, 'node_modules', '.bin', 'mongosh');
let server;
let home;

before(async () => {
  server = await startServer();
  home = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-mongosh-home-'));
});

after(async () => {
  await server?.stop();
  if (home) fs.rmSync(home, { recursive: true, force: true });
});

function mongosh(db, script, extraArgs = []) {
  const uri = server.uri.replace(/\/$/, '') + '/' + db;
  return new Promise((resolve) => {
    execFile(MONGOSH, [uri, '--quiet', ...extraArgs, '--eval', script], {
      timeout: 60000,
      env: { ...process.env, HOME: home, DO_NOT_TRACK: '1', MONGOSH_NO_UPDATE_CHECK: '1', NO_COLOR: '1' },
    }, (err, stdout, stderr) => {
      resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr });
    });
  });
}

// Runs script, requires exit 0 and an empty stderr, and parses the line the
// script printed as "RESULT <json>" (mongosh also prints the value of the
// script's last expression).
async function evalJson(db, script) {
  const r = await mongosh(db, script);
  assert.equal(r.code, 0, `mongosh failed (${r.code}):\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.stderr.trim(), '', `mongosh wrote to stderr:\n${r.stderr}`);
  const line = r.stdout.split('\n').find((l) => l.startsWith('RESULT '));
  assert.ok(line, `no RESULT line in mongosh output:\n${r.stdout}`);
  return JSON.parse(line.slice('RESULT '.length));
}

test('mongosh connects and starts without warnings or errors', async () => {
  const r = await mongosh('test', 'print("ready")');
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'ready', `unexpected start-up output:\n${r.stdout}`);
  assert.equal(r.stderr.trim(), '');
});

test('mongosh interactive start-up paths (buildInfo, getParameter, getLog) succeed', async () => {
  const out = await evalJson('admin', `
    const b = db.runCommand({buildInfo: 1});
    const p = db.adminCommand({getParameter: 1, featureCompatibilityVersion: 1});
    const l = db.adminCommand({getLog: 'startupWarnings'});
    const h = db.hello();
    print('RESULT ' + JSON.stringify({v: b.version, fcv: p.featureCompatibilityVersion.version,
      logOk: l.ok, logIsArray: Array.isArray(l.log), writable: h.isWritablePrimary}));`);
  assert.match(out.v, /^6\.0/);
  assert.equal(out.fcv, '6.0');
  assert.equal(out.logOk, 1);
  assert.equal(out.logIsArray, true);
  assert.equal(out.writable, true);
});

test('mongosh db.version() and db.serverStatus() work', async () => {
  const out = await evalJson('admin', `
    const s = db.serverStatus();
    print('RESULT ' + JSON.stringify({v: db.version(), conns: s.connections.current > 0, ok: s.ok}));`);
  assert.match(out.v, /^6\.0/);
  assert.equal(out.conns, true);
  assert.equal(out.ok, 1);
});

test('mongosh insert, find, update, delete', async () => {
  const db = dbName('sh');
  const out = await evalJson(db, `
    const ins = db.c.insertMany([{_id: 1, a: 1}, {_id: 2, a: 2}, {_id: 3, a: 3}]);
    const upd = db.c.updateOne({_id: 2}, {$set: {a: 20}});
    const del = db.c.deleteOne({_id: 3});
    const docs = db.c.find({}, {_id: 1, a: 1}).sort({_id: 1}).toArray();
    const one = db.c.findOne({a: 20});
    print('RESULT ' + JSON.stringify({n: Object.keys(ins.insertedIds).length, m: upd.modifiedCount,
      d: del.deletedCount, docs, one, count: db.c.countDocuments()}));
    db.dropDatabase();`);
  assert.deepEqual(out, {
    n: 3, m: 1, d: 1, docs: [{ _id: 1, a: 1 }, { _id: 2, a: 20 }], one: { _id: 2, a: 20 }, count: 2,
  });
});

test('mongosh aggregate', async () => {
  const db = dbName('sh');
  const out = await evalJson(db, `
    db.s.insertMany([{k: 'x', v: 1}, {k: 'y', v: 5}, {k: 'x', v: 2}]);
    const r = db.s.aggregate([{$group: {_id: '$k', t: {$sum: '$v'}}}, {$sort: {_id: 1}}]).toArray();
    print('RESULT ' + JSON.stringify(r));
    db.dropDatabase();`);
  assert.deepEqual(out, [{ _id: 'x', t: 3 }, { _id: 'y', t: 5 }]);
});

test('mongosh show dbs, show collections and getIndexes', async () => {
  const db = dbName('sh');
  const out = await evalJson(db, `
    db.a.insertOne({x: 1});
    db.a.createIndex({x: 1});
    const cols = db.getCollectionNames();
    const idx = db.a.getIndexes().map(i => i.name).sort();
    const dbs = db.adminCommand({listDatabases: 1}).databases.map(d => d.name);
    print('RESULT ' + JSON.stringify({cols, idx, hasDb: dbs.includes(db.getName())}));
    db.dropDatabase();`);
  assert.deepEqual(out, { cols: ['a'], idx: ['_id_', 'x_1'], hasDb: true });
});

test('mongosh shows a server error with its code name', async () => {
  const r = await mongosh('test', 'db.runCommand({noSuchCmdAbc: 1})');
  const text = r.stdout + r.stderr;
  assert.match(text, /CommandNotFound|no such command/i);
});

test('mongosh findOneAndUpdate and cursor iteration with batchSize', async () => {
  const db = dbName('sh');
  const out = await evalJson(db, `
    for (let i = 0; i < 250; i++) db.c.insertOne({_id: i});
    let n = 0; db.c.find().batchSize(17).forEach(() => n++);
    const f = db.c.findOneAndUpdate({_id: 5}, {$set: {z: 1}}, {returnNewDocument: true});
    print('RESULT ' + JSON.stringify({n, f}));
    db.dropDatabase();`);
  assert.deepEqual(out, { n: 250, f: { _id: 5, z: 1 } });
});
