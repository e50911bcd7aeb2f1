// harness.mjs - shared set-up for the Node.js compatibility tests.
//
// When TALLY_URI is set (tests/compat/run.sh sets it) the tests use that
// server. Otherwise startServer() launches $TALLYD (default bin/tallyd) on an
// ephemeral 127.0.0.1 port with a temporary dbpath, waits for the
// "Waiting for connections" log line, and stops it (SIGTERM) at the end. On a
// failed start the server log is printed.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

export async function startServer() {
  if (process.env.TALLY_URI) {
    return { uri: process.env.TALLY_URI, stop: async () => {}, log: () => '' };
  }
  const bin = path.resolve(ROOT, process.env.TALLYD || 'bin/tallyd');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'tally-compat-'));
  const dbpath = path.join(dir, 'db');
  fs.mkdirSync(dbpath);
  const logpath = path.join(dir, 'tallyd.log');
  const port = await freePort();
  const child = spawn(bin, ['--dbpath', dbpath, '--port', String(port), '--bind_ip', '127.0.0.1',
    '--logpath', logpath], { stdio: ['ignore', 'inherit', 'inherit'] });
  const log = () => (fs.existsSync(logpath) ? fs.readFileSync(logpath, 'utf8') : '(no log)');
  const deadline = Date.now() + 20000;
  while (!log().includes('Waiting for connections')) {
    if (child.exitCode !== null) throw new Error(`tallyd exited ${child.exitCode}\n${log()}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`tallyd not ready\n${log()}`);
    }
    await new Promise((r) => setTimeout(r, 25));
  }
  const stop = async () => {
    if (child.exitCode !== null) return;
    const done = new Promise((r) => child.once('exit', r));
    child.kill('SIGTERM');
    await done;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  return { uri: `mongodb://127.0.0.1:${port}/`, stop, log };
}

// A database name unique to this test file and test.
let counter = 0;
export function dbName(prefix) {
  counter += 1;
  return `${prefix}_${process.pid}_${counter}`;
}
